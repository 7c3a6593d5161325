using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

/// <summary>
/// The input arrangements kernels ask for, done once per call: small transposes of float rows. These run on every call,
/// so on small layers they are part of the fixed cost that <c>MatMulFixedCostBenchmarks</c> measures.
/// </summary>
internal static unsafe class InputArrangement
{
    /// <summary>
    /// Splits a row into <paramref name="per"/> de-interleaved streams: <c>destination[k * streamLength + j] = source[j * per + k]</c>
    /// (field k of packed byte j meets element k of stream position j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Deinterleave(float* source, float* destination, int streamLength, int per)
    {
        for (int j = 0; j < streamLength; j++)
        {
            for (int k = 0; k < per; k++) destination[(nint)k * streamLength + j] = source[(nint)j * per + k];
        }
    }

    /// <summary>
    /// Transposes <paramref name="rows"/> input rows of <paramref name="columns"/> floats (stride <paramref name="columns"/>)
    /// into <c>destination[c * rows + r]</c>: a panel kernel's input tile, read with one base pointer and constant offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* source, float* destination, int rows, int columns)
    {
        int r = 0;
        if (Avx.IsSupported)
        {
            // Blocks of 8 rows x 8 columns in registers; the rest element by element.
            float* ones = stackalloc float[8] { 1, 1, 1, 1, 1, 1, 1, 1 };
            for (; r + 8 <= rows; r += 8)
            {
                int c = 0;
                for (; c + 8 <= columns; c += 8) Transpose8x8(source + (nint)r * columns + c, columns, destination + (nint)c * rows + r, rows, ones);
                for (; c < columns; c++)
                {
                    for (int k = 0; k < 8; k++) destination[(nint)c * rows + r + k] = source[(nint)(r + k) * columns + c];
                }
            }
        }

        for (; r < rows; r++)
        {
            float* row = source + (nint)r * columns;
            for (int c = 0; c < columns; c++) destination[(nint)c * rows + r] = row[c];
        }
    }

    /// <summary>
    /// <c>destination[c * destinationStride + r] = source[r * sourceStride + c] * factors[c]</c> for an 8 x 8 block: the
    /// classic AVX transpose (unpack, shuffle, lane permute: 24 shuffles for 64 floats), with each output row scaled.
    /// Returns the unscaled sum of each source row (element r: <c>sum_c source[r * sourceStride + c]</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Transpose8x8(float* source, nint sourceStride, float* destination, nint destinationStride, float* factors)
    {
        Vector256<float> r0 = Vector256.Load(source), r1 = Vector256.Load(source + sourceStride);
        Vector256<float> r2 = Vector256.Load(source + 2 * sourceStride), r3 = Vector256.Load(source + 3 * sourceStride);
        Vector256<float> r4 = Vector256.Load(source + 4 * sourceStride), r5 = Vector256.Load(source + 5 * sourceStride);
        Vector256<float> r6 = Vector256.Load(source + 6 * sourceStride), r7 = Vector256.Load(source + 7 * sourceStride);
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3,
                                                                                                                                          0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7,
                                                                                                                                          0xEE);
        Vector256<float> c0 = Avx.Permute2x128(u0, u4, 0x20), c1 = Avx.Permute2x128(u1, u5, 0x20);
        Vector256<float> c2 = Avx.Permute2x128(u2, u6, 0x20), c3 = Avx.Permute2x128(u3, u7, 0x20);
        Vector256<float> c4 = Avx.Permute2x128(u0, u4, 0x31), c5 = Avx.Permute2x128(u1, u5, 0x31);
        Vector256<float> c6 = Avx.Permute2x128(u2, u6, 0x31), c7 = Avx.Permute2x128(u3, u7, 0x31);
        (c0 * Vector256.Create(factors[0])).Store(destination);
        (c1 * Vector256.Create(factors[1])).Store(destination + destinationStride);
        (c2 * Vector256.Create(factors[2])).Store(destination + 2 * destinationStride);
        (c3 * Vector256.Create(factors[3])).Store(destination + 3 * destinationStride);
        (c4 * Vector256.Create(factors[4])).Store(destination + 4 * destinationStride);
        (c5 * Vector256.Create(factors[5])).Store(destination + 5 * destinationStride);
        (c6 * Vector256.Create(factors[6])).Store(destination + 6 * destinationStride);
        (c7 * Vector256.Create(factors[7])).Store(destination + 7 * destinationStride);
        return ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));
    }

    /// <summary><c>sums[g] = scale * sum_(i in group g) x[i]</c>; the group size is a multiple of 8 (the quantizers' rule).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void GroupSums(float* x, int count, int groupSize, float* sums, float scale)
    {
        for (int g = 0, start = 0; start < count; g++, start += groupSize)
        {
            float* group = x + start;
            Vector256<float> a0 = default, a1 = default;
            int i = 0;
            for (; i + 16 <= groupSize; i += 16)
            {
                a0 += Vector256.Load(group + i);
                a1 += Vector256.Load(group + i + 8);
            }

            if (i < groupSize) a0 += Vector256.Load(group + i);
            sums[g] = Vector256.Sum(a0 + a1) * scale;
        }
    }
}
