using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The batched tiles. A converted-weights GEMM (int8 blocks widened to float once, then a 3 x 4 dot tile)
// was measured first and ran at half the speed of these tiles: it streams 4 bytes per weight from L2
// where these stream 1 byte and widen in registers, and widening is cheaper than the extra L2 traffic.
internal static unsafe partial class Int8MatMul
{
    /// <summary>
    /// Register tiles of 4 weight rows x 4 input rows (AVX-512, 32 registers) or x 2 (16 registers), for 2 or more input
    /// rows: each widened weight vector serves every input row of the tile, each input vector four weight rows.
    /// </summary>
    internal sealed class TilesKernel<TLanes, TVec>() : MatMulKernel(
        "int8-tiles-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Int8PerChannel, "any")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        public override int RowsPerChunk(in LayerShape shape, int batch) => Int8RowsPerChunk(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &TilesChunk<TLanes, TVec>;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TilesChunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int rowStart = chunk * args.RowsPerChunk, rowEnd = Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures);
        int n = args.InFeatures, outFeatures = args.OutFeatures;
        sbyte* weights = args.Int8Weights;
        // Groups of 4 (AVX-512, 32 registers) or 2 input rows go through the 4-row tiles; a short last
        // group repeats its last row (memory-bound there, so the spare FMAs cost nothing).
        int group = TLanes.Count >= 16 ? 4 : 2;
        for (int b = 0; b < args.Batch; b += group)
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
    /// 4 weight rows x 2 input rows: each int8 vector is widened once and used twice; 8 accumulators.
    /// Writes y[0..4] for input row 0 and, when <paramref name="validRows"/> is 2, y[stride..stride + 4] for row 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static void Dot4x2<TLanes, TVec>(float* x0, float* x1, int n, sbyte* w, float* y, int stride, int validRows, bool prefetch)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count;
        sbyte* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
        TVec b0 = TLanes.Zero, b1 = TLanes.Zero, b2 = TLanes.Zero, b3 = TLanes.Zero;
        int i = 0;
        for (; i + lanes <= n; i += lanes)
        {
            if (prefetch) PrefetchNextTile(w0, n, i);

            TVec xa = TLanes.Load(x0 + i), xb = TLanes.Load(x1 + i);
            TVec v = TLanes.LoadInt8AsSingle(w0 + i);
            a0 = TLanes.MultiplyAdd(v, xa, a0);
            b0 = TLanes.MultiplyAdd(v, xb, b0);
            v = TLanes.LoadInt8AsSingle(w1 + i);
            a1 = TLanes.MultiplyAdd(v, xa, a1);
            b1 = TLanes.MultiplyAdd(v, xb, b1);
            v = TLanes.LoadInt8AsSingle(w2 + i);
            a2 = TLanes.MultiplyAdd(v, xa, a2);
            b2 = TLanes.MultiplyAdd(v, xb, b2);
            v = TLanes.LoadInt8AsSingle(w3 + i);
            a3 = TLanes.MultiplyAdd(v, xa, a3);
            b3 = TLanes.MultiplyAdd(v, xb, b3);
        }

        float sa0 = TLanes.Sum(a0), sa1 = TLanes.Sum(a1), sa2 = TLanes.Sum(a2), sa3 = TLanes.Sum(a3);
        float sb0 = TLanes.Sum(b0), sb1 = TLanes.Sum(b1), sb2 = TLanes.Sum(b2), sb3 = TLanes.Sum(b3);
        for (; i < n; i++)
        {
            sa0 += x0[i] * w0[i]; sa1 += x0[i] * w1[i]; sa2 += x0[i] * w2[i]; sa3 += x0[i] * w3[i];
            sb0 += x1[i] * w0[i]; sb1 += x1[i] * w1[i]; sb2 += x1[i] * w2[i]; sb3 += x1[i] * w3[i];
        }

        y[0] = sa0; y[1] = sa1; y[2] = sa2; y[3] = sa3;
        if (validRows > 1)
        {
            y[stride] = sb0; y[stride + 1] = sb1; y[stride + 2] = sb2; y[stride + 3] = sb3;
        }
    }

