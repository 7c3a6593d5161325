using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Quantization;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class Int8QuantizerTests<T>
{
    private static void AssertMatchesReference(T[] weights, int rows, int columns)
    {
        var codes = new sbyte[rows * columns + 1];
        var scales = new T[rows + 1];
        codes[^1] = 99;
        scales[^1] = TestData.Of<T>(42f);
        Int8Quantizer.QuantizePerChannel<T>(weights, rows, columns, codes.AsSpan(0, rows * columns), scales.AsSpan(0, rows));

        var expectedCodes = new sbyte[rows * columns];
        var expectedScales = new T[rows];
        Int8Quantizer.QuantizePerChannelScalar<T>(weights, rows, columns, expectedCodes, expectedScales);

        for (int r = 0; r < rows; r++)
        {
            if (!TestData.SameBits(scales[r],
                                   expectedScales[r])) Assert.Fail($"{rows}x{columns}: scale {r} is {scales[r]}, expected {expectedScales[r]}");
        }

        for (int i = 0; i < rows * columns; i++)
        {
            if (codes[i] != expectedCodes[i]) Assert.Fail($"{rows}x{columns}: code {i} is {codes[i]}, expected {expectedCodes[i]}");
        }

        Assert.That(codes[^1], Is.EqualTo((sbyte)99), "code sentinel");
        Assert.That(TestData.F(scales[^1]), Is.EqualTo(42f), "scale sentinel");
    }

    [Test]
    public void Quantize_OneByOne() => AssertMatchesReference([TestData.Of<T>(-0.75f)], 1, 1);

    [Test]
    public void Quantize_AllColumnCounts1To257_MatchReference()
    {
        for (int columns = 1; columns <= 257; columns++)
        {
            AssertMatchesReference(TestData.Gaussian<T>(3 * columns, columns, std: 0.02), 3, columns);
        }
    }

    [Test]
    public void Quantize_4096Columns_MatchesReference() => AssertMatchesReference(TestData.Gaussian<T>(8 * 4096, 5), 8, 4096);

    [Test]
    public void Quantize_FormulaHolds_ScaleIsAbsMaxOver127_AndCodesReachPlusMinus127()
    {
        T[] weights = [TestData.Of<T>(0.5f), TestData.Of<T>(-2f), TestData.Of<T>(1f), TestData.Of<T>(2f)];
        var codes = new sbyte[4];
        var scales = new T[2];
        Int8Quantizer.QuantizePerChannel<T>(weights, 2, 2, codes, scales);
        float s0 = TestData.F(TestData.Of<T>(2f / 127f));
        using (Assert.EnterMultipleScope())
        {
            Assert.That(TestData.F(scales[0]), Is.EqualTo(s0));
            Assert.That(codes[1], Is.EqualTo((sbyte)-127));
            Assert.That(codes[3], Is.EqualTo((sbyte)127));
            Assert.That(codes[0], Is.EqualTo((sbyte)Math.Clamp(MathF.Round(0.5f / s0), -127, 127)));
        }
    }

    [Test]
    public void Quantize_ZeroRow_GivesZeroScaleAndZeroCodes()
    {
        T[] weights = TestData.Gaussian<T>(3 * 40, 9);
        weights.AsSpan(40, 40).Fill(TestData.Of<T>(0f));
        var codes = new sbyte[120];
        var scales = new T[3];
        Int8Quantizer.QuantizePerChannel<T>(weights, 3, 40, codes, scales);
        Assert.That(TestData.F(scales[1]), Is.Zero);
        Assert.That(codes.AsSpan(40, 40).ToArray(), Is.All.Zero);
        AssertMatchesReference(weights, 3, 40);
    }

    [Test]
    public void Quantize_TinyWeights_ScaleRoundingWouldOverflow_CodesAreClampedNeverWrapped()
    {
        // In Half and BFloat16 a tiny absmax gives a subnormal scale that rounds down by a large factor,
        // so |w| / scale exceeds 127.5; without the clamp the code would be 128 and wrap to -128.
        // absmax / 127 = 12.45 subnormal steps, which rounds down to 12 steps: |w| / scale = 127 * 12.45 / 12 = 131.8.
        float tiny = typeof(T) == typeof(Half) ? 127f * 12.45f * MathF.ScaleB(1f, -24)
                   : typeof(T) == typeof(BFloat16) ? 127f * 12.45f * MathF.ScaleB(1f, -133) : 1e-30f;
        var weights = new T[64];
        for (int i = 0; i < weights.Length; i++) weights[i] = TestData.Of<T>((i % 2 == 0 ? tiny : -tiny) * (i < 2 ? 1 : 1 - i / 128f));
        var codes = new sbyte[64];
        var scales = new T[1];
        Int8Quantizer.QuantizePerChannel<T>(weights, 1, 64, codes, scales);
        if (typeof(T) != typeof(float))
        {
            float quotient = TestData.F(weights[0]) / TestData.F(scales[0]);
            Assert.That(quotient, Is.GreaterThan(127.5f), "the case must exercise the clamp");
        }

        Assert.That(codes, Is.All.InRange(-127, 127));
        Assert.That(codes[0], Is.EqualTo((sbyte)127));
        Assert.That(codes[1], Is.EqualTo((sbyte)-127));
        AssertMatchesReference(weights, 1, 64);
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void Quantize_NonFiniteWeight_ThrowsNamingRowAndColumn_AndWritesNothing(float bad)
    {
        T[] weights = TestData.Gaussian<T>(4 * 300, 1);
        weights[2 * 300 + 123] = TestData.Of<T>(bad);
        var codes = new sbyte[1200];
        codes.AsSpan().Fill(5);
        var scales = new T[4];
        scales.AsSpan().Fill(TestData.Of<T>(7f));
        var ex = Assert.Throws<ArgumentException>(() => Int8Quantizer.QuantizePerChannel<T>(weights, 4, 300, codes, scales));
        Assert.That(ex!.Message, Does.Contain("row 2").And.Contain("column 123"));
        Assert.That(codes, Is.All.EqualTo((sbyte)5));
        Assert.That(scales.Select(TestData.F), Is.All.EqualTo(7f));
    }

    [Test]
    public void Quantize_ValidationErrors()
    {
        T[] weights = TestData.Gaussian<T>(12, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 0, 12, new sbyte[12], new T[1]),
                        Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 3, -4, new sbyte[12], new T[3]),
                        Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 65536, 65536, new sbyte[12], new T[3]),
                        Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 3, 5, new sbyte[15], new T[3]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("weights"));
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 3, 4, new sbyte[11], new T[3]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("quantized"));
            Assert.That(() => Int8Quantizer.QuantizePerChannel<T>(weights, 3, 4, new sbyte[12], new T[2]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("scales"));
        }
    }

    [Test]
    public void Dequantize_IsCodeTimesScale_AndMatchesReference()
    {
        foreach (int columns in new[] { 1, 7, 31, 32, 33, 100, 1000 })
        {
            int rows = 5;
            sbyte[] codes = TestData.Codes(rows * columns, columns);
            T[] scales = TestData.Uniform<T>(rows, columns, 0.001, 0.1);
            var actual = new T[rows * columns + 1];
            actual[^1] = TestData.Of<T>(3f);
            Int8Quantizer.Dequantize<T>(codes, scales, rows, columns, actual.AsSpan(0, rows * columns));
            var expected = new T[rows * columns];
            Int8Quantizer.DequantizeScalar<T>(codes, scales, rows, columns, expected);
            for (int i = 0; i < expected.Length; i++)
            {
                T direct = TestData.Of<T>(codes[i] * TestData.F(scales[i / columns]));
                if (!TestData.SameBits(actual[i], expected[i]) || !TestData.SameBits(actual[i], direct)) Assert.Fail($"columns {columns}, index {i}");
            }

            Assert.That(TestData.F(actual[^1]), Is.EqualTo(3f));
        }
    }

    [Test]
    public void Dequantize_ValidationErrors()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => Int8Quantizer.Dequantize<T>(new sbyte[6], new T[2], 2, 3, new T[5]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("destination"));
            Assert.That(() => Int8Quantizer.Dequantize<T>(new sbyte[5], new T[2], 2, 3, new T[6]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("quantized"));
            Assert.That(() => Int8Quantizer.Dequantize<T>(new sbyte[6], new T[3], 2, 3, new T[6]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("scales"));
        }
    }

    [Test]
    public void QuantizationError_OnGaussianWeights_IsSmall_AndSnrIsHigh()
    {
        T[] weights = TestData.Gaussian<T>(64 * 256, 3);
        QuantizationError error = QuantizationError.ForInt8PerChannel<T>(weights, 64, 256);
        // A step is about max|w| / 127 ~ 3.5 / 127, so the mean error is near a quarter of that.
        Assert.That(error.MeanAbsoluteError, Is.GreaterThan(0).And.LessThan(0.012));
        Assert.That(error.MaxAbsoluteError, Is.LessThan(0.03));
        Assert.That(error.SignalToNoiseDb, Is.GreaterThan(typeof(T) == typeof(BFloat16) ? 30 : 35));
    }
}

public class Int8QuantizerTypeTests
{
    [Test]
    public void UnsupportedElementType_ThrowsNotSupported()
    {
        var ex = Assert.Throws<NotSupportedException>(() => Int8Quantizer.QuantizePerChannel<double>(new double[4], 2, 2, new sbyte[4],
                                                                                                     new double[2]));
        Assert.That(ex!.Message, Does.Contain("float").And.Contain("Half").And.Contain("BFloat16"));
        Assert.Throws<NotSupportedException>(() => W8A16.MatMul<int>(new int[2], new sbyte[2], new int[1], [], new int[1], 2, 1));
        Assert.Throws<NotSupportedException>(() => _ = new W8A16Linear<double>(2, 2));
    }

    [Test]
    public void QuantizationError_ExactCopy_HasInfiniteSnr()
    {
        float[] w = [1f, -2f, 3f];
        QuantizationError e = QuantizationError.Compute<float>(w, w);
        Assert.That(e.MeanAbsoluteError, Is.Zero);
        Assert.That(e.SignalToNoiseDb, Is.EqualTo(double.PositiveInfinity));
        Assert.Throws<ArgumentException>(() => QuantizationError.Compute<float>(w, new float[2]));
    }
}
