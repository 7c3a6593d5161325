using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LowBit.Kernels;

/// <summary>
/// The fused group-wise kernels behind <see cref="LowBitLinear{T}"/>:
/// <c>out[b,o] = sum_i in[b,i] * (q[o,i] - z[o,g(i)]) * s[o,g(i)] + bias[o]</c>, in float32, rounded to T once.
/// The packed weights are never expanded to a matrix in memory: fields are unpacked in registers and meet an input
/// arranged once per call to match (de-interleaved streams, the field kernel's lane blocks, or panel tiles), and zero
/// points are folded out: <c>sum_g s_g * sum_i x_i q_i - sum_g (s_g z_g) * sum_{i in g} x_i</c>, with the group sums of
/// the input computed once per call. The families: the field kernel (LowBitMatMul.Fields*.cs), the panel kernel
/// (LowBitMatMul.Panel*.cs, an L1-sized dequantized panel), table lookups (LowBitMatMul.Lookup.cs), the dequantized
/// block (LowBitMatMul.Dequantized.cs) and the stream kernels below; <see cref="KernelRegistry"/> says which runs when.
/// </summary>
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// The stream kernel at one vector width: the input de-interleaved into 8 / bits streams, so the fields of a packed
    /// vector meet contiguous inputs; up to four input rows share each unpacked vector. Any layout whose group bytes are a
    /// multiple of the vector's byte count (16, 8 or 4 bytes of packed codes per vector).
    /// </summary>
    internal sealed class StreamKernel<TLanes, TVec>() : MatMulKernel(
        "streams-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Grouped, $"group bytes a multiple of {TLanes.Count}")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        protected override bool Fits(in LayerShape shape) => shape.GroupBytes % TLanes.Count == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override bool UsesGroupSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: true);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PackedRowsPerChunk(shape, 4096);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &Chunk<TLanes, TVec>;
    }

    /// <summary>No SIMD: the stream kernel's arithmetic in plain loops, one input row at a time. Also the benchmark baseline.</summary>
    internal sealed class ScalarKernel() : MatMulKernel("scalar", KernelIsa.Scalar, WeightFormats.Grouped, "any")
    {
        public override bool IsSupported => true;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override bool UsesGroupSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: true);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PackedRowsPerChunk(shape, 4096);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkScalar;
    }

    /// <summary>Rows per work item: about 256 KiB of packed weights (which stay in L2 while every input row passes), at least 4, at most
    /// <paramref name="max"/>.</summary>
    internal static int PackedRowsPerChunk(in LayerShape shape, int max) => Math.Clamp((256 * 1024 / Math.Max(1, shape.RowBytes)) & ~3, 4, max);

    /// <summary>
    /// Arranges each input row into 8 / bits de-interleaved streams (field k of packed byte j meets
    /// <c>x[k * streamLength + j]</c>) and, when <paramref name="groupSums"/>, sums the input over each group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PrepareStreams(float* input, ref KernelArgs args, bool groupSums)
    {
        int n = args.InFeatures, per = 8 / args.Bits, streamLength = n / per, groups = n / args.GroupSize;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = input + (nint)b * n, destination = args.Input + (nint)b * n;
            if (per == 1) new ReadOnlySpan<float>(x, n).CopyTo(new Span<float>(destination, n));
            else InputArrangement.Deinterleave(x, destination, streamLength, per);
            if (!groupSums) continue;
            float* sums = args.GroupSums + (nint)b * groups;
            for (int g = 0; g < groups; g++) sums[g] = System.Numerics.Tensors.TensorPrimitives.Sum(new ReadOnlySpan<float>(x
                + (nint)g * args.GroupSize, args.GroupSize));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        float* sums = stackalloc float[4];
        for (int b = 0; b < args.Batch; b += 4)
        {
            int valid = Math.Min(4, args.Batch - b);
            for (int o = start; o < end; o++)
            {
                switch (args.Bits)
                {
                    case 4: Row4<TLanes, TVec>(in args, o, b, valid, sums); break;
                    case 2: Row2<TLanes, TVec>(in args, o, b, valid, sums); break;
                    default: Row8<TLanes, TVec>(in args, o, b, valid, sums); break;
                }

                for (int k = 0; k < valid; k++) args.Output[(nint)(b + k) * args.OutFeatures + o] = Finish(in args, sums[k], o, b + k);
            }
        }
    }

    /// <summary>Subtracts the zero-point term and adds the bias: <c>acc - sum_g (s z)_g * xsum_g + bias</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(in KernelArgs args, float acc, int o, int b)
    {
        int groups = args.InFeatures / args.GroupSize;
        float* sz = args.ZeroTerms + (nint)o * groups;
        float* xs = args.GroupSums + (nint)b * groups;
        float correction = 0;
        for (int g = 0; g < groups; g++) correction += sz[g] * xs[g];
        float y = acc - correction;
        return args.Bias is null ? y : y + args.Bias[o];
    }

    /// <summary>The stream pointers of up to four batch rows; missing rows repeat the first (their results are not stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BatchRows(in KernelArgs args, int b, int valid, out float* x0, out float* x1, out float* x2, out float* x3) =>
        BatchRows(in args, b, valid, 0, out x0, out x1, out x2, out x3);

    /// <summary>As <see cref="BatchRows(in KernelArgs, int, int, out float*, out float*, out float*, out float*)"/>, from column
    /// <paramref name="column"/> of each row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BatchRows(in KernelArgs args, int b, int valid, nint column, out float* x0, out float* x1, out float* x2, out float* x3)
    {
        x0 = args.Input + (nint)b * args.InFeatures + column;
        x1 = valid > 1 ? x0 + args.InFeatures : x0;
        x2 = valid > 2 ? x1 + args.InFeatures : x0;
        x3 = valid > 3 ? x2 + args.InFeatures : x0;
    }

    /// <summary>
    /// 4-bit row o against up to four input rows: per vector of packed bytes, the low and high nibbles are
    /// widened once and feed every input row; per group, the partial dot is scaled into the total.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row4<TLanes, TVec>(in KernelArgs args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, streamLength = args.InFeatures / 2, groupBytes = args.GroupSize / 2, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * streamLength;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + groupBytes; j < end; j += lanes)
            {
                Vector128<byte> packed = TLanes.LoadBytes(w + j);
                TVec lo = TLanes.BytesToSingle(packed & mask);
                TVec hi = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 4));
                int e = j, od = streamLength + j;
                a0 = TLanes.MultiplyAdd(hi, TLanes.Load(x0 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x0 + e), a0));
                a1 = TLanes.MultiplyAdd(hi, TLanes.Load(x1 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x1 + e), a1));
                a2 = TLanes.MultiplyAdd(hi, TLanes.Load(x2 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x2 + e), a2));
                a3 = TLanes.MultiplyAdd(hi, TLanes.Load(x3 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x3 + e), a3));
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);
    }

    /// <summary>2-bit row o against up to four input rows: four 2-bit fields per packed byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row2<TLanes, TVec>(in KernelArgs args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, streamLength = args.InFeatures / 4, groupBytes = args.GroupSize / 4, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * streamLength;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        Vector128<byte> mask = Vector128.Create((byte)0x03);
        nint s1 = streamLength, s2 = 2 * (nint)streamLength, s3 = 3 * (nint)streamLength;
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + groupBytes; j < end; j += lanes)
            {
                Vector128<byte> packed = TLanes.LoadBytes(w + j);
                TVec f0 = TLanes.BytesToSingle(packed & mask);
                TVec f1 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 2) & mask);
                TVec f2 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 4) & mask);
                TVec f3 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 6));
                a0 = Fields(f0, f1, f2, f3, x0 + j, s1, s2, s3, a0);
                a1 = Fields(f0, f1, f2, f3, x1 + j, s1, s2, s3, a1);
                a2 = Fields(f0, f1, f2, f3, x2 + j, s1, s2, s3, a2);
                a3 = Fields(f0, f1, f2, f3, x3 + j, s1, s2, s3, a3);
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static TVec Fields(TVec f0, TVec f1, TVec f2, TVec f3, float* x, nint s1, nint s2, nint s3, TVec acc) =>
            TLanes.MultiplyAdd(f3, TLanes.Load(x + s3), TLanes.MultiplyAdd(f2, TLanes.Load(x + s2),
                TLanes.MultiplyAdd(f1, TLanes.Load(x + s1), TLanes.MultiplyAdd(f0, TLanes.Load(x), acc))));
    }

    /// <summary>8-bit (unsigned codes, one per byte) row o against up to four input rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row8<TLanes, TVec>(in KernelArgs args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * args.InFeatures;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + args.GroupSize; j < end; j += lanes)
            {
                TVec v = TLanes.BytesToSingle(TLanes.LoadBytes(w + j));
                a0 = TLanes.MultiplyAdd(v, TLanes.Load(x0 + j), a0);
                a1 = TLanes.MultiplyAdd(v, TLanes.Load(x1 + j), a1);
                a2 = TLanes.MultiplyAdd(v, TLanes.Load(x2 + j), a2);
                a3 = TLanes.MultiplyAdd(v, TLanes.Load(x3 + j), a3);
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);
    }

    /// <summary>No SIMD: plain loops over the packed fields, one batch row at a time.</summary>
    private static void ChunkScalar(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        int per = 8 / args.Bits, streamLength = args.InFeatures / per, groupBytes = args.GroupSize / per, groups = args.InFeatures / args.GroupSize;
        int mask = (1 << args.Bits) - 1;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * args.InFeatures;
            for (int o = start; o < end; o++)
            {
                byte* w = args.Weights + (nint)o * streamLength;
                float total = 0;
                for (int g = 0; g < groups; g++)
                {
                    float acc = 0;
                    for (int j = g * groupBytes; j < (g + 1) * groupBytes; j++)
                    {
                        for (int k = 0; k < per; k++) acc += ((w[j] >> (k * args.Bits)) & mask) * x[k * streamLength + j];
                    }

                    total += acc * args.Scales[(nint)o * groups + g];
                }

                args.Output[(nint)b * args.OutFeatures + o] = Finish(in args, total, o, b);
            }
        }
    }
}
