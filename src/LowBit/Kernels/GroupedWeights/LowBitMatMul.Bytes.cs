using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// 8-bit groups (GGUF's Q8_0, Q5_0, Q5_1, Q5_K and Q6_K load as 8-bit codes in groups of 32 or 16) at small batches:
    /// each weight vector is widened once and fed to up to four input rows; each group's products are summed in a fresh
    /// chain and scaled into one of several independent totals. The stream kernel scaled every group into one chain, a
    /// dependent FMA per group: 3.5x the W8A16 time at batch 1 (11008x4096, Zen 5).
    /// </summary>
    internal sealed class BytesKernel<TLanes, TVec>() : MatMulKernel(
        "bytes-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Grouped, $"8 bits, groups a multiple of {TLanes.Count}")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        protected override bool Fits(in LayerShape shape) => shape.Bits == 8 && shape.GroupSize % TLanes.Count == 0;

        public override bool UsesGroupSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: true);

        public override int RowsPerChunk(in LayerShape shape, int batch) => Int8WeightMatMul.Int8RowsPerChunk(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &BytesChunk<TLanes, TVec>;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BytesChunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        // 4 weight rows x R input rows: 4R accumulators, R inputs, 4 scales and a weight vector: R = 4 fits 32 registers, 2 fits 16.
        int widest = TLanes.Count >= 16 ? 4 : 2;
        for (int b = 0; b < args.Batch;)
        {
            int rows = args.Batch == 1 ? 1 : Int8WeightMatMul.TileInputRows(args.Batch - b, widest);
            float* x = args.Input + (nint)b * n;
            int o = start;
            if (rows > 1)
            {
                for (; o + 4 <= end; o += 4)
                {
                    switch (rows)
                    {
                        case 2: BytesTile<TLanes, TVec, TwoRows>(in args, o, x, b, prefetch: b == 0); break;
                        case 3: BytesTile<TLanes, TVec, ThreeRows>(in args, o, x, b, prefetch: b == 0); break;
                        default: BytesTile<TLanes, TVec, FourRows>(in args, o, x, b, prefetch: b == 0); break;
                    }
                }
            }

            for (; o < end; o++)
            {
                for (int k = 0; k < rows; k++) args.Output[(nint)(b + k) * args.OutFeatures + o] = BytesRow1<TLanes, TVec>(in args, o, x
                    + (nint)k * n);
            }

            b += rows;
        }

        for (int b = 0; b < args.Batch; b++)
        {
            float* y = args.Output + (nint)b * args.OutFeatures;
            for (int o = start; o < end; o++)
            {
                float value = y[o] - BytesZeroTerm<TLanes, TVec>(in args, o, b);
                y[o] = args.Bias is null ? value : value + args.Bias[o];
            }
        }
    }

    /// <summary>
    /// 4 weight rows x TRows input rows, as the W8A16 tiles: per step the inputs are loaded once, then each weight vector
    /// is widened, multiplied by its group's scale (the four rows' scales reloaded at each group start) and meets every
    /// input. Writes the scaled sums to <c>Output[(b + r) * OutFeatures + o + c]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BytesTile<TLanes, TVec, TRows>(in KernelArgs args, int o, float* x, int b, bool prefetch)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged where TRows : IRows
    {
        int lanes = TLanes.Count, n = args.InFeatures, size = args.GroupSize, groups = n / size;
        byte* w0 = args.Weights + (nint)o * n, w1 = w0 + n, w2 = w1 + n, w3 = w2 + n;
        float* s0 = args.Scales + (nint)o * groups, s1 = s0 + groups, s2 = s1 + groups, s3 = s2 + groups;
        float* x0 = x, x1 = x + n, x2 = x1 + n, x3 = x2 + n;
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        TVec c30 = TLanes.Zero, c31 = TLanes.Zero, c32 = TLanes.Zero, c33 = TLanes.Zero;
        for (int g = 0; g < groups; g++)
        {
            TVec q0 = TLanes.Broadcast(s0[g]), q1 = TLanes.Broadcast(s1[g]), q2 = TLanes.Broadcast(s2[g]), q3 = TLanes.Broadcast(s3[g]);
            for (int i = g * size, stop = i + size; i < stop; i += lanes)
            {
                if (prefetch && Sse.IsSupported && (i & 63) == 0)
                {
                    // Four interleaved rows defeat the hardware prefetcher: fetch the next tile's columns.
                    Sse.Prefetch0(w0 + 4 * (nint)n + i);
                    Sse.Prefetch0(w0 + 5 * (nint)n + i);
                    Sse.Prefetch0(w0 + 6 * (nint)n + i);
                    Sse.Prefetch0(w0 + 7 * (nint)n + i);
                }

                TVec a0 = TLanes.Load(x0 + i);
                TVec a1 = TRows.Count > 1 ? TLanes.Load(x1 + i) : a0;
                TVec a2 = TRows.Count > 2 ? TLanes.Load(x2 + i) : a0;
                TVec a3 = TRows.Count > 3 ? TLanes.Load(x3 + i) : a0;
                TVec v = TLanes.Multiply(Codes<TLanes, TVec>(w0 + i), q0);
                c00 = TLanes.MultiplyAdd(v, a0, c00);
                if (TRows.Count > 1) c10 = TLanes.MultiplyAdd(v, a1, c10);
                if (TRows.Count > 2) c20 = TLanes.MultiplyAdd(v, a2, c20);
                if (TRows.Count > 3) c30 = TLanes.MultiplyAdd(v, a3, c30);
                v = TLanes.Multiply(Codes<TLanes, TVec>(w1 + i), q1);
                c01 = TLanes.MultiplyAdd(v, a0, c01);
                if (TRows.Count > 1) c11 = TLanes.MultiplyAdd(v, a1, c11);
                if (TRows.Count > 2) c21 = TLanes.MultiplyAdd(v, a2, c21);
                if (TRows.Count > 3) c31 = TLanes.MultiplyAdd(v, a3, c31);
                v = TLanes.Multiply(Codes<TLanes, TVec>(w2 + i), q2);
                c02 = TLanes.MultiplyAdd(v, a0, c02);
                if (TRows.Count > 1) c12 = TLanes.MultiplyAdd(v, a1, c12);
                if (TRows.Count > 2) c22 = TLanes.MultiplyAdd(v, a2, c22);
                if (TRows.Count > 3) c32 = TLanes.MultiplyAdd(v, a3, c32);
                v = TLanes.Multiply(Codes<TLanes, TVec>(w3 + i), q3);
                c03 = TLanes.MultiplyAdd(v, a0, c03);
                if (TRows.Count > 1) c13 = TLanes.MultiplyAdd(v, a1, c13);
                if (TRows.Count > 2) c23 = TLanes.MultiplyAdd(v, a2, c23);
                if (TRows.Count > 3) c33 = TLanes.MultiplyAdd(v, a3, c33);
            }
        }

        float* y = args.Output + (nint)b * args.OutFeatures + o;
        nint stride = args.OutFeatures;
        y[0] = TLanes.Sum(c00); y[1] = TLanes.Sum(c01); y[2] = TLanes.Sum(c02); y[3] = TLanes.Sum(c03);
        if (TRows.Count > 1)
        {
            y[stride] = TLanes.Sum(c10); y[stride + 1] = TLanes.Sum(c11); y[stride + 2] = TLanes.Sum(c12); y[stride
            + 3] = TLanes.Sum(c13);
        }
        if (TRows.Count > 2)
        {
            y[2 * stride] = TLanes.Sum(c20); y[2 * stride + 1] = TLanes.Sum(c21); y[2 * stride
            + 2] = TLanes.Sum(c22); y[2 * stride + 3] = TLanes.Sum(c23);
        }
        if (TRows.Count > 3)
        {
            y[3 * stride] = TLanes.Sum(c30); y[3 * stride + 1] = TLanes.Sum(c31); y[3 * stride
            + 2] = TLanes.Sum(c32); y[3 * stride + 3] = TLanes.Sum(c33);
        }
    }

    /// <summary>
    /// One input row, four groups at a time: each group's products summed in a fresh chain, then scaled into its own
    /// total (four independent totals). Per weight vector that is a widen, a convert and an FMA, as the W8A16 GEMV, plus
    /// one FMA per group: scaling each weight vector instead cost a multiply and a broadcast per vector (1.5x W8A16).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float BytesRow1<TLanes, TVec>(in KernelArgs args, int o, float* x)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, n = args.InFeatures, size = args.GroupSize, groups = n / size;
        byte* w = args.Weights + (nint)o * n;
        float* scales = args.Scales + (nint)o * groups;
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        int g = 0;
        for (; g + 4 <= groups; g += 4)
        {
            nint at = (nint)g * size;
            byte* v = w + at;
            float* xg = x + at;
            if (Sse.IsSupported)
            {
                for (int line = 0; line < 4 * size; line += 64) Sse.Prefetch0(v + BytesPrefetch + line);
            }

            TVec p0 = TLanes.Multiply(Codes<TLanes, TVec>(v), TLanes.Load(xg));
            TVec p1 = TLanes.Multiply(Codes<TLanes, TVec>(v + size), TLanes.Load(xg + size));
            TVec p2 = TLanes.Multiply(Codes<TLanes, TVec>(v + 2 * size), TLanes.Load(xg + 2 * size));
            TVec p3 = TLanes.Multiply(Codes<TLanes, TVec>(v + 3 * size), TLanes.Load(xg + 3 * size));
            for (int k = lanes; k < size; k += lanes)
            {
                p0 = TLanes.MultiplyAdd(Codes<TLanes, TVec>(v + k), TLanes.Load(xg + k), p0);
                p1 = TLanes.MultiplyAdd(Codes<TLanes, TVec>(v + size + k), TLanes.Load(xg + size + k), p1);
                p2 = TLanes.MultiplyAdd(Codes<TLanes, TVec>(v + 2 * size + k), TLanes.Load(xg + 2 * size + k), p2);
                p3 = TLanes.MultiplyAdd(Codes<TLanes, TVec>(v + 3 * size + k), TLanes.Load(xg + 3 * size + k), p3);
            }

            t0 = TLanes.MultiplyAdd(p0, TLanes.Broadcast(scales[g]), t0);
            t1 = TLanes.MultiplyAdd(p1, TLanes.Broadcast(scales[g + 1]), t1);
            t2 = TLanes.MultiplyAdd(p2, TLanes.Broadcast(scales[g + 2]), t2);
            t3 = TLanes.MultiplyAdd(p3, TLanes.Broadcast(scales[g + 3]), t3);
        }

        for (; g < groups; g++)
        {
            nint at = (nint)g * size;
            TVec p = TLanes.Zero;
            for (int k = 0; k < size; k += lanes) p = TLanes.MultiplyAdd(Codes<TLanes, TVec>(w + at + k), TLanes.Load(x + at + k), p);
            t0 = TLanes.MultiplyAdd(p, TLanes.Broadcast(scales[g]), t0);
        }

        return TLanes.Sum(TLanes.Add(TLanes.Add(t0, t1), TLanes.Add(t2, t3)));
    }

    /// <summary>How far ahead the bytes kernel prefetches its weight stream (as the W8A16 GEMV, 16 KiB).</summary>
    private const int BytesPrefetch = 16 * 1024;

    /// <summary>A vector of unsigned 8-bit codes as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Codes<TLanes, TVec>(byte* codes) where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged =>
        TLanes.BytesToSingle(TLanes.LoadBytes(codes));

    /// <summary><c>sum_g (s z + offset)_g xsum_g</c> of row o against input row <paramref name="row"/>, at the kernel's width.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float BytesZeroTerm<TLanes, TVec>(in KernelArgs args, int o, int row) where TLanes : unmanaged, IFloatLanes<TVec>
        where TVec : unmanaged
    {
        if (TLanes.Count == 16) return ZeroPointCorrection(in args, o, row);
        if (TLanes.Count == 8) return ZeroPointCorrection256(in args, o, row);
        int groups = args.InFeatures / args.GroupSize;
        return FloatZeroTerm(args.ZeroTerms + (nint)o * groups, args.GroupSums + (nint)row * groups, groups);
    }
}
