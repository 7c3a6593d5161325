using System.Buffers;
using LowBit.Internal;

namespace LowBit.Kernels;

/// <summary>
/// The one forward path every matmul entry point shares
/// (<see cref="W8A16.MatMul{T}(ReadOnlySpan{T}, ReadOnlySpan{sbyte}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int)"/>,
/// <see cref="W8A16Linear{T}"/>, <see cref="LowBitLinear{T}"/>): validate the call, resolve the thread cap, gather the input
/// into column order when the weights' columns are permuted, take the plan's route, and run it.
/// </summary>
internal static class LinearForward
{
    /// <summary>
    /// Checks a forward call's spans, thread cap and precision before anything is touched; returns batch x outFeatures,
    /// the part of <paramref name="output"/> the call writes.
    /// </summary>
    public static int Validate<T>(ReadOnlySpan<T> input, Span<T> output, int inFeatures, int outFeatures, int maxThreads,
                                  ActivationPrecision activations)
    {
        int batch = ThrowHelper.BatchCount(input.Length, inFeatures, nameof(input));
        long outputCount = (long)batch * outFeatures;
        if (outputCount > int.MaxValue) ThrowHelper.ThrowProductOverflow(nameof(output), batch, outFeatures);
        ThrowHelper.CheckDestination(output.Length, outputCount, nameof(output));
        if (input.Overlaps(output[..(int)outputCount])) throw new ArgumentException("Output must not overlap the input.", nameof(output));
        if (maxThreads < 0) ThrowHelper.ThrowNegative(nameof(maxThreads), maxThreads);
        ThrowHelper.CheckDefined(activations, nameof(activations));
        return (int)outputCount;
    }

    /// <summary>
    /// Runs a validated call: <paramref name="output"/> is exactly batch x OutFeatures, <paramref name="maxThreads"/> 0 means
    /// every core, and <paramref name="permutation"/> (empty for none) says which input feature each weight column meets.
    /// </summary>
    public static void Run<T>(KernelPlan plan, in MatMulRunner.Weights weights, ReadOnlySpan<T> input, Span<T> output, int maxThreads,
                              ActivationPrecision activations, ReadOnlySpan<int> permutation = default)
    {
        int threads = maxThreads == 0 ? WorkerPool.MaxThreads : maxThreads;
        KernelRoute route = plan.Route(input.Length / plan.Shape.InFeatures, activations);
        if (permutation.IsEmpty)
        {
            Run(route, plan.Shape, weights, input, output, threads);
            return;
        }

        // Columns in another order: gather each input row into it once (pooled scratch, so no allocation per call).
        T[] gathered = ArrayPool<T>.Shared.Rent(input.Length);
        try
        {
            int n = plan.Shape.InFeatures;
            for (int row = 0; row < input.Length; row += n)
            {
                ReadOnlySpan<T> source = input.Slice(row, n);
                Span<T> target = gathered.AsSpan(row, n);
                for (int j = 0; j < target.Length; j++) target[j] = source[permutation[j]];
            }

            Run(route, plan.Shape, weights, gathered.AsSpan(0, input.Length), output, threads);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(gathered);
        }
    }

    private static void Run<T>(KernelRoute route, in LayerShape shape, in MatMulRunner.Weights weights, ReadOnlySpan<T> input, Span<T> output,
                               int threads)
    {
        if (route.DequantizesActivations) MatMulRunner.RunOnDequantizedActivations(route.Kernel, shape, weights, input, output, threads);
        else MatMulRunner.Run(route.Kernel, shape, weights, input, output, threads);
    }
}
