using LowBit.Internal;

namespace LowBit;

public static partial class W8A16
{
    /// <summary>
    /// Scalar reference: the formula, output by output, with no validation, no blocking and no threads.
    /// The oracle for tests and the baseline for benchmarks.
    /// </summary>
    internal static void MatMulScalar<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales,
                                         ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures)
    {
        int batch = input.Length / inFeatures;
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                float acc = 0;
                for (int i = 0; i < inFeatures; i++)
                {
                    acc += Elements<T>.ToSingle(input[b * inFeatures + i]) * weights[o * inFeatures + i];
                }

                float y = acc * Elements<T>.ToSingle(scales[o]);
                if (!bias.IsEmpty) y += Elements<T>.ToSingle(bias[o]);
                output[b * outFeatures + o] = Elements<T>.FromSingle(y);
            }
        }
    }
}
