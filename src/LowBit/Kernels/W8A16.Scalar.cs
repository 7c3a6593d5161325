using LowBit.Internal;

namespace LowBit;

public static unsafe partial class W8A16
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

    /// <summary>The kernel used when the machine has no SIMD at all: plain loops over one chunk of output rows.</summary>
    private static void MultiplyRowsScalar(in MatMulArgs args, int rowStart, int rowEnd)
    {
        int n = args.InFeatures;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * args.OutFeatures;
            for (int o = rowStart; o < rowEnd; o++)
            {
                sbyte* w = args.Weights + (nint)o * n;
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
}
