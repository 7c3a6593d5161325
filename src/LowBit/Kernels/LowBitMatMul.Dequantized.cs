using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace LowBit.Kernels;

// Batched low-bit path: from BlockedMinBatch input rows on (16: measured crossover), unpacking every field once per input row
// costs more than the FMAs, so each chunk of rows is dequantized once into a small float block
// (about 128 KiB, stays in L2) and register tiles of 4 weight rows x 4 (or 2) input rows run over it.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>From this many input rows on, dequantizing a block once beats unpacking in registers per row.</summary>
    internal const int BlockedMinBatch = 16;

    private readonly struct TwoRows : IRows
    {
        public static int Count => 2;
    }

    private static int BlockRows(int inFeatures) => Math.Clamp((128 * 1024 / (inFeatures * sizeof(float))) & ~3, 4, 256);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkDequantized<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int n = args.InFeatures, start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        int rows = end - start, paddedRows = (rows + 3) & ~3, groups = n / args.GroupSize, rowBytes = n * args.Bits / 8;
        float[] blockArray = ArrayPool<float>.Shared.Rent(paddedRows * n);
        byte[] codes = ArrayPool<byte>.Shared.Rent(n);
        try
        {
            // Dequantize: w[r, i] = (q - z) * s, group by group; padded rows are zero.
            for (int r = 0; r < paddedRows; r++)
            {
                Span<float> w = blockArray.AsSpan(r * n, n);
                if (r >= rows)
                {
                    w.Clear();
                    continue;
                }

                int o = start + r;
                BitPacking.UnpackUnchecked(new ReadOnlySpan<byte>(args.Packed + (nint)o * rowBytes, rowBytes), args.Bits, codes.AsSpan(0, n));
                TensorPrimitives.ConvertChecked<byte, float>(codes.AsSpan(0, n), w);
                for (int g = 0; g < groups; g++)
                {
                    Span<float> group = w.Slice(g * args.GroupSize, args.GroupSize);
                    // (q - z) * s, exact for the codes, then one rounding: the value the layer's Dequantize gives in float.
                    TensorPrimitives.Subtract(group, (float)args.ZeroPoints[(nint)o * groups + g], group);
                    TensorPrimitives.Multiply(group, args.Scales[(nint)o * groups + g], group);
                }
            }

            float* sums = stackalloc float[16];
            fixed (float* block = blockArray)
            {
                int step = TLanes.Count >= 16 ? 4 : 2;
                for (int b = 0; b < args.Batch; b += step)
                {
                    int valid = Math.Min(step, args.Batch - b);
                    float* x0 = args.Plain + (nint)b * n;
                    float* x1 = valid > 1 ? x0 + n : x0;
                    float* x2 = valid > 2 ? x1 + n : x0;
                    float* x3 = valid > 3 ? x2 + n : x0;
                    for (int r = 0; r < rows; r += 4)
                    {
                        float* w = block + (nint)r * n;
                        if (step == 4) FloatTile<TLanes, TVec, FourRows>(x0, x1, x2, x3, n, w, sums);
                        else FloatTile<TLanes, TVec, TwoRows>(x0, x1, x2, x3, n, w, sums);
                        for (int k = 0; k < valid; k++)
                        {
                            float* y = args.Output + (nint)(b + k) * args.OutFeatures + start + r;
                            for (int c = 0; c < Math.Min(4, rows - r); c++)
                            {
                                y[c] = args.Bias is null ? sums[k * 4 + c] : sums[k * 4 + c] + args.Bias[start + r + c];
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(blockArray);
            ArrayPool<byte>.Shared.Return(codes);
        }
    }

    /// <summary>4 float weight rows (stride n) x TRows input rows; writes sums[row * 4 + column].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FloatTile<TLanes, TVec, TRows>(float* x0, float* x1, float* x2, float* x3, int n, float* w, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged where TRows : IRows
    {
        int lanes = TLanes.Count;
        float* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        TVec c30 = TLanes.Zero, c31 = TLanes.Zero, c32 = TLanes.Zero, c33 = TLanes.Zero;
        int i = 0;
        for (; i + lanes <= n; i += lanes)
        {
            TVec v0 = TLanes.Load(w0 + i), v1 = TLanes.Load(w1 + i), v2 = TLanes.Load(w2 + i), v3 = TLanes.Load(w3 + i);
            TVec a = TLanes.Load(x0 + i);
            c00 = TLanes.MultiplyAdd(v0, a, c00); c01 = TLanes.MultiplyAdd(v1, a, c01); c02 = TLanes.MultiplyAdd(v2, a, c02); c03 = TLanes.MultiplyAdd(v3, a, c03);
            a = TLanes.Load(x1 + i);
            c10 = TLanes.MultiplyAdd(v0, a, c10); c11 = TLanes.MultiplyAdd(v1, a, c11); c12 = TLanes.MultiplyAdd(v2, a, c12); c13 = TLanes.MultiplyAdd(v3, a, c13);
            if (TRows.Count > 2)
            {
                a = TLanes.Load(x2 + i);
                c20 = TLanes.MultiplyAdd(v0, a, c20); c21 = TLanes.MultiplyAdd(v1, a, c21); c22 = TLanes.MultiplyAdd(v2, a, c22); c23 = TLanes.MultiplyAdd(v3, a, c23);
                a = TLanes.Load(x3 + i);
                c30 = TLanes.MultiplyAdd(v0, a, c30); c31 = TLanes.MultiplyAdd(v1, a, c31); c32 = TLanes.MultiplyAdd(v2, a, c32); c33 = TLanes.MultiplyAdd(v3, a, c33);
            }
        }

        sums[0] = TLanes.Sum(c00); sums[1] = TLanes.Sum(c01); sums[2] = TLanes.Sum(c02); sums[3] = TLanes.Sum(c03);
        sums[4] = TLanes.Sum(c10); sums[5] = TLanes.Sum(c11); sums[6] = TLanes.Sum(c12); sums[7] = TLanes.Sum(c13);
        if (TRows.Count > 2)
        {
            sums[8] = TLanes.Sum(c20); sums[9] = TLanes.Sum(c21); sums[10] = TLanes.Sum(c22); sums[11] = TLanes.Sum(c23);
            sums[12] = TLanes.Sum(c30); sums[13] = TLanes.Sum(c31); sums[14] = TLanes.Sum(c32); sums[15] = TLanes.Sum(c33);
        }

        for (; i < n; i++)
        {
            float a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];
            for (int c = 0; c < 4; c++)
            {
                float wc = w[(nint)c * n + i];
                sums[c] += a0 * wc;
                sums[4 + c] += a1 * wc;
                if (TRows.Count > 2)
                {
                    sums[8 + c] += a2 * wc;
                    sums[12 + c] += a3 * wc;
                }
            }
        }
    }
}
