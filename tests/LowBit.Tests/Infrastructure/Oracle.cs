using LowBit;

namespace LowBit.Tests.Infrastructure;

/// <summary>
/// Float64 references for the matmul kernels, with DESIGN.md's tolerance:
/// <c>|out - ref| &lt;= eps(T) |ref| + 1e-6 * (sum of the magnitudes the kernel adds up)</c>.
/// </summary>
internal static class Oracle
{
    /// <summary>
    /// A group-wise layer against float64 on its dequantized weights, with the magnitude term over both sums the kernels
    /// form (sum x q s and sum (s z) xsum): <c>1e-6 sum_i |x_i| (q_i + z) s</c>.
    /// </summary>
    public static void CheckGrouped<T>(LowBitLinear<T> layer, T[] dequantized, T[] input, T[] bias, ReadOnlySpan<T> output, int batch, string label)
    {
        int n = layer.InFeatures, groups = n / layer.GroupSize;
        byte[] codes = new byte[layer.OutFeatures * n];
        int rowBytes = BitPacking.GetPackedLength(n, layer.Bits);
        for (int o = 0; o < layer.OutFeatures; o++) BitPacking.Unpack(layer.PackedWeights.Slice(o * rowBytes, rowBytes), layer.Bits,
                                                                      codes.AsSpan(o * n, n));
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < layer.OutFeatures; o++)
            {
                double expected = bias.Length > 0 ? TestData.F(bias[o]) : 0, magnitude = 0;
                for (int i = 0; i < n; i++)
                {
                    double x = TestData.F(input[b * n + i]);
                    int g = o * groups + i / layer.GroupSize;
                    expected += x * TestData.F(dequantized[o * n + i]);
                    magnitude += Math.Abs(x) * (codes[o * n + i] + layer.ZeroPoints[g]) * Math.Abs(TestData.F(layer.Scales[g]));
                    if (layer.HasOffsets) magnitude += Math.Abs(x) * Math.Abs(TestData.F(layer.Offsets[g]));
                }

                double actual = TestData.F(output[b * layer.OutFeatures + o]);
                double tolerance = TestData.Epsilon<T>() * Math.Abs(expected) + 1e-6 * magnitude + TestData.RoundingFloor<T>();
                if (typeof(T) != typeof(float))
                {
                    // Dequantized weights rounded to T differ from (q - z) * s in float by up to half an ulp each.
                    tolerance += TestData.Epsilon<T>() * magnitude;
                }

                if (!(Math.Abs(actual - expected) <= tolerance)) Assert.Fail($"{label}: [{b},{o}] = {actual}, expected {expected} +- {tolerance}");
            }
        }
    }

    /// <summary>Per-channel int8: <c>(sum x q) * s + bias</c> in float64, tolerance <c>eps |ref| + 1e-6 sum |x q| |s|</c>.</summary>
    public static void CheckInt8<T>(ReadOnlySpan<T> input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<T> scales, ReadOnlySpan<T> bias,
                                    ReadOnlySpan<T> output,
                                    int batch, int inFeatures, int outFeatures, string label)
    {
        double eps = TestData.Epsilon<T>();
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double dot = 0, magnitude = 0;
                for (int i = 0; i < inFeatures; i++)
                {
                    double term = (double)TestData.F(input[b * inFeatures + i]) * weights[o * inFeatures + i];
                    dot += term;
                    magnitude += Math.Abs(term);
                }

                double scale = TestData.F(scales[o]);
                double expected = dot * scale + (bias.Length > 0 ? TestData.F(bias[o]) : 0);
                double actual = TestData.F(output[b * outFeatures + o]);
                double tolerance = eps * Math.Abs(expected) + 1e-6 * magnitude * Math.Abs(scale) + TestData.RoundingFloor<T>();
                if (!(Math.Abs(actual - expected) <= tolerance)) Assert.Fail($"{label}: [{b},{o}] = {actual}, expected {expected} +- {tolerance}");
            }
        }
    }
}
