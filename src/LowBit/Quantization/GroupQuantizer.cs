using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit;

/// <summary>
/// Asymmetric group-wise quantization to 2, 4 or 8 bits: one scale and one integer zero point per
/// group of <c>groupSize</c> consecutive weights in a row. Per group, in float32:
/// <c>lo = min(0, min w)</c>, <c>hi = max(0, max w)</c>, <c>s = (T)((hi - lo) / (2^bits - 1))</c>;
/// when <c>s == 0</c> the zero point and codes are 0, otherwise
/// <c>z = clamp(RoundToEven(-lo / s), 0, 2^bits - 1)</c> and
/// <c>q = clamp(RoundToEven(w / s) + z, 0, 2^bits - 1)</c> with IEEE division by <c>(float)s</c>.
/// The dequantized weight is <c>(q - z) * s</c>.
/// </summary>
/// <remarks>
/// Codes come out one per byte (unpacked); <see cref="BitPacking.Pack(ReadOnlySpan{byte}, int, Span{byte})"/>
/// packs them. Including 0 in [lo, hi] keeps zero exactly representable, as ggml, MLAS and torchao do.
/// <code>
/// int groups = rows * columns / 64;
/// GroupQuantizer.Quantize&lt;BFloat16&gt;(w, rows, columns, bits: 4, groupSize: 64, codes, new BFloat16[groups], new byte[groups]);
/// </code>
/// </remarks>
public static partial class GroupQuantizer
{
    /// <summary>Quantizes a row-major <paramref name="rows"/> x <paramref name="columns"/> matrix group by group.</summary>
    /// <param name="weights">rows x columns weights.</param>
    /// <param name="rows">rows of the matrix (output features).</param>
    /// <param name="columns">columns (input features); a multiple of <paramref name="groupSize"/>.</param>
    /// <param name="bits">2, 4 or 8.</param>
    /// <param name="groupSize">weights per group: a positive multiple of 8 that divides <paramref name="columns"/>.</param>
    /// <param name="codes">receives rows x columns codes in [0, 2^bits - 1], one per byte.</param>
    /// <param name="scales">receives rows x (columns / groupSize) scales.</param>
    /// <param name="zeroPoints">receives rows x (columns / groupSize) zero points.</param>
    /// <exception cref="ArgumentException">A size does not match, a destination is too short, a weight is NaN or infinite
    /// (the message names its row and column), or a group's range overflows float. Nothing is written then.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive, <paramref name="bits"/> is not 2, 4 or 8,
    /// or <paramref name="groupSize"/> is not a multiple of 8 dividing <paramref name="columns"/>.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static void Quantize<T>(ReadOnlySpan<T> weights, int rows, int columns, int bits, int groupSize,
                                   Span<byte> codes, Span<T> scales, Span<byte> zeroPoints)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(rows, nameof(rows), columns, nameof(columns));
        int groups = CheckGrouping(columns, bits, groupSize) * rows;
        ThrowHelper.CheckLength(weights.Length, count, nameof(weights));
        ThrowHelper.CheckDestination(codes.Length, count, nameof(codes));
        ThrowHelper.CheckDestination(scales.Length, groups, nameof(scales));
        ThrowHelper.CheckDestination(zeroPoints.Length, groups, nameof(zeroPoints));
        CheckFinite(weights, rows, columns, groupSize, bits);

        float qmax = (1 << bits) - 1;
        int groupsPerRow = columns / groupSize;
        float[] rowFloats = ArrayPool<float>.Shared.Rent(columns);
        float[] groupFloats = ArrayPool<float>.Shared.Rent(groupSize);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                Span<float> w = rowFloats.AsSpan(0, columns);
                Elements<T>.ToSingle(weights.Slice(r * columns, columns), w);
                for (int g = 0; g < groupsPerRow; g++)
                {
                    ReadOnlySpan<float> group = w.Slice(g * groupSize, groupSize);
                    Span<byte> groupCodes = codes.Slice(r * columns + g * groupSize, groupSize);
                    (float min, float max) = Range(group);
                    float lo = MathF.Min(0, min), hi = MathF.Max(0, max);
                    T scale = Elements<T>.FromSingle((hi - lo) / qmax);
                    float s = Elements<T>.ToSingle(scale);
                    scales[r * groupsPerRow + g] = scale;
                    if (s == 0)
                    {
                        zeroPoints[r * groupsPerRow + g] = 0;
                        groupCodes.Clear();
                        continue;
                    }

                    float z = Math.Clamp(MathF.Round(-lo / s, MidpointRounding.ToEven), 0, qmax);
                    zeroPoints[r * groupsPerRow + g] = (byte)z;
                    WriteCodes(group, s, z, qmax, groupCodes, groupFloats);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rowFloats);
            ArrayPool<float>.Shared.Return(groupFloats);
        }
    }

    /// <summary>
    /// The least and greatest weight of a group (finite: checked before), in 128-bit vectors where they are accelerated
    /// (every group is a multiple of 8 wide; x64 and Arm64 alike): two TensorPrimitives calls per group of 32 or 64 cost
    /// more in call overhead than in arithmetic.
    /// </summary>
    private static (float Min, float Max) Range(ReadOnlySpan<float> group)
    {
        if (!Vector128.IsHardwareAccelerated) return (TensorPrimitives.Min(group), TensorPrimitives.Max(group));
        ref float start = ref MemoryMarshal.GetReference(group);
        Vector128<float> min = Vector128.LoadUnsafe(ref start), max = min;
        for (int i = 4; i < group.Length; i += 4)
        {
            Vector128<float> v = Vector128.LoadUnsafe(ref start, (nuint)i);
            min = Vector128.Min(min, v);
            max = Vector128.Max(max, v);
        }

        return (MathF.Min(MathF.Min(min[0], min[1]), MathF.Min(min[2], min[3])), MathF.Max(MathF.Max(max[0], max[1]), MathF.Max(max[2], max[3])));
    }

    /// <summary>
    /// <c>codes = (byte)clamp(RoundToEven(w / s) + z, 0, qmax)</c>: IEEE division and the same operations in the same order
    /// as the scalar reference, so every code equals it. In 128-bit vectors, 8 codes written at a time as bytes (group
    /// quantization ran at 0.3-0.5 G elem/s through per-group TensorPrimitives calls and
    /// TensorPrimitives.ConvertTruncating, a scalar loop for float to byte); <paramref name="scratch"/> (a group of floats)
    /// for the portable path.
    /// </summary>
    private static void WriteCodes(ReadOnlySpan<float> group, float s, float z, float qmax, Span<byte> codes, float[] scratch)
    {
        if (!Vector128.IsHardwareAccelerated)
        {
            Span<float> q = scratch.AsSpan(0, group.Length);
            TensorPrimitives.Divide(group, s, q);
            TensorPrimitives.Round(q, q);
            TensorPrimitives.Add(q, z, q);
            TensorPrimitives.Max(q, 0f, q);
            TensorPrimitives.Min(q, qmax, q);
            TensorPrimitives.ConvertTruncating<float, byte>(q, codes);
            return;
        }

        ref float start = ref MemoryMarshal.GetReference(group);
        ref byte target = ref MemoryMarshal.GetReference(codes);
        Vector128<float> scale = Vector128.Create(s), zero = Vector128.Create(z), top = Vector128.Create(qmax);
        for (int i = 0; i < group.Length; i += 8)
        {
            Vector128<int> low = Code(Vector128.LoadUnsafe(ref start, (nuint)i), scale, zero, top);
            Vector128<int> high = Code(Vector128.LoadUnsafe(ref start, (nuint)i + 4), scale, zero, top);
            Vector128<ushort> shorts = Vector128.Narrow(low, high).AsUInt16();
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref target, i), Vector128.Narrow(shorts, shorts).AsUInt64().ToScalar());
        }
    }

    /// <summary>Four codes as integers: <c>clamp(RoundToEven(w / s) + z, 0, qmax)</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Code(Vector128<float> w, Vector128<float> scale, Vector128<float> zero, Vector128<float> top) =>
        Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(Vector128.Round(w / scale) + zero, Vector128<float>.Zero), top));

    /// <summary>Dequantizes: <c>destination[r, c] = (T)((codes[r, c] - z[r, g]) * (float)scales[r, g])</c>, g = c / groupSize.</summary>
    /// <exception cref="ArgumentException">A size does not match or <paramref name="destination"/> is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or <paramref name="groupSize"/> does not fit the
    /// columns.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static void Dequantize<T>(ReadOnlySpan<byte> codes, ReadOnlySpan<T> scales, ReadOnlySpan<byte> zeroPoints,
                                     int rows, int columns, int groupSize, Span<T> destination) =>
        Dequantize(codes, scales, zeroPoints, offsets: default, rows, columns, groupSize, destination);

    /// <summary>As the overload above, then subtracts a float offset per group (unless <paramref name="offsets"/> is empty): <c>(T)((q - z) * s -
    /// offset)</c>.</summary>
    internal static void Dequantize<T>(ReadOnlySpan<byte> codes, ReadOnlySpan<T> scales, ReadOnlySpan<byte> zeroPoints, ReadOnlySpan<T> offsets,
                                       int rows, int columns, int groupSize, Span<T> destination)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(rows, nameof(rows), columns, nameof(columns));
        int groups = CheckGrouping(columns, bits: 8, groupSize) * rows;
        ThrowHelper.CheckLength(codes.Length, count, nameof(codes));
        ThrowHelper.CheckLength(scales.Length, groups, nameof(scales));
        ThrowHelper.CheckLength(zeroPoints.Length, groups, nameof(zeroPoints));
        if (!offsets.IsEmpty) ThrowHelper.CheckLength(offsets.Length, groups, nameof(offsets));
        ThrowHelper.CheckDestination(destination.Length, count, nameof(destination));

        float[] row = ArrayPool<float>.Shared.Rent(columns);
        try
        {
            int groupsPerRow = columns / groupSize;
            for (int r = 0; r < rows; r++)
            {
                Span<float> values = row.AsSpan(0, columns);
                TensorPrimitives.ConvertChecked<byte, float>(codes.Slice(r * columns, columns), values);
                for (int g = 0; g < groupsPerRow; g++)
                {
                    Span<float> group = values.Slice(g * groupSize, groupSize);
                    TensorPrimitives.Subtract(group, (float)zeroPoints[r * groupsPerRow + g], group);
                    TensorPrimitives.Multiply(group, Elements<T>.ToSingle(scales[r * groupsPerRow + g]), group);
                    if (!offsets.IsEmpty) TensorPrimitives.Subtract(group, Elements<T>.ToSingle(offsets[r * groupsPerRow + g]), group);
                }

                Elements<T>.FromSingle(values, destination.Slice(r * columns, columns));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(row);
        }
    }

    /// <summary>Checks bits and group size; returns the groups per row.</summary>
    private static int CheckGrouping(int columns, int bits, int groupSize)
    {
        if (bits is not (2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Group quantization supports 2, 4 or 8 bits.");
        }

        if (groupSize <= 0 || groupSize % 8 != 0 || columns % groupSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize,
                $"The group size must be a positive multiple of 8 that divides the {columns} columns.");
        }

        return columns / groupSize;
    }

    /// <summary>Rejects NaN and infinite weights, and groups whose range (hi - lo) overflows float, before anything is written.</summary>
    private static void CheckFinite<T>(ReadOnlySpan<T> weights, int rows, int columns, int groupSize, int bits)
    {
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<T> row = weights.Slice(r * columns, columns);
            float absMax = Int8Quantizer.MaxAbsOrNonFinite(row);
            if (!float.IsFinite(absMax))
            {
                for (int c = 0; c < columns; c++)
                {
                    float value = Elements<T>.ToSingle(row[c]);
                    if (!float.IsFinite(value)) throw new ArgumentException($"Weight at row {r}, column {c} is {value}; weights must be finite.",
                                                                            nameof(weights));
                }
            }

            // (hi - lo) <= 2 absMax; only rows near float's limit can overflow, so check those exactly.
            if (absMax > float.MaxValue / 2)
            {
                for (int c = 0; c < columns; c += groupSize)
                {
                    float lo = 0, hi = 0;
                    for (int k = 0; k < groupSize; k++)
                    {
                        float value = Elements<T>.ToSingle(row[c + k]);
                        lo = MathF.Min(lo, value);
                        hi = MathF.Max(hi, value);
                    }

                    if (!float.IsFinite(hi - lo))
                    {
                        throw new ArgumentException($"The group at row {r}, columns {c}..{c + groupSize - 1} spans more than float's range; its " +
                            $"{bits}-bit scale would be infinite.", nameof(weights));
                    }
                }
            }
        }
    }
}
