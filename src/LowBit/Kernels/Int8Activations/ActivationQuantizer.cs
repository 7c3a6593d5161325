using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

/// <summary>
/// Quantizes input rows to int8 per block of <see cref="BlockSize"/> features for <see cref="ActivationPrecision.Int8"/>:
/// <c>m = max|x|</c>, <c>sx = m / 127f</c>, <c>xq = clamp(RoundToEven(x / sx), -127, 127)</c>; a block of zeros gets
/// <c>sx = 0</c> and codes 0, a block holding NaN or infinity gets <c>sx = NaN</c> (so the outputs it reaches are NaN, as
/// in the float path) and codes 0. Also returns each block's code sum, which folds the zero points out.
/// </summary>
internal static unsafe class ActivationQuantizer
{
    /// <summary>Features per activation block (the last block of a row may be shorter).</summary>
    public const int BlockSize = 32;

    /// <summary>Blocks in a row of <paramref name="count"/> features.</summary>
    public static int Blocks(int count) => (count + BlockSize - 1) / BlockSize;

    /// <summary>The scalar reference: the formula, element by element. The oracle of the vectorized quantizer.</summary>
    public static void QuantizeRowScalar(ReadOnlySpan<float> x, Span<sbyte> codes, Span<float> scales, Span<int> sums)
    {
        for (int b = 0, start = 0; start < x.Length; b++, start += BlockSize)
        {
            ReadOnlySpan<float> block = x.Slice(start, Math.Min(BlockSize, x.Length - start));
            Span<sbyte> target = codes.Slice(start, block.Length);
            float m = 0;
            bool finite = true;
            foreach (float v in block)
            {
                finite &= float.IsFinite(v);
                m = MathF.Max(m, MathF.Abs(v));
            }

            float sx = finite ? m / 127f : float.NaN;
            int sum = 0;
            for (int i = 0; i < block.Length; i++)
            {
                target[i] = sx == 0 || !finite ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(block[i] / sx, MidpointRounding.ToEven), -127f, 127f);
                sum += target[i];
            }

            scales[b] = sx;
            sums[b] = sum;
        }
    }

    /// <summary>
    /// Each row of <paramref name="input"/> (rows of <paramref name="features"/>) replaced by its dequantized int8 form,
    /// <c>sx * xq</c> per block: for layouts no integer kernel takes, a float kernel on these activations computes what
    /// the int8 path defines (the integer sums are exact in float32 up to its rounding, as the contract's oracle is).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void DequantizedRows(ReadOnlySpan<float> input, Span<float> destination, int features)
    {
        int blocks = Blocks(features);
        sbyte[] codes = System.Buffers.ArrayPool<sbyte>.Shared.Rent(features);
        float[] scales = System.Buffers.ArrayPool<float>.Shared.Rent(blocks);
        int[] sums = System.Buffers.ArrayPool<int>.Shared.Rent(blocks);
        try
        {
            fixed (float* x = input, sx = scales)
            fixed (sbyte* q = codes)
            fixed (int* sum = sums)
            {
                for (int row = 0; row < input.Length; row += features)
                {
                    QuantizeRow(x + row, features, q, sx, sum);
                    Span<float> target = destination.Slice(row, features);
                    for (int i = 0; i < features; i++) target[i] = sx[i / BlockSize] * q[i];
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<sbyte>.Shared.Return(codes);
            System.Buffers.ArrayPool<float>.Shared.Return(scales);
            System.Buffers.ArrayPool<int>.Shared.Return(sums);
        }
    }

    /// <summary>
    /// As <see cref="QuantizeRowScalar"/>, 32 features per step on 256-bit vectors (128-bit where 256-bit ones do not
    /// run in hardware: Arm64, x64 without AVX2), with the same IEEE division and round-to-even, so the same codes and
    /// scales bit for bit; a short last block goes through the scalar reference.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRow(float* x, int count, sbyte* codes, float* scales, int* sums)
    {
        bool wide = Vector256.IsHardwareAccelerated;
        int full = wide || Vector128.IsHardwareAccelerated ? count / BlockSize : 0;
        for (int b = 0; b < full; b++)
        {
            scales[b] = wide ? QuantizeBlock256(x + b * BlockSize, codes + b * BlockSize, out sums[b])
                : QuantizeBlock128(x + b * BlockSize, codes + b * BlockSize, out sums[b]);
        }

        if (full * BlockSize < count)
        {
            int start = full * BlockSize;
            QuantizeRowScalar(new ReadOnlySpan<float>(x + start, count - start), new Span<sbyte>(codes + start, count - start),
                              new Span<float>(scales + full, Blocks(count) - full), new Span<int>(sums + full, Blocks(count) - full));
        }
    }

    /// <summary>One whole block at 256 bits: writes its 32 codes and code sum, returns its scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float QuantizeBlock256(float* block, sbyte* target, out int sum)
    {
        Vector256<int> exponent = Vector256.Create(0x7F800000);
        Vector256<float> v0 = Vector256.Load(block), v1 = Vector256.Load(block + 8);
        Vector256<float> v2 = Vector256.Load(block + 16), v3 = Vector256.Load(block + 24);
        // NaN and infinity have every exponent bit set.
        Vector256<int> special = Vector256.Equals(v0.AsInt32() & exponent, exponent) | Vector256.Equals(v1.AsInt32() & exponent, exponent)
                               | Vector256.Equals(v2.AsInt32() & exponent, exponent) | Vector256.Equals(v3.AsInt32() & exponent, exponent);
        Vector256<float> max = Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1));
        max = Vector256.Max(max, Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        float sx = special != Vector256<int>.Zero ? float.NaN : MaxOf(Vector128.Max(max.GetLower(), max.GetUpper())) / 127f;
        if (sx == 0 || float.IsNaN(sx))
        {
            Vector256<sbyte>.Zero.Store(target);
            sum = 0;
            return sx;
        }

        Vector256<float> divisor = Vector256.Create(sx), limit = Vector256.Create(127f);
        Vector256<int> q0 = Code(v0, divisor, limit), q1 = Code(v1, divisor, limit), q2 = Code(v2, divisor, limit), q3 = Code(v3, divisor, limit);
        // Narrow keeps element order across both halves, so the 32 codes come out in feature order.
        Vector256.Narrow(Vector256.Narrow(q0, q1), Vector256.Narrow(q2, q3)).Store(target);
        sum = Vector256.Sum((q0 + q1) + (q2 + q3));
        return sx;
    }

    /// <summary>One whole block at 128 bits, as <see cref="QuantizeBlock256"/>: eight vectors of four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float QuantizeBlock128(float* block, sbyte* target, out int sum)
    {
        Vector128<int> exponent = Vector128.Create(0x7F800000), special = Vector128<int>.Zero;
        Vector128<float> max = Vector128<float>.Zero;
        for (int i = 0; i < BlockSize; i += 4)
        {
            Vector128<float> v = Vector128.Load(block + i);
            special |= Vector128.Equals(v.AsInt32() & exponent, exponent);
            max = Vector128.Max(max, Vector128.Abs(v));
        }

        float sx = special != Vector128<int>.Zero ? float.NaN : MaxOf(max) / 127f;
        if (sx == 0 || float.IsNaN(sx))
        {
            Vector128<sbyte>.Zero.Store(target);
            Vector128<sbyte>.Zero.Store(target + 16);
            sum = 0;
            return sx;
        }

        Vector128<float> divisor = Vector128.Create(sx), limit = Vector128.Create(127f);
        Vector128<int> sums = Vector128<int>.Zero;
        for (int i = 0; i < BlockSize; i += 16)
        {
            Vector128<int> q0 = Code(Vector128.Load(block + i), divisor, limit), q1 = Code(Vector128.Load(block + i + 4), divisor, limit);
            Vector128<int> q2 = Code(Vector128.Load(block + i + 8), divisor, limit), q3 = Code(Vector128.Load(block + i + 12), divisor, limit);
            Vector128.Narrow(Vector128.Narrow(q0, q1), Vector128.Narrow(q2, q3)).Store(target + i);
            sums += (q0 + q1) + (q2 + q3);
        }

        sum = Vector128.Sum(sums);
        return sx;
    }

    /// <summary><c>clamp(RoundToEven(v / sx), -127, 127)</c> as int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Code(Vector256<float> v, Vector256<float> divisor, Vector256<float> limit) =>
        Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(v / divisor), -limit), limit));

    /// <summary>As <see cref="Code(Vector256{float}, Vector256{float}, Vector256{float})"/> at 128 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Code(Vector128<float> v, Vector128<float> divisor, Vector128<float> limit) =>
        Vector128.ConvertToInt32(Vector128.Min(Vector128.Max(Vector128.Round(v / divisor), -limit), limit));

    /// <summary>The largest of four lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxOf(Vector128<float> m)
    {
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>
    /// The dequantized code sums of each weight group, <c>sum_(blocks b in g) sx_b * sum(xq_b)</c>: what a group's zero term
    /// multiplies. <paramref name="groupSize"/> is a multiple of the block size; the last group may hold fewer blocks.
    /// </summary>
    public static void GroupSums(float* scales, int* sums, int blocks, int groupSize, int groups, float* destination)
    {
        int blocksPerGroup = groupSize / BlockSize;
        for (int g = 0; g < groups; g++)
        {
            float sum = 0;
            for (int k = g * blocksPerGroup; k < Math.Min((g + 1) * blocksPerGroup, blocks); k++) sum += scales[k] * sums[k];
            destination[g] = sum;
        }
    }

    /// <summary>
    /// Lays a row of codes out for unpacked 4-bit (<paramref name="perByte"/> 2) or 2-bit (4) weight fields, step by step:
    /// within each step of <paramref name="step"/> codes, stream k holds the codes <c>j * perByte + k</c>, so field k of packed
    /// byte j meets its code at the same byte position. 8 x 32-byte shuffles on AVX2, element by element elsewhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Arrange(sbyte* codes, sbyte* target, int count, int step, int perByte)
    {
        int streamLength = step / perByte;
        if (Avx2.IsSupported && streamLength == 4 && count % 32 == 0)
        {
            // Units of one dword per field (the row-interleaved kernels): one in-lane byte shuffle per 32 codes.
            Vector256<sbyte> order = perByte == 2
                ? Vector256.Create((sbyte)0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15, 0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15)
                : Vector256.Create((sbyte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            for (int i = 0; i < count; i += 32) Avx2.Shuffle(Vector256.Load(codes + i), order).Store(target + i);
            return;
        }

        if (Avx2.IsSupported && perByte == 2 && streamLength % 32 == 0)
        {
            for (int start = 0; start < count; start += step)
            {
                for (int j = 0; j < streamLength; j += 32) SplitPairs(codes + start + 2 * j, target + start + j, target + start + streamLength + j);
            }

            return;
        }

        if (Avx2.IsSupported && perByte == 4 && streamLength % 32 == 0)
        {
            for (int start = 0; start < count; start += step)
            {
                for (int j = 0; j < streamLength; j += 32)
                {
                    sbyte* t = target + start + j;
                    SplitQuads(codes + start + 4 * j, t, t + streamLength, t + 2 * streamLength, t + 3 * streamLength);
                }
            }

            return;
        }

        for (int start = 0; start < count; start += step)
        {
            for (int j = 0; j < streamLength; j++)
            {
                for (int k = 0; k < perByte; k++) target[start + k * streamLength + j] = codes[start + j * perByte + k];
            }
        }
    }

    /// <summary>64 codes: the 32 even ones to <paramref name="even"/>, the 32 odd ones to <paramref name="odd"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SplitPairs(sbyte* codes, sbyte* even, sbyte* odd)
    {
        // Per 128-bit lane: the 8 even bytes, then the 8 odd ones; then the 64-bit pieces in order (even0 even1 odd0 odd1).
        Vector256<sbyte> pattern = Vector256.Create((sbyte)0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5,
                                                    7, 9, 11, 13, 15);
        Vector256<long> a = Avx2.Permute4x64(Avx2.Shuffle(Vector256.Load(codes), pattern).AsInt64(), 0b11_01_10_00);
        Vector256<long> b = Avx2.Permute4x64(Avx2.Shuffle(Vector256.Load(codes + 32), pattern).AsInt64(), 0b11_01_10_00);
        Avx2.Permute2x128(a, b, 0x20).AsSByte().Store(even);
        Avx2.Permute2x128(a, b, 0x31).AsSByte().Store(odd);
    }

    /// <summary>128 codes: stream k (codes 4j + k, 32 of them) to <paramref name="s0"/> .. <paramref name="s3"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SplitQuads(sbyte* codes, sbyte* s0, sbyte* s1, sbyte* s2, sbyte* s3)
    {
        // Per 128-bit lane: 4 bytes of each stream; vpermd then gives the 8 bytes of stream k as 64-bit piece k. A 4 x 4
        // transpose of those pieces across the four vectors puts each stream's 32 bytes together, in order.
        Vector256<sbyte> pattern = Vector256.Create((sbyte)0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10,
                                                    14, 3, 7, 11, 15);
        Vector256<int> order = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
        Vector256<long> y0 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.Load(codes), pattern).AsInt32(), order).AsInt64();
        Vector256<long> y1 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.Load(codes + 32), pattern).AsInt32(), order).AsInt64();
        Vector256<long> y2 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.Load(codes + 64), pattern).AsInt32(), order).AsInt64();
        Vector256<long> y3 = Avx2.PermuteVar8x32(Avx2.Shuffle(Vector256.Load(codes + 96), pattern).AsInt32(), order).AsInt64();
        Vector256<long> t0 = Avx2.UnpackLow(y0, y1), t1 = Avx2.UnpackHigh(y0, y1), t2 = Avx2.UnpackLow(y2, y3), t3 = Avx2.UnpackHigh(y2, y3);
        Avx2.Permute2x128(t0, t2, 0x20).AsSByte().Store(s0);
        Avx2.Permute2x128(t1, t3, 0x20).AsSByte().Store(s1);
        Avx2.Permute2x128(t0, t2, 0x31).AsSByte().Store(s2);
        Avx2.Permute2x128(t1, t3, 0x31).AsSByte().Store(s3);
    }
}