    /// <summary>
    /// 4 weight rows x 4 input rows (16 accumulators, for 32-register ISAs); rows of y are
    /// <paramref name="stride"/> apart and only the first <paramref name="validRows"/> are stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static void Dot4x4<TLanes, TVec>(float* x0, float* x1, float* x2, float* x3, int n, sbyte* w, float* y, int stride, int validRows, bool prefetch)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count;
        sbyte* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        TVec c30 = TLanes.Zero, c31 = TLanes.Zero, c32 = TLanes.Zero, c33 = TLanes.Zero;
        int i = 0;
        for (; i + lanes <= n; i += lanes)
        {
            if (prefetch) PrefetchNextTile(w0, n, i);

            TVec v0 = TLanes.LoadInt8AsSingle(w0 + i), v1 = TLanes.LoadInt8AsSingle(w1 + i);
            TVec v2 = TLanes.LoadInt8AsSingle(w2 + i), v3 = TLanes.LoadInt8AsSingle(w3 + i);
            TVec a = TLanes.Load(x0 + i);
            c00 = TLanes.MultiplyAdd(v0, a, c00); c01 = TLanes.MultiplyAdd(v1, a, c01);
            c02 = TLanes.MultiplyAdd(v2, a, c02); c03 = TLanes.MultiplyAdd(v3, a, c03);
            a = TLanes.Load(x1 + i);
            c10 = TLanes.MultiplyAdd(v0, a, c10); c11 = TLanes.MultiplyAdd(v1, a, c11);
            c12 = TLanes.MultiplyAdd(v2, a, c12); c13 = TLanes.MultiplyAdd(v3, a, c13);
            a = TLanes.Load(x2 + i);
            c20 = TLanes.MultiplyAdd(v0, a, c20); c21 = TLanes.MultiplyAdd(v1, a, c21);
            c22 = TLanes.MultiplyAdd(v2, a, c22); c23 = TLanes.MultiplyAdd(v3, a, c23);
            a = TLanes.Load(x3 + i);
            c30 = TLanes.MultiplyAdd(v0, a, c30); c31 = TLanes.MultiplyAdd(v1, a, c31);
            c32 = TLanes.MultiplyAdd(v2, a, c32); c33 = TLanes.MultiplyAdd(v3, a, c33);
        }

        float* s = stackalloc float[16];
        s[0] = TLanes.Sum(c00); s[1] = TLanes.Sum(c01); s[2] = TLanes.Sum(c02); s[3] = TLanes.Sum(c03);
        s[4] = TLanes.Sum(c10); s[5] = TLanes.Sum(c11); s[6] = TLanes.Sum(c12); s[7] = TLanes.Sum(c13);
        s[8] = TLanes.Sum(c20); s[9] = TLanes.Sum(c21); s[10] = TLanes.Sum(c22); s[11] = TLanes.Sum(c23);
        s[12] = TLanes.Sum(c30); s[13] = TLanes.Sum(c31); s[14] = TLanes.Sum(c32); s[15] = TLanes.Sum(c33);
        for (; i < n; i++)
        {
            float wi0 = w0[i], wi1 = w1[i], wi2 = w2[i], wi3 = w3[i];
            s[0] += x0[i] * wi0; s[1] += x0[i] * wi1; s[2] += x0[i] * wi2; s[3] += x0[i] * wi3;
            s[4] += x1[i] * wi0; s[5] += x1[i] * wi1; s[6] += x1[i] * wi2; s[7] += x1[i] * wi3;
            s[8] += x2[i] * wi0; s[9] += x2[i] * wi1; s[10] += x2[i] * wi2; s[11] += x2[i] * wi3;
            s[12] += x3[i] * wi0; s[13] += x3[i] * wi1; s[14] += x3[i] * wi2; s[15] += x3[i] * wi3;
        }

        for (int r = 0; r < validRows; r++)
        {
            for (int c = 0; c < 4; c++) y[(nint)r * stride + c] = s[r * 4 + c];
        }
    }
}
