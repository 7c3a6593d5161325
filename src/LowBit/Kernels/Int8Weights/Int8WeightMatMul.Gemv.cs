using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

/// <summary>
/// The per-channel int8 kernels behind <see cref="W8A16"/> and <see cref="W8A16Linear{T}"/>:
/// <c>out[b,o] = (sum_i x[b,i] * q[o,i]) * scale[o] + bias[o]</c>. The int8 weights are widened to float in registers,
/// never expanded in memory. Output rows go in work items of about 256 KiB of weights, which stay in L2 while every
/// input row walks over them.
/// </summary>
internal static unsafe partial class Int8WeightMatMul
{
    /// <summary>
    /// Output rows per work item: about 256 KiB of int8 weights, which stay in L2 while every batch row
    /// walks over them, so weights come from memory once per call whatever the batch.
    /// </summary>
    internal static int Int8RowsPerChunk(int inFeatures) => Math.Clamp((256 * 1024 / inFeatures) & ~3, 4, 1024);

    /// <summary>
    /// One input row: one weight row at a time is one sequential stream, which the hardware prefetcher follows at full
    /// bandwidth (four interleaved rows ran at 60% of it); eight accumulators.
    /// </summary>
    internal sealed class GemvKernel<TLanes, TVec>() : MatMulKernel(
        "int8-gemv-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Int8PerChannel, "any")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        public override int RowsPerChunk(in LayerShape shape, int batch) => Int8RowsPerChunk(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &GemvChunk<TLanes, TVec>;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvChunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int rowStart = chunk * args.RowsPerChunk, rowEnd = Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures);
        int n = args.InFeatures;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * args.OutFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = args.Finish(Dot1<TLanes, TVec>(x, args.Int8Weights + (nint)o * n, n), o);
        }
    }

    /// <summary>No SIMD: plain loops over one work item of output rows.</summary>
    internal sealed class ScalarKernel() : MatMulKernel("int8-scalar", KernelIsa.Scalar, WeightFormats.Int8PerChannel, "any")
    {
        public override bool IsSupported => true;

        public override int RowsPerChunk(in LayerShape shape, int batch) => Int8RowsPerChunk(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ScalarChunk;
    }

    private static void ScalarChunk(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int rowStart = chunk * args.RowsPerChunk, rowEnd = Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures);
        int n = args.InFeatures;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * args.OutFeatures;
            for (int o = rowStart; o < rowEnd; o++)
            {
                sbyte* w = args.Int8Weights + (nint)o * n;
                float acc0 = 0, acc1 = 0;
                int i = 0;
                for (; i + 2 <= n; i += 2)
                {
                    acc0 += x[i] * w[i];
                    acc1 += x[i + 1] * w[i + 1];
                }

                if (i < n) acc0 += x[i] * w[i];
                y[o] = args.Finish(acc0 + acc1, o);
            }
        }
    }

    /// <summary>
    /// How far ahead of its loads the GEMV prefetches the weight stream. The hardware prefetcher alone kept 11008 x 4096
    /// from DRAM at 0.76 of one core's read bandwidth on Zen 5 (AVX-512) and 0.65 at 256 bits; 16 KiB ahead: 1.0 and 0.79
    /// (8 KiB and 32 KiB within 3% of it).
    /// </summary>
    private const int GemvPrefetchBytes = 16 * 1024;

    /// <summary>One dot product of x with an int8 row; eight accumulators, one sequential stream prefetched ahead.</summary>
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
            if (Sse.IsSupported) // (Arm64: no prefetch instruction in .NET 10; the hardware prefetcher has to do)
            {
                Sse.Prefetch0(w + GemvPrefetchBytes + i);
                if (lanes == 16) Sse.Prefetch0(w + GemvPrefetchBytes + i + 64);
            }

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
