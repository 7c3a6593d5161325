using System.Buffers;
using System.Runtime.CompilerServices;
using LowBit.Kernels;

namespace LowBit;

public static unsafe partial class W8A16
{
    /// <summary>Columns (k) per converted weight block: a 3x4 tile's operands (7 rows x 2 KiB) stay in L1.</summary>
    internal const int GemmBlockColumns = 512;

    /// <summary>
    /// Cache-blocked GEMM over output rows [rowStart, rowEnd): each block of up to 64 weight rows x 512
    /// columns is converted from int8 to float once (128 KiB, stays in L2), then every batch row reuses
    /// it through a 3 x 4 register tile (3 input rows x 4 weight rows, 12 vector accumulators, 7 loads
    /// per 12 FMAs). Partial sums over the column blocks accumulate in the output, and the
    /// scale-and-bias epilogue runs once at the end.
    /// </summary>
    private static void GemmRows<TLanes, TVec>(in MatMulArgs args, int rowStart, int rowEnd)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int n = args.InFeatures;
        int rows = rowEnd - rowStart;
        int outFeatures = args.OutFeatures;
        float[] blockArray = ArrayPool<float>.Shared.Rent(GemmRowsPerChunk * GemmBlockColumns);
        fixed (float* block = blockArray)
        {
            for (int k0 = 0; k0 < n; k0 += GemmBlockColumns)
            {
                int kc = Math.Min(GemmBlockColumns, n - k0);
                for (int j = 0; j < rows; j++)
                {
                    WidenRow<TLanes, TVec>(args.Weights + (nint)(rowStart + j) * n + k0, block + j * GemmBlockColumns, kc);
                }

                bool first = k0 == 0;
                for (int b = 0; b < args.Batch; b += 3)
                {
                    float* x0 = args.Input + (nint)b * n + k0;
                    // Missing rows of the last tile re-read a valid row; their results are not stored.
                    float* x1 = b + 1 < args.Batch ? x0 + n : x0;
                    float* x2 = b + 2 < args.Batch ? x0 + 2 * (nint)n : x0;
                    int validBatch = Math.Min(3, args.Batch - b);
                    float* y = args.Output + (nint)b * outFeatures + rowStart;
                    for (int j = 0; j < rows; j += 4)
                    {
                        float* w0 = block + j * GemmBlockColumns;
                        float* w1 = j + 1 < rows ? w0 + GemmBlockColumns : w0;
                        float* w2 = j + 2 < rows ? w0 + 2 * GemmBlockColumns : w0;
                        float* w3 = j + 3 < rows ? w0 + 3 * GemmBlockColumns : w0;
                        Tile3x4<TLanes, TVec>(x0, x1, x2, w0, w1, w2, w3, kc, y + j, outFeatures,
                                              validBatch, Math.Min(4, rows - j), first);
                    }
                }
            }
        }

        ArrayPool<float>.Shared.Return(blockArray);

        for (int b = 0; b < args.Batch; b++)
        {
            float* y = args.Output + (nint)b * outFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = args.Finish(y[o], o);
        }
    }

    /// <summary>Converts <paramref name="count"/> int8 values to float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenRow<TLanes, TVec>(sbyte* source, float* destination, int count)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int i = 0;
        for (; i + TLanes.Count <= count; i += TLanes.Count)
        {
            TLanes.Store(TLanes.LoadInt8AsSingle(source + i), destination + i);
        }

        for (; i < count; i++) destination[i] = source[i];
    }

    /// <summary>
    /// 3 x 4 dot products over <paramref name="kc"/> columns: y[r * stride + c] (+)= x_r . w_c for the
    /// first <paramref name="validRows"/> x <paramref name="validColumns"/> results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile3x4<TLanes, TVec>(float* x0, float* x1, float* x2, float* w0, float* w1, float* w2, float* w3,
                                              int kc, float* y, int stride, int validRows, int validColumns, bool first)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        int i = 0;
        for (; i + TLanes.Count <= kc; i += TLanes.Count)
        {
            TVec v0 = TLanes.Load(w0 + i), v1 = TLanes.Load(w1 + i), v2 = TLanes.Load(w2 + i), v3 = TLanes.Load(w3 + i);
            TVec a = TLanes.Load(x0 + i);
            c00 = TLanes.MultiplyAdd(a, v0, c00);
            c01 = TLanes.MultiplyAdd(a, v1, c01);
            c02 = TLanes.MultiplyAdd(a, v2, c02);
            c03 = TLanes.MultiplyAdd(a, v3, c03);
            a = TLanes.Load(x1 + i);
            c10 = TLanes.MultiplyAdd(a, v0, c10);
            c11 = TLanes.MultiplyAdd(a, v1, c11);
            c12 = TLanes.MultiplyAdd(a, v2, c12);
            c13 = TLanes.MultiplyAdd(a, v3, c13);
            a = TLanes.Load(x2 + i);
            c20 = TLanes.MultiplyAdd(a, v0, c20);
            c21 = TLanes.MultiplyAdd(a, v1, c21);
            c22 = TLanes.MultiplyAdd(a, v2, c22);
            c23 = TLanes.MultiplyAdd(a, v3, c23);
        }

        float* sums = stackalloc float[12];
        sums[0] = TLanes.Sum(c00); sums[1] = TLanes.Sum(c01); sums[2] = TLanes.Sum(c02); sums[3] = TLanes.Sum(c03);
        sums[4] = TLanes.Sum(c10); sums[5] = TLanes.Sum(c11); sums[6] = TLanes.Sum(c12); sums[7] = TLanes.Sum(c13);
        sums[8] = TLanes.Sum(c20); sums[9] = TLanes.Sum(c21); sums[10] = TLanes.Sum(c22); sums[11] = TLanes.Sum(c23);
        for (; i < kc; i++)
        {
            sums[0] += x0[i] * w0[i]; sums[1] += x0[i] * w1[i]; sums[2] += x0[i] * w2[i]; sums[3] += x0[i] * w3[i];
            sums[4] += x1[i] * w0[i]; sums[5] += x1[i] * w1[i]; sums[6] += x1[i] * w2[i]; sums[7] += x1[i] * w3[i];
            sums[8] += x2[i] * w0[i]; sums[9] += x2[i] * w1[i]; sums[10] += x2[i] * w2[i]; sums[11] += x2[i] * w3[i];
        }

        for (int r = 0; r < validRows; r++)
        {
            float* yr = y + (nint)r * stride;
            for (int c = 0; c < validColumns; c++)
            {
                yr[c] = first ? sums[r * 4 + c] : yr[c] + sums[r * 4 + c];
            }
        }
    }
}
