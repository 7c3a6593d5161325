using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Layers;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class DenseLinearTests<T>
{
    /// <summary>Every storage type against float64 on the stored weights: <c>eps |ref| + 1e-6 sum |x w|</c>, all widths and tails.</summary>
    [Test]
    public void Forward_WithinToleranceOfFloat64([Values] DenseType type, [Values(1, 3, 7, 33)] int outFeatures, [Values(1, 17, 512,
                                                                                                                         1000)] int inFeatures)
    {
        float[] source = TestData.Gaussian<float>(outFeatures * inFeatures, outFeatures + inFeatures, std: 0.1);
        T[] bias = outFeatures == 3 ? [] : TestData.Gaussian<T>(outFeatures, 9);
        DenseLinear<T> layer = Build(type, source, outFeatures, inFeatures, bias);
        float[] stored = source.Select(v => Stored(type, v)).ToArray();
        foreach (int batch in new[] { 1, 2, 5, 19 })
        {
            T[] input = TestData.Gaussian<T>(batch * inFeatures, batch);
            foreach (int threads in new[] { 1, 0 })
            {
                foreach (ActivationPrecision precision in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
                {
                    var output = new T[batch * outFeatures + 1];
                    output[^1] = TestData.Of<T>(77f);
                    layer.Forward(input, output.AsSpan(0, batch * outFeatures), threads, precision);
                    Assert.That(TestData.F(output[^1]), Is.EqualTo(77f), "sentinel");
                    for (int b = 0; b < batch; b++)
                    {
                        for (int o = 0; o < outFeatures; o++)
                        {
                            double expected = bias.Length > 0 ? TestData.F(bias[o]) : 0, magnitude = 0;
                            for (int i = 0; i < inFeatures; i++)
                            {
                                double term = (double)TestData.F(input[b * inFeatures + i]) * stored[o * inFeatures + i];
                                expected += term;
                                magnitude += Math.Abs(term);
                            }

                            double tolerance = TestData.Epsilon<T>() * Math.Abs(expected) + 1e-6 * magnitude + TestData.RoundingFloor<T>();
                            double actual = TestData.F(output[b * outFeatures + o]);
                            Assert.That(Math.Abs(actual - expected), Is.LessThanOrEqualTo(tolerance),
                                        $"{type} [{b},{o}] batch {batch} threads {threads}");
                        }
                    }
                }
            }
        }
    }

    /// <summary>The stored weights come back exactly: float32 as given, f16 and bf16 rounded once when built.</summary>
    [Test]
    public void DequantizeRow_GivesTheStoredRow([Values] DenseType type)
    {
        float[] source = TestData.Gaussian<float>(5 * 40, 3);
        DenseLinear<T> layer = Build(type, source, 5, 40, []);
        var row = new T[41];
        layer.DequantizeRow(3, row);
        for (int i = 0; i < 40; i++)
        {
            Assert.That(TestData.F(row[i]), Is.EqualTo(TestData.F(TestData.Of<T>(Stored(type, source[120 + i])))), $"column {i}");
        }

        Assert.That(layer.WeightBytes, Is.EqualTo(5 * 40 * (type == DenseType.Float32 ? 4 : 2)));
        Assert.That(layer.Format, Does.Contain("dense"));
    }

    [Test]
    public void BadArguments_ThrowBeforeWriting()
    {
        DenseLinear<T> layer = Build(DenseType.Float32, new float[6], 2, 3, []);
        var output = new T[2];
        Assert.Throws<ArgumentException>(() => layer.Forward(new T[4], output, 1, ActivationPrecision.Float));
        Assert.Throws<ArgumentException>(() => layer.Forward(new T[6], output, 1, ActivationPrecision.Float));
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new T[3], output, -1, ActivationPrecision.Float));
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new T[3], output, 1, (ActivationPrecision)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.DequantizeRow(2, new T[3]));
        Assert.Throws<ArgumentException>(() => layer.DequantizeRow(0, new T[2]));
        Assert.Throws<ArgumentException>(() => DenseLinear<T>.FromWeights(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => DenseLinear<T>.FromWeights(new float[6], 2, 3, new T[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => DenseLinear<T>.FromWeights(new float[6], 0, 3));
    }

    private static DenseLinear<T> Build(DenseType type, float[] source, int outFeatures, int inFeatures, T[] bias) => type switch
    {
        DenseType.Float32 => DenseLinear<T>.FromWeights(source, outFeatures, inFeatures, bias),
        DenseType.Float16 => DenseLinear<T>.FromHalf(source.Select(v => (Half)v).ToArray(), outFeatures, inFeatures, bias),
        _ => DenseLinear<T>.FromBFloat16(source.Select(v => (BFloat16)v).ToArray(), outFeatures, inFeatures, bias),
    };

    /// <summary>The value a layer of <paramref name="type"/> stores for <paramref name="value"/>.</summary>
    private static float Stored(DenseType type, float value) =>
        type switch { DenseType.Float32 => value, DenseType.Float16 => (float)(Half)value, _ => (BFloat16)value };
}
