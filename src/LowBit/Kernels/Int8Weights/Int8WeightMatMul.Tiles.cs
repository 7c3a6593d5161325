using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The batched tiles. A converted-weights GEMM (int8 blocks widened to float once, then a 3 x 4 dot tile)
// was measured first and ran at half the speed of these tiles: it streams 4 bytes per weight from L2
// where these stream 1 byte and widen in registers, and widening is cheaper than the extra L2 traffic.
internal static unsafe partial class Int8WeightMatMul
{
    /// <summary>
    /// Register tiles of 4 weight rows x up to 4 input rows (AVX-512, 32 registers) or 3 (16 registers), for 2 or more
    /// input rows: each widened weight vector serves every input row of the tile, each input vector four weight rows.
    /// </summary>
    internal sealed class TilesKernel<TLanes, TVec>() : MatMulKernel(
        "int8-tiles-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Int8PerChannel, "any")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        public override int RowsPerChunk(in LayerShape shape, int batch) => Int8RowsPerChunk(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &TilesChunk<TLanes, TVec>;
    }

    /// <summary>
    /// Input rows of the next tile, so that every tile is full: four (AVX-512) or three at a time, and a remainder spread
    /// over the last tiles (5 = 3 + 2, 7 = 4 + 3, 4 = 2 + 2 on AVX2). A tile with a repeated row costs as much as a full
    /// one: batch 3 cost as much as batch 4 on AVX2 when tiles were two rows wide.
    /// </summary>
    internal static int TileInputRows(int remaining, int widest) =>
        remaining <= widest ? remaining : remaining % widest == 1 && widest > 2 ? widest - 1 : widest;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TilesChunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int rowStart = chunk * args.RowsPerChunk, rowEnd = Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures);
        int n = args.InFeatures, outFeatures = args.OutFeatures;
        sbyte* weights = args.Int8Weights;
        // 4 weight rows x R input rows need 4R accumulators, R inputs and a weight vector: R = 4 fits 32 registers, 3 fits 16.
        int widest = TLanes.Count >= 16 ? 4 : 3;
        for (int b = 0; b < args.Batch;)
        {
            int rows = TileInputRows(args.Batch - b, widest);
            // Only the first pass over the chunk streams it from memory; later passes find it in L2.
            bool prefetch = b == 0;
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * outFeatures;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
            {
                sbyte* w = weights + (nint)o * n;
                switch (rows)
                {
                    case 1: DotTile<TLanes, TVec, OneRow>(x, n, w, y + o, outFeatures, prefetch); break;
                    case 2: DotTile<TLanes, TVec, TwoRows>(x, n, w, y + o, outFeatures, prefetch); break;
                    case 3: DotTile<TLanes, TVec, ThreeRows>(x, n, w, y + o, outFeatures, prefetch); break;
                    default: DotTile<TLanes, TVec, FourRows>(x, n, w, y + o, outFeatures, prefetch); break;
                }
            }

            for (; o < rowEnd; o++)
            {
                for (int k = 0; k < rows; k++) y[k * outFeatures + o] = Dot1<TLanes, TVec>(x + k * n, weights + (nint)o * n, n);
            }

            b += rows;
        }

        for (int b = 0; b < args.Batch; b++)
        {
            float* y = args.Output + (nint)b * outFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = args.Finish(y[o], o);
        }
    }

    /// <summary>
    /// Prefetches column <paramref name="i"/> of the next tile's four rows, once per cache line: four
    /// interleaved rows defeat the hardware prefetcher, so the tiles stream them in themselves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNextTile(sbyte* w0, int n, int i)
    {
        if (Sse.IsSupported && (i & 63) == 0)
        {
            Sse.Prefetch0(w0 + 4 * (nint)n + i);
            Sse.Prefetch0(w0 + 5 * (nint)n + i);
            Sse.Prefetch0(w0 + 6 * (nint)n + i);
            Sse.Prefetch0(w0 + 7 * (nint)n + i);
        }
    }

    /// <summary>
    /// 4 weight rows x TRows input rows (x, rows n apart): per step the inputs are loaded once, then each weight vector is
    /// widened and meets every input. Writes <c>y[r * stride + c]</c> for input row r and weight row c.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static void DotTile<TLanes, TVec, TRows>(float* x, int n, sbyte* w, float* y, int stride, bool prefetch)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged where TRows : IRows
    {
        int lanes = TLanes.Count;
        sbyte* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        float* x0 = x, x1 = x + n, x2 = x + 2 * (nint)n, x3 = x + 3 * (nint)n;
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        TVec c30 = TLanes.Zero, c31 = TLanes.Zero, c32 = TLanes.Zero, c33 = TLanes.Zero;
        int i = 0;
        for (; i + lanes <= n; i += lanes)
        {
            if (prefetch) PrefetchNextTile(w0, n, i);

            TVec a0 = TLanes.Load(x0 + i);
            TVec a1 = TRows.Count > 1 ? TLanes.Load(x1 + i) : a0;
            TVec a2 = TRows.Count > 2 ? TLanes.Load(x2 + i) : a0;
            TVec a3 = TRows.Count > 3 ? TLanes.Load(x3 + i) : a0;
            TVec v = TLanes.LoadInt8AsSingle(w0 + i);
            c00 = TLanes.MultiplyAdd(v, a0, c00);
            if (TRows.Count > 1) c10 = TLanes.MultiplyAdd(v, a1, c10);
            if (TRows.Count > 2) c20 = TLanes.MultiplyAdd(v, a2, c20);
            if (TRows.Count > 3) c30 = TLanes.MultiplyAdd(v, a3, c30);
            v = TLanes.LoadInt8AsSingle(w1 + i);
            c01 = TLanes.MultiplyAdd(v, a0, c01);
            if (TRows.Count > 1) c11 = TLanes.MultiplyAdd(v, a1, c11);
            if (TRows.Count > 2) c21 = TLanes.MultiplyAdd(v, a2, c21);
            if (TRows.Count > 3) c31 = TLanes.MultiplyAdd(v, a3, c31);
            v = TLanes.LoadInt8AsSingle(w2 + i);
            c02 = TLanes.MultiplyAdd(v, a0, c02);
            if (TRows.Count > 1) c12 = TLanes.MultiplyAdd(v, a1, c12);
            if (TRows.Count > 2) c22 = TLanes.MultiplyAdd(v, a2, c22);
            if (TRows.Count > 3) c32 = TLanes.MultiplyAdd(v, a3, c32);
            v = TLanes.LoadInt8AsSingle(w3 + i);
            c03 = TLanes.MultiplyAdd(v, a0, c03);
            if (TRows.Count > 1) c13 = TLanes.MultiplyAdd(v, a1, c13);
            if (TRows.Count > 2) c23 = TLanes.MultiplyAdd(v, a2, c23);
            if (TRows.Count > 3) c33 = TLanes.MultiplyAdd(v, a3, c33);
        }

        float* s = stackalloc float[16];
        s[0] = TLanes.Sum(c00); s[1] = TLanes.Sum(c01); s[2] = TLanes.Sum(c02); s[3] = TLanes.Sum(c03);
        if (TRows.Count > 1) { s[4] = TLanes.Sum(c10); s[5] = TLanes.Sum(c11); s[6] = TLanes.Sum(c12); s[7] = TLanes.Sum(c13); }
        if (TRows.Count > 2) { s[8] = TLanes.Sum(c20); s[9] = TLanes.Sum(c21); s[10] = TLanes.Sum(c22); s[11] = TLanes.Sum(c23); }
        if (TRows.Count > 3) { s[12] = TLanes.Sum(c30); s[13] = TLanes.Sum(c31); s[14] = TLanes.Sum(c32); s[15] = TLanes.Sum(c33); }
        for (; i < n; i++)
        {
            float wi0 = w0[i], wi1 = w1[i], wi2 = w2[i], wi3 = w3[i];
            for (int r = 0; r < TRows.Count; r++)
            {
                float xi = x[(nint)r * n + i];
                s[r * 4] += xi * wi0; s[r * 4 + 1] += xi * wi1; s[r * 4 + 2] += xi * wi2; s[r * 4 + 3] += xi * wi3;
            }
        }

        for (int r = 0; r < TRows.Count; r++)
        {
            for (int c = 0; c < 4; c++) y[(nint)r * stride + c] = s[r * 4 + c];
        }
    }
}
