using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;
using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// The W8A16 matmul: int8 weights with one scale per output row, float/Half/BFloat16 activations.
/// <c>output[b,o] = (T)((sum_i (float)input[b,i] * weights[o,i]) * (float)scales[o] + (float)bias[o])</c>,
/// accumulated in float32 and rounded to the element type once.
/// </summary>
/// <remarks>
/// The int8 weights are widened to float in registers, never expanded in memory. Output rows are
/// processed in chunks of about 256 KiB of weights, which stay in L2 while every batch row walks over
/// them; within a chunk, register tiles of 4 weight rows x 1, 2 or 4 batch rows reuse each widened
/// weight vector across the batch (GEMV for batch 1, a register-blocked GEMM beyond). Large shapes
/// split the chunks across threads; small ones stay on the calling thread.
/// <code>
/// // y = x @ W^T * s + b, for a batch of 6 rows of 16 features into 32 outputs
/// W8A16.MatMul&lt;float&gt;(x, weights, scales, bias, y, inFeatures: 16, outFeatures: 32);
/// </code>
/// </remarks>
public static unsafe partial class W8A16
{
    /// <summary>
    /// Computes <c>output = (input @ weights^T) * scales + bias</c> for a row-major batch of inputs,
    /// using every core for large shapes.
    /// </summary>
    /// <param name="input">batch x <paramref name="inFeatures"/>, row-major; batch = input.Length / inFeatures.</param>
    /// <param name="weights">int8 codes, <paramref name="outFeatures"/> x <paramref name="inFeatures"/>, row-major.</param>
    /// <param name="scales">one scale per output row.</param>
    /// <param name="bias">one value per output row, or empty for no bias.</param>
    /// <param name="output">batch x <paramref name="outFeatures"/>; must not overlap <paramref name="input"/>.</param>
    /// <param name="inFeatures">columns of the weights.</param>
    /// <param name="outFeatures">rows of the weights.</param>
    /// <exception cref="ArgumentException">A length does not match, <paramref name="output"/> is too short or overlaps
    /// <paramref name="input"/>. Nothing is written then.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or a size overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static void MatMul<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales,
                                 ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures) =>
        MatMul(input, weights, scales, bias, output, inFeatures, outFeatures, maxThreads: 0);

    /// <summary>
    /// As <see cref="MatMul{T}(ReadOnlySpan{T}, ReadOnlySpan{sbyte}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int)"/>,
    /// using at most <paramref name="maxThreads"/> threads: 1 runs on the calling thread only, 0 uses every core.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxThreads"/> is negative, or as the other overload.</exception>
    public static void MatMul<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales,
                                 ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int maxThreads)
    {
        int batch = Validate(input, weights, scales, bias, output, inFeatures, outFeatures);
        if (maxThreads < 0) ThrowHelper.ThrowNegative(nameof(maxThreads), maxThreads);
        if (maxThreads == 0) maxThreads = WorkerPool.MaxThreads;

        // Everything below works in float32: Half/BFloat16 operands are widened once per call
        // into pooled scratch, and the result is rounded to T once at the end.
        float[]? inputScratch = null, scaleScratch = null, biasScratch = null, outputScratch = null;
        try
        {
            ReadOnlySpan<float> x = AsSingle(input, ref inputScratch);
            ReadOnlySpan<float> s = AsSingle(scales, ref scaleScratch);
            ReadOnlySpan<float> b = AsSingle(bias, ref biasScratch);
            int outputCount = batch * outFeatures;
            Span<float> y = typeof(T) == typeof(float)
                ? SpanCast.As<T, float>(output)[..outputCount]
                : (outputScratch = ArrayPool<float>.Shared.Rent(outputCount)).AsSpan(0, outputCount);

            fixed (float* px = x, ps = s, pb = b, py = y)
            fixed (sbyte* pw = weights)
            {
                var args = new MatMulArgs(px, pw, ps, b.IsEmpty ? null : pb, py, batch, inFeatures, outFeatures);
                Run(ref args, maxThreads);
            }

            if (outputScratch is not null)
            {
                Elements<T>.FromSingle(y, output);
            }
        }
        finally
        {
            Return(inputScratch);
            Return(scaleScratch);
            Return(biasScratch);
            Return(outputScratch);
        }
    }

    /// <summary>Checks every argument; returns the batch size.</summary>
    internal static int Validate<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales,
                                    ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures)
    {
        Elements<T>.EnsureSupported();
        int weightCount = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        ThrowHelper.CheckLength(weights.Length, weightCount, nameof(weights));
        ThrowHelper.CheckLength(scales.Length, outFeatures, nameof(scales));
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        int batch = ThrowHelper.BatchCount(input.Length, inFeatures, nameof(input));
        long outputCount = (long)batch * outFeatures;
        if (outputCount > int.MaxValue) ThrowHelper.ThrowProductOverflow(nameof(output), batch, outFeatures);
        ThrowHelper.CheckDestination(output.Length, outputCount, nameof(output));
        if (input.Overlaps(output[..(int)outputCount]))
        {
            throw new ArgumentException("Output must not overlap the input.", nameof(output));
        }

        return batch;
    }

    private static ReadOnlySpan<float> AsSingle<T>(ReadOnlySpan<T> source, ref float[]? scratch)
    {
        if (typeof(T) == typeof(float)) return SpanCast.As<T, float>(source);
        if (source.IsEmpty) return default;
        scratch = ArrayPool<float>.Shared.Rent(source.Length);
        Span<float> floats = scratch.AsSpan(0, source.Length);
        Elements<T>.ToSingle(source, floats);
        return floats;
    }

    private static void Return(float[]? scratch)
    {
        if (scratch is not null) ArrayPool<float>.Shared.Return(scratch);
    }

    /// <summary>Picks the widest SIMD width the machine runs and the number of threads.</summary>
    internal static void Run(ref MatMulArgs args, int maxThreads)
    {
        args.RowsPerChunk = RowsPerChunk(args.InFeatures);
        int chunks = (args.OutFeatures + args.RowsPerChunk - 1) / args.RowsPerChunk;
        if ((long)args.Batch * args.InFeatures * args.OutFeatures < ParallelMinMultiplyAdds) maxThreads = 1;
        fixed (MatMulArgs* state = &args)
        {
            if (Lanes512.IsSupported) WorkerPool.Run(&Chunk<Lanes512, Vector512<float>>, state, chunks, maxThreads);
            else if (Lanes256.IsSupported) WorkerPool.Run(&Chunk<Lanes256, Vector256<float>>, state, chunks, maxThreads);
            else if (Lanes128.IsSupported) WorkerPool.Run(&Chunk<Lanes128, Vector128<float>>, state, chunks, maxThreads);
            else WorkerPool.Run(&ChunkScalar, state, chunks, maxThreads);
        }
    }

    /// <summary>Below this many multiply-adds a call stays on the calling thread (waking workers costs more).</summary>
    internal const long ParallelMinMultiplyAdds = 1L << 21;

    /// <summary>
    /// Output rows per work chunk: about 256 KiB of int8 weights, which stay in L2 while every batch row
    /// walks over them, so weights come from memory once per call whatever the batch.
    /// </summary>
    internal static int RowsPerChunk(int inFeatures) => Math.Clamp((256 * 1024 / inFeatures) & ~3, 4, 1024);

    private static void Chunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref MatMulArgs args = ref Unsafe.AsRef<MatMulArgs>(state);
        int rowStart = chunk * args.RowsPerChunk;
        MultiplyRows<TLanes, TVec>(in args, rowStart, Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures));
    }

    private static void ChunkScalar(void* state, int chunk)
    {
        ref MatMulArgs args = ref Unsafe.AsRef<MatMulArgs>(state);
        int rowStart = chunk * args.RowsPerChunk;
        MultiplyRowsScalar(in args, rowStart, Math.Min(rowStart + args.RowsPerChunk, args.OutFeatures));
    }
}

/// <summary>One matmul call in float32 form, shared by pointer with the worker threads.</summary>
internal unsafe struct MatMulArgs(float* input, sbyte* weights, float* scales, float* bias, float* output,
                                  int batch, int inFeatures, int outFeatures)
{
    public readonly float* Input = input;       // batch x inFeatures
    public readonly sbyte* Weights = weights;   // outFeatures x inFeatures
    public readonly float* Scales = scales;     // outFeatures
    public readonly float* Bias = bias;         // outFeatures, or null
    public readonly float* Output = output;     // batch x outFeatures
    public readonly int Batch = batch;
    public readonly int InFeatures = inFeatures;
    public readonly int OutFeatures = outFeatures;
    public int RowsPerChunk;

    /// <summary>y = acc * scale[o] + bias[o], the epilogue every kernel applies once per output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Finish(float acc, int o) => Bias is null ? acc * Scales[o] : acc * Scales[o] + Bias[o];
}
