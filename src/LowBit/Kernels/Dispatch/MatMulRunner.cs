using System.Buffers;
using System.Diagnostics;
using LowBit.Internal;

namespace LowBit.Kernels;

/// <summary>
/// Runs one matmul call through one kernel: widens the input to float32 (when T is not float), lets the kernel arrange
/// it, splits the output rows into the kernel's work items across up to <c>maxThreads</c> threads, and rounds the result
/// to T once. Scratch comes from <see cref="ArrayPool{T}"/>, so a call allocates nothing.
/// </summary>
internal static unsafe class MatMulRunner
{
    /// <summary>Below this many multiply-adds a call stays on the calling thread (waking workers costs more).</summary>
    internal const long ParallelMinMultiplyAdds = 1L << 21;

    /// <summary>A layer's weights in the form every kernel reads: codes, and float32 scales, s * z and bias.</summary>
    /// <param name="codes">OutFeatures x RowBytes: int8 codes (per channel) or packed unsigned codes (group-wise); empty when
    /// <paramref name="layouts"/> holds them.</param>
    /// <param name="scales">OutFeatures (per channel) or OutFeatures x groups.</param>
    /// <param name="zeroTerms">OutFeatures x groups, s * z plus the offset (empty for per channel).</param>
    /// <param name="zeroPoints">OutFeatures x groups (empty for per channel).</param>
    /// <param name="bias">OutFeatures, or empty for none.</param>
    /// <param name="offsets">OutFeatures x groups, the float offsets of <c>w = s * (q - z) - offset</c>, or empty for none.</param>
    /// <param name="layouts">The codes in every layout, made on demand (a layer's), or null when the caller has only
    /// <paramref name="codes"/> (then only <see cref="WeightLayout.RowMajor"/> kernels run).</param>
    internal readonly ref struct Weights(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeroTerms,
                                         ReadOnlySpan<byte> zeroPoints,
                                         ReadOnlySpan<float> bias, ReadOnlySpan<float> offsets = default, IWeightLayouts? layouts = null)
    {
        public readonly IWeightLayouts? Layouts = layouts;
        public readonly ReadOnlySpan<float> Offsets = offsets;
        public readonly ReadOnlySpan<byte> Codes = codes;
        public readonly ReadOnlySpan<float> Scales = scales;
        public readonly ReadOnlySpan<float> ZeroTerms = zeroTerms;
        public readonly ReadOnlySpan<byte> ZeroPoints = zeroPoints;
        public readonly ReadOnlySpan<float> Bias = bias;
    }

    /// <summary>
    /// <see cref="ActivationPrecision.Int8"/> through a float kernel: each input row quantized per block of 32 and
    /// dequantized (<c>sx * xq</c>, the contract's oracle input), then <paramref name="floatKernel"/> on it. Pooled scratch.
    /// </summary>
    public static void RunOnDequantizedActivations<T>(MatMulKernel floatKernel, in LayerShape shape, in Weights weights, ReadOnlySpan<T> input,
                                                      Span<T> output,
                                                      int maxThreads)
    {
        int outputCount = input.Length / shape.InFeatures * shape.OutFeatures;
        float[] floats = ArrayPool<float>.Shared.Rent(input.Length + outputCount);
        try
        {
            Span<float> x = floats.AsSpan(0, input.Length), y = floats.AsSpan(input.Length, outputCount);
            Elements<T>.ToSingle(input, x);
            ActivationQuantizer.DequantizedRows(x, x, shape.InFeatures);
            Run<float>(floatKernel, shape, weights, x, y, maxThreads);
            Elements<T>.FromSingle(y, output[..outputCount]);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(floats);
        }
    }

