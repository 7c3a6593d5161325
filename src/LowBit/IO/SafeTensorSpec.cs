using System.Runtime.InteropServices;

namespace LowBit.IO;

/// <summary>A tensor to be written: name, element type and shape (its data comes separately).</summary>
/// <param name="Name">The tensor's name; unique in a file, not empty, not <c>__metadata__</c>.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">Non-negative dimensions, outermost first.</param>
public sealed record SafeTensorSpec(string Name, SafeTensorDType DType, IReadOnlyList<long> Shape)
{
    /// <summary>Bytes of data the tensor needs.</summary>
    /// <exception cref="OverflowException">The shape's byte count does not fit in a long.</exception>
    public long ByteLength => TryGetByteLength(out long bytes) ? bytes
        : throw new OverflowException($"Tensor '{Name}': shape [{string.Join(", ", Shape)}] is too large.");

    /// <summary>The byte count, or false when a dimension is negative or the product overflows.</summary>
    internal bool TryGetByteLength(out long bytes)
    {
        bytes = DType.SizeOf();
        foreach (long dimension in Shape)
        {
            if (dimension < 0 || (dimension != 0 && bytes > long.MaxValue / dimension)) return false;
            bytes *= dimension;
        }

        return true;
    }
}

/// <summary>A tensor with its data in memory, for <see cref="SafeTensorsWriter.WriteAll"/>.</summary>
/// <param name="Spec">Name, dtype and shape.</param>
/// <param name="Data">Exactly <see cref="SafeTensorSpec.ByteLength"/> little-endian bytes.</param>
public sealed record SafeTensorData(SafeTensorSpec Spec, ReadOnlyMemory<byte> Data)
{
    /// <summary>Wraps an array of <typeparamref name="T"/> with the dtype that stores it.</summary>
    /// <example><c>SafeTensorData.Create("bias", new float[32], 32)</c></example>
    /// <exception cref="ArgumentException">The shape does not hold exactly <c>values.Length</c> elements.</exception>
    public static SafeTensorData Create<T>(string name, T[] values, params long[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(shape);
        // Checked element by element: a product that wraps (1L << 62 times 4) must not pass for an empty array.
        long elements = 1;
        bool fits = true;
        foreach (long dimension in shape)
        {
            fits &= dimension >= 0 && (dimension == 0 || elements <= long.MaxValue / dimension);
            if (!fits) break;
            elements *= dimension;
        }

        if (!fits || elements != values.Length)
        {
            throw new ArgumentException($"Shape [{string.Join(", ", shape)}] does not hold {values.Length} elements.", nameof(shape));
        }

        return new(new SafeTensorSpec(name, SafeTensorDTypes.Of<T>(), shape), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }
}
