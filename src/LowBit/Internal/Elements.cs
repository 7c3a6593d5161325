using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LowBit.Internal;

/// <summary>
/// The three element types LowBit computes with (float, Half, BFloat16): checks, scalar
/// widening and narrowing, and vectorized span conversions. All arithmetic happens in float32;
/// these are the only places a <typeparamref name="T"/> becomes a float or back.
/// </summary>
internal static class Elements<T>
{
    /// <summary>True for float, Half and BFloat16; the JIT folds it per instantiation.</summary>
    public static bool IsSupported => typeof(T) == typeof(float) || typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16);

    /// <summary>Throws <see cref="NotSupportedException"/> for any other element type.</summary>
    public static void EnsureSupported()
    {
        if (!IsSupported) ThrowHelper.ThrowUnsupportedType(typeof(T));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(T value)
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<T, float>(ref value);
        if (typeof(T) == typeof(Half)) return (float)Unsafe.As<T, Half>(ref value);
        if (typeof(T) == typeof(BFloat16)) return Unsafe.As<T, BFloat16>(ref value);
        ThrowHelper.ThrowUnsupportedType(typeof(T));
        return 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T FromSingle(float value)
    {
        if (typeof(T) == typeof(float)) return Unsafe.As<float, T>(ref value);
        if (typeof(T) == typeof(Half))
        {
            Half h = (Half)value;
            return Unsafe.As<Half, T>(ref h);
        }

        if (typeof(T) == typeof(BFloat16))
        {
            BFloat16 b = (BFloat16)value;
            return Unsafe.As<BFloat16, T>(ref b);
        }

        ThrowHelper.ThrowUnsupportedType(typeof(T));
        return default!;
    }

    /// <summary>Widens a span to float32 (exact for every supported type).</summary>
    public static void ToSingle(ReadOnlySpan<T> source, Span<float> destination)
    {
        if (typeof(T) == typeof(float))
        {
            SpanCast.As<T, float>(source).CopyTo(destination);
        }
        else if (typeof(T) == typeof(Half))
        {
            TensorPrimitives.ConvertToSingle(SpanCast.As<T, Half>(source), destination);
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            BFloat16.ConvertToSingle(SpanCast.As<T, BFloat16>(source), destination);
        }
        else
        {
            ThrowHelper.ThrowUnsupportedType(typeof(T));
        }
    }

    /// <summary>Rounds a float32 span to <typeparamref name="T"/> (round to nearest, ties to even).</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<T> destination)
    {
        if (typeof(T) == typeof(float))
        {
            source.CopyTo(SpanCast.As<T, float>(destination));
        }
        else if (typeof(T) == typeof(Half))
        {
            TensorPrimitives.ConvertToHalf(source, SpanCast.As<T, Half>(destination));
        }
        else if (typeof(T) == typeof(BFloat16))
        {
            BFloat16.ConvertToBFloat16(source, SpanCast.As<T, BFloat16>(destination));
        }
        else
        {
            ThrowHelper.ThrowUnsupportedType(typeof(T));
        }
    }
}