    /// <summary>
    /// <c>output = input @ W^T (scaled, zero points folded) + bias</c> for a validated call: input is batch x InFeatures,
    /// output at least batch x OutFeatures and not overlapping it, <paramref name="maxThreads"/> at least 1.
    /// </summary>
    public static void Run<T>(MatMulKernel kernel, in LayerShape shape, in Weights weights, ReadOnlySpan<T> input, Span<T> output, int maxThreads)
    {
        // Plans only pick kernels that take the layer; tests and benchmarks force kernels, and a wrong one would read out of bounds.
        if (!kernel.Takes(shape)) throw new InvalidOperationException($"Kernel {kernel} does not take {shape}.");
        Debug.Assert(kernel.IsSupported, $"{kernel} does not run here");
        if (kernel.Layout != WeightLayout.RowMajor && weights.Layouts is null)
        {
            throw new InvalidOperationException($"Kernel {kernel} reads the {kernel.Layout} layout, which these weights do not have.");
        }

        ReadOnlySpan<byte> codes = kernel.Layout == WeightLayout.RowMajor && !weights.Codes.IsEmpty ? weights.Codes
            : weights.Layouts!.Codes(kernel.Layout);
        int n = shape.InFeatures, batch = input.Length / n, groups = shape.Groups, outputCount = batch * shape.OutFeatures;
        long preparedFloats = kernel.PreparedFloats(shape, batch);
        float[]? inputScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(input.Length);
        float[]? outputScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(outputCount);
        float[]? prepared = preparedFloats == 0 ? null : ArrayPool<float>.Shared.Rent(checked((int)preparedFloats + AlignmentFloats));
        int groupSums = kernel.UsesGroupSums ? batch * groups : 0, laneSums = kernel.UsesLaneSums ? batch * (n / 8) : 0;
        float[] small = ArrayPool<float>.Shared.Rent(batch + groupSums + laneSums);
        try
        {
            ReadOnlySpan<float> x = inputScratch is null ? SpanCast.As<T, float>(input) : inputScratch.AsSpan(0, input.Length);
            if (inputScratch is not null) Elements<T>.ToSingle(input, inputScratch);
            Span<float> y = outputScratch is null ? SpanCast.As<T, float>(output)[..outputCount] : outputScratch.AsSpan(0, outputCount);
            fixed (float* px = x, py = y, pPrepared = prepared, pSmall = small, ps = weights.Scales, psz = weights.ZeroTerms, pb = weights.Bias,
                   poff = weights.Offsets)
            fixed (byte* pw = codes, pz = weights.ZeroPoints)
            {
                var args = new KernelArgs
                {
                    // Prepared input starts on a cache line: every vector load of it then stays within one line.
                    Input = pPrepared is null ? px : (float*)(((nint)pPrepared + 63) & ~(nint)63),
                    GroupSums = kernel.UsesGroupSums ? pSmall + batch : null,
                    LaneSums = kernel.UsesLaneSums ? pSmall + batch + groupSums : null,
                    InputUnscales = pSmall,
                    Weights = pw,
                    Scales = ps,
                    ZeroTerms = psz,
                    ZeroPoints = pz,
                    Bias = weights.Bias.IsEmpty ? null : pb,
                    Output = py,
                    Offsets = weights.Offsets.IsEmpty ? null : poff,
                    Parameters = kernel.Layout == WeightLayout.RowMajor ? default : weights.Layouts!.Parameters(kernel.Layout),
                    Batch = batch,
                    InFeatures = n,
                    OutFeatures = shape.OutFeatures,
                    Bits = shape.Bits,
                    GroupSize = shape.GroupSize,
                };
                kernel.Prepare(px, ref args);
                if ((long)batch * n * shape.OutFeatures < ParallelMinMultiplyAdds) maxThreads = 1;
                args.RowsPerChunk = RowsPerChunk(kernel, shape, batch, Math.Min(maxThreads, WorkerPool.MaxThreads));
                int chunks = (shape.OutFeatures + args.RowsPerChunk - 1) / args.RowsPerChunk;
                WorkerPool.Run(kernel.Body(shape), &args, chunks, maxThreads);
            }

            if (outputScratch is not null) Elements<T>.FromSingle(y, output);
        }
        finally
        {
            if (inputScratch is not null) ArrayPool<float>.Shared.Return(inputScratch);
            if (outputScratch is not null) ArrayPool<float>.Shared.Return(outputScratch);
            if (prepared is not null) ArrayPool<float>.Shared.Return(prepared);
            ArrayPool<float>.Shared.Return(small);
        }
    }

    /// <summary>
    /// The kernel's rows per work item, made smaller (in its granularity) when that leaves a thread fewer than two items:
    /// 384 rows in items of 256 gave the second core a third of the work (384 x 1536, batch 64: all threads no faster than one).
    /// </summary>
    private static int RowsPerChunk(MatMulKernel kernel, in LayerShape shape, int batch, int threads)
    {
        int rows = kernel.RowsPerChunk(shape, batch), step = kernel.RowGranularity;
        if (threads <= 1) return rows;
        int shared = shape.OutFeatures / (2 * threads) / step * step;
        return Math.Max(step, Math.Min(rows, shared));
    }

    /// <summary>Spare floats in the prepared-input buffer, so that it can start on a 64-byte boundary.</summary>
    private const int AlignmentFloats = 16;
}
