namespace LowBit.IO;

/// <summary>Element types of the safetensors format, named as in its JSON header.</summary>
public enum SafeTensorDType
{
    /// <summary>Boolean, one byte.</summary>
    BOOL,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>8-bit float, 5 exponent bits.</summary>
    F8_E5M2,
    /// <summary>8-bit float, 4 exponent bits.</summary>
    F8_E4M3,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>Brain float 16.</summary>
    BF16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>IEEE single precision.</summary>
    F32,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
    /// <summary>IEEE double precision.</summary>
    F64,
}

/// <summary>Sizes and name parsing for <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.BOOL or SafeTensorDType.U8 or SafeTensorDType.I8 or SafeTensorDType.F8_E5M2 or SafeTensorDType.F8_E4M3 => 1,
        SafeTensorDType.I16 or SafeTensorDType.U16 or SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.I32 or SafeTensorDType.U32 or SafeTensorDType.F32 => 4,
        SafeTensorDType.I64 or SafeTensorDType.U64 or SafeTensorDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Parses a header dtype name ("F32", "BF16", ...); false for anything else.</summary>
    public static bool TryParse(string name, out SafeTensorDType dtype) =>
        Enum.TryParse(name, ignoreCase: false, out dtype) && Enum.IsDefined(dtype) && name == dtype.ToString();

    /// <summary>The dtype that stores <typeparamref name="T"/> (float, Half, BFloat16, sbyte, byte, ...).</summary>
    /// <exception cref="NotSupportedException">No safetensors dtype stores <typeparamref name="T"/>.</exception>
    public static SafeTensorDType Of<T>() =>
        typeof(T) == typeof(float) ? SafeTensorDType.F32 :
        typeof(T) == typeof(Half) ? SafeTensorDType.F16 :
        typeof(T) == typeof(BFloat16) ? SafeTensorDType.BF16 :
        typeof(T) == typeof(sbyte) ? SafeTensorDType.I8 :
        typeof(T) == typeof(byte) ? SafeTensorDType.U8 :
        typeof(T) == typeof(short) ? SafeTensorDType.I16 :
        typeof(T) == typeof(ushort) ? SafeTensorDType.U16 :
        typeof(T) == typeof(int) ? SafeTensorDType.I32 :
        typeof(T) == typeof(uint) ? SafeTensorDType.U32 :
        typeof(T) == typeof(long) ? SafeTensorDType.I64 :
        typeof(T) == typeof(ulong) ? SafeTensorDType.U64 :
        typeof(T) == typeof(double) ? SafeTensorDType.F64 :
        typeof(T) == typeof(bool) ? SafeTensorDType.BOOL :
        throw new NotSupportedException($"No safetensors dtype stores {typeof(T)}.");
}
