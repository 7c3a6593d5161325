using System.Buffers;
using System.Runtime.InteropServices;
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
public static partial class W8A16
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
                                 ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int maxThreads) =>
        MatMul(input, weights, scales, bias, output, inFeatures, outFeatures, maxThreads, ActivationPrecision.Float);

    /// <summary>
    /// As <see cref="MatMul{T}(ReadOnlySpan{T}, ReadOnlySpan{sbyte}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int, int)"/>,
    /// computing in <paramref name="activations"/> precision (<see cref="ActivationPrecision.Int8"/>: the input quantized per
    /// block of 32 and multiplied with integer dot products).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="activations"/> is not defined, or as the other overloads.</exception>
    public static void MatMul<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales,
                                 ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int maxThreads,
                                 ActivationPrecision activations)
    {
        ValidateWeights(weights, scales, bias, inFeatures, outFeatures);
        int outputCount = LinearForward.Validate(input, output, inFeatures, outFeatures, maxThreads, activations);
        KernelPlan plan = KernelPlan.Cached(LayerShape.Int8(outFeatures, inFeatures));

        // The kernels read float32 scales and bias: Half/BFloat16 ones are widened once per call into pooled scratch.
        float[]? scaleScratch = null, biasScratch = null;
        try
        {
            var quantized = new MatMulRunner.Weights(MemoryMarshal.AsBytes(weights), AsSingle(scales, ref scaleScratch), default, default,
                                                     AsSingle(bias, ref biasScratch));
            LinearForward.Run(plan, quantized, input, output[..outputCount], maxThreads, activations);
        }
        finally
        {
            if (scaleScratch is not null) ArrayPool<float>.Shared.Return(scaleScratch);
            if (biasScratch is not null) ArrayPool<float>.Shared.Return(biasScratch);
        }
    }

    /// <summary>Checks the weight arguments of a matmul call (the input, output and precision are the forward core's to check).</summary>
    private static void ValidateWeights<T>(ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales, ReadOnlySpan<T> bias, int inFeatures, int outFeatures)
    {
        Elements<T>.EnsureSupported();
        int weightCount = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        ThrowHelper.CheckLength(weights.Length, weightCount, nameof(weights));
        ThrowHelper.CheckLength(scales.Length, outFeatures, nameof(scales));
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
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
}
