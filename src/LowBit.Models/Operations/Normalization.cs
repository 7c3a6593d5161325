using System.Numerics.Tensors;

namespace LowBit.Models;

/// <summary>The normalizations of the two model families, one row at a time, in float32.</summary>
internal static class Normalization
{
    /// <summary>
    /// RMSNorm (Llama): <c>y = x / sqrt(mean(x^2) + eps) * weight</c>, for every row of <paramref name="source"/>
    /// (rows of <c>weight.Length</c> values). <paramref name="destination"/> may be <paramref name="source"/>.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> source, ReadOnlySpan<float> weight, float epsilon, Span<float> destination)
    {
        int n = weight.Length;
        for (int row = 0; row < source.Length; row += n)
        {
            ReadOnlySpan<float> x = source.Slice(row, n);
            Span<float> y = destination.Slice(row, n);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / n + epsilon);
            TensorPrimitives.Multiply(x, scale, y);
            TensorPrimitives.Multiply(y, weight, y);
        }
    }

    /// <summary>
    /// LayerNorm (BERT): <c>y = (x - mean) / sqrt(var + eps) * weight + bias</c> with the biased variance, for every row of
    /// <paramref name="source"/>. <paramref name="destination"/> may be <paramref name="source"/>.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> source, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float epsilon,
                                 Span<float> destination)
    {
        int n = weight.Length;
        for (int row = 0; row < source.Length; row += n)
        {
            ReadOnlySpan<float> x = source.Slice(row, n);
            Span<float> y = destination.Slice(row, n);
            float mean = TensorPrimitives.Sum(x) / n;
            TensorPrimitives.Subtract(x, mean, y);
            float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(y) / n + epsilon);
            TensorPrimitives.Multiply(y, scale, y);
            TensorPrimitives.FusedMultiplyAdd(y, weight, bias, y);
        }
    }
}
