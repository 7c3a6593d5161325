using System.Numerics.Tensors;
using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Layers;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class W8A16LinearTests<T>
{
    [Test]
    public void Recipe_Construct16To32_ForwardOneBySixBySixteen_GivesOneBySixByThirtyTwo()
    {
        var module = new W8A16Linear<T>(16, 32);
        Assert.That(module.Int8Weights.Length, Is.EqualTo(32 * 16));
        Assert.That(module.Scales.Length, Is.EqualTo(32));
        Assert.That(module.HasBias, Is.True);
        Assert.That(module.Bias.Length, Is.EqualTo(32));

        T[] hidden = TestData.Gaussian<T>(1 * 6 * 16, 1);
        Tensor<T> output = module.Forward(Tensor.Create(hidden, [1, 6, 16]).AsReadOnlyTensorSpan());
        Assert.That(output.Lengths.ToArray(), Is.EqualTo(new nint[] { 1, 6, 32 }));

        // Zero weights and zero bias: every output is zero. After quantizing real weights the
        // tensor form equals the span form.
        Assert.That(output.ToArray().Select(TestData.F), Is.All.Zero);
        module.Quantize(TestData.Gaussian<T>(32 * 16, 2));
        T[] expected = module.Forward(hidden);
        Assert.That(module.Forward(Tensor.Create(hidden, [1, 6, 16]).AsReadOnlyTensorSpan()).ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void Recipe_QuantizeFourByEight_DequantizeIsCodeTimesScale_MeanErrorSmall()
    {
        var module = new W8A16Linear<T>(inFeatures: 8, outFeatures: 4);
        T[] randomMatrix = TestData.Gaussian<T>(4 * 8, 11);
        module.Quantize(randomMatrix);

        var dequantized = new T[32];
        module.Dequantize(dequantized);
        double meanError = 0;
        for (int o = 0; o < 4; o++)
        {
            for (int i = 0; i < 8; i++)
            {
                T expected = TestData.Of<T>(module.Int8Weights[o * 8 + i] * TestData.F(module.Scales[o]));
                Assert.That(TestData.SameBits(dequantized[o * 8 + i], expected), Is.True);
                meanError += Math.Abs(TestData.F(randomMatrix[o * 8 + i]) - TestData.F(dequantized[o * 8 + i]));
            }
        }

        // The recipe reports about 0.003 for randn weights; the worst case is half a step, max|w| / 254.
        Assert.That(meanError / 32, Is.LessThan(0.01));
        Assert.That(QuantizationError.Compute<T>(randomMatrix, dequantized).MeanAbsoluteError, Is.EqualTo(meanError / 32).Within(1e-9));
    }

    [Test]
    public void FromWeights_ForwardMatchesMatMulOnItsBuffers()
    {
        T[] weights = TestData.Gaussian<T>(33 * 17, 4);
        T[] bias = TestData.Gaussian<T>(33, 5);
        var layer = W8A16Linear<T>.FromWeights(weights, outFeatures: 33, inFeatures: 17, bias);
        T[] input = TestData.Gaussian<T>(5 * 17, 6);
        var expected = new T[5 * 33];
        W8A16.MatMul<T>(input, layer.Int8Weights, layer.Scales, layer.Bias, expected, 17, 33);
        Assert.That(layer.Forward(input), Is.EqualTo(expected));

        var codes = new sbyte[33 * 17];
        var scales = new T[33];
        Int8Quantizer.QuantizePerChannel<T>(weights, 33, 17, codes, scales);
        Assert.That(layer.Int8Weights.ToArray(), Is.EqualTo(codes));
        Assert.That(layer.Bias.ToArray(), Is.EqualTo(bias));

        var reloaded = W8A16Linear<T>.FromQuantized(layer.Int8Weights, layer.Scales, 33, 17, layer.Bias);
        Assert.That(reloaded.Forward(input), Is.EqualTo(expected));
    }

    [Test]
    public void NoBias_LayerHasEmptyBias()
    {
        var layer = new W8A16Linear<T>(4, 3, bias: false);
        Assert.That(layer.HasBias, Is.False);
        Assert.That(layer.Bias.IsEmpty, Is.True);
        Assert.That(layer.Scales.ToArray().Select(TestData.F), Is.All.EqualTo(1f));
    }

    [Test]
    public void ValidationErrors()
    {
        var layer = new W8A16Linear<T>(8, 4);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => new W8A16Linear<T>(0, 4), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => layer.Quantize(new T[31]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(new T[7]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(new T[8], new T[3]), Throws.ArgumentException);
            Assert.That(() => layer.Dequantize(new T[31]), Throws.ArgumentException);
            Assert.That(() => W8A16Linear<T>.FromWeights(new T[32], 4, 8, new T[3]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(Tensor.Create(new T[12], [2, 6]).AsReadOnlyTensorSpan()), Throws.ArgumentException);
        }
    }

    [Test]
    public void Quantize_WithNaN_LeavesLayerUnchanged()
    {
        var layer = W8A16Linear<T>.FromWeights(TestData.Gaussian<T>(32, 1), 4, 8);
        sbyte[] before = layer.Int8Weights.ToArray();
        T[] bad = TestData.Gaussian<T>(32, 2);
        bad[5] = TestData.Of<T>(float.NaN);
        Assert.Throws<ArgumentException>(() => layer.Quantize(bad));
        Assert.That(layer.Int8Weights.ToArray(), Is.EqualTo(before));
    }

    [Test]
    public void Forward_FromManyThreadsAtOnce_GivesTheSingleThreadedResult()
    {
        var layer = W8A16Linear<T>.FromWeights(TestData.Gaussian<T>(512 * 256, 8), 512, 256, TestData.Gaussian<T>(512, 9));
        T[][] inputs = Enumerable.Range(0, 8).Select(i => TestData.Gaussian<T>((i % 3 + 1) * 8 * 256, 100 + i)).ToArray();
        T[][] expected = inputs.Select(x => { var y = new T[x.Length / 256 * 512]; layer.Forward(x, y, maxThreads: 1); return y; }).ToArray();

        var failures = 0;
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, k =>
        {
            int i = k % inputs.Length;
            T[] y = layer.Forward(inputs[i]);
            if (!y.AsSpan().SequenceEqual(expected[i])) Interlocked.Increment(ref failures);
        });
        Assert.That(failures, Is.Zero);
    }

    [Test]
    public void Forward_WhileQuantizeSwapsWeights_SeesOldOrNewNeverAMix()
    {
        T[] w1 = TestData.Gaussian<T>(64 * 64, 1), w2 = TestData.Gaussian<T>(64 * 64, 2);
        var layer = W8A16Linear<T>.FromWeights(w1, 64, 64);
        var other = W8A16Linear<T>.FromWeights(w2, 64, 64);
        T[] x = TestData.Gaussian<T>(4 * 64, 3);
        T[] y1 = layer.Forward(x), y2 = other.Forward(x);

        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++) layer.Quantize(i % 2 == 0 ? w2 : w1);
        });
        int mixes = 0;
        for (int i = 0; i < 2000; i++)
        {
            T[] y = layer.Forward(x);
            if (!y.AsSpan().SequenceEqual(y1) && !y.AsSpan().SequenceEqual(y2)) mixes++;
        }

        stop.Cancel();
        swapper.Wait();
        Assert.That(mixes, Is.Zero);
    }
}
