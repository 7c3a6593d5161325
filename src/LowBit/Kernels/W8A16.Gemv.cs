using System.Runtime.CompilerServices;
using LowBit.Kernels;

namespace LowBit;

public static unsafe partial class W8A16
{
    /// <summary>
    /// The kernel over output rows [rowStart, rowEnd) of every batch row. Batch rows go in groups of 4
    /// (AVX-512) or 2 through the GEMM tiles, the rest one at a time through the GEMV tile; each tile
    /// covers four output rows, so each input load serves four rows and each widened weight vector
    /// serves every batch row of the group. The scale-and-bias epilogue runs last.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static void MultiplyRows<TLanes, TVec>(in MatMulArgs args, int rowStart, int rowEnd)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int n = args.InFeatures;
        int outFeatures = args.OutFeatures;
        sbyte* weights = args.Weights;
        int b = 0;
        // Groups of 4 (AVX-512, 32 registers) or 2 input rows go through the 4-row tiles; a short last
        // group repeats its last row (memory-bound there, so the spare FMAs cost nothing).
        int group = TLanes.Count >= 16 ? 4 : 2;
        for (; args.Batch >= 2 && b < args.Batch; b += group)
        {
            int valid = Math.Min(group, args.Batch - b);
            // Only the first pass over the chunk streams it from memory; later passes find it in L2.
            bool prefetch = b == 0;
            float* x0 = args.Input + (nint)b * n;
            float* x1 = valid > 1 ? x0 + n : x0;
            float* x2 = valid > 2 ? x1 + n : x1;
            float* x3 = valid > 3 ? x2 + n : x2;
            float* y = args.Output + (nint)b * outFeatures;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
            {
                if (group == 4) Dot4x4<TLanes, TVec>(x0, x1, x2, x3, n, weights + (nint)o * n, y + o, outFeatures, valid, prefetch);
                else Dot4x2<TLanes, TVec>(x0, x1, n, weights + (nint)o * n, y + o, outFeatures, valid, prefetch);
            }

            for (; o < rowEnd; o++)
            {
                for (int k = 0; k < valid; k++) y[k * outFeatures + o] = Dot1<TLanes, TVec>(x0 + k * n, weights + (nint)o * n, n);
            }
        }

        // Batch 1: one weight row at a time is one sequential stream, which the hardware
        // prefetcher follows at full bandwidth (four interleaved rows ran at 60% of it).
        for (; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * outFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = Dot1<TLanes, TVec>(x, weights + (nint)o * n, n);
        }

        for (b = 0; b < args.Batch; b++)
        {
            float* y = args.Output + (nint)b * outFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = args.Finish(y[o], o);
        }
    }

    /// <summary>One dot product of x with an int8 row; four accumulators, one sequential stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static float Dot1<TLanes, TVec>(float* x, sbyte* w, int n)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        // Eight accumulators: enough independent FMA chains to cover the FMA latency even at
        // 8 lanes, where the widening, not memory, would otherwise be the limit.
        int lanes = TLanes.Count;
        TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
        TVec a4 = TLanes.Zero, a5 = TLanes.Zero, a6 = TLanes.Zero, a7 = TLanes.Zero;
        int i = 0;
        for (; i + 8 * lanes <= n; i += 8 * lanes)
        {
            a0 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i), TLanes.Load(x + i), a0);
            a1 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + lanes), TLanes.Load(x + i + lanes), a1);
            a2 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 2 * lanes), TLanes.Load(x + i + 2 * lanes), a2);
            a3 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 3 * lanes), TLanes.Load(x + i + 3 * lanes), a3);
            a4 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 4 * lanes), TLanes.Load(x + i + 4 * lanes), a4);
            a5 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 5 * lanes), TLanes.Load(x + i + 5 * lanes), a5);
            a6 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 6 * lanes), TLanes.Load(x + i + 6 * lanes), a6);
            a7 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + 7 * lanes), TLanes.Load(x + i + 7 * lanes), a7);
        }

        for (; i + lanes <= n; i += lanes)
        {
            a0 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i), TLanes.Load(x + i), a0);
        }

        TVec sum = TLanes.Add(TLanes.Add(TLanes.Add(a0, a1), TLanes.Add(a2, a3)), TLanes.Add(TLanes.Add(a4, a5), TLanes.Add(a6, a7)));
        float s = TLanes.Sum(sum);
        for (; i < n; i++) s += x[i] * w[i];
        return s;
    }
}
