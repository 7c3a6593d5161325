using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Quantization;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class GroupQuantizerTests<T>
{
    private static void AssertMatchesReference(T[] weights, int rows, int columns, int bits, int groupSize)
    {
        int groups = rows * columns / groupSize;
        var codes = new byte[rows * columns + 1];
        var scales = new T[groups + 1];
        var zeros = new byte[groups + 1];
        codes[^1] = zeros[^1] = 0xEE;
        GroupQuantizer.Quantize<T>(weights, rows, columns, bits, groupSize, codes.AsSpan(0, rows * columns), scales.AsSpan(0, groups), zeros.AsSpan(0,
            groups));

        var expectedCodes = new byte[rows * columns];
        var expectedScales = new T[groups];
        var expectedZeros = new byte[groups];
        GroupQuantizer.QuantizeScalar<T>(weights, rows, columns, bits, groupSize, expectedCodes, expectedScales, expectedZeros);

        string label = $"{rows}x{columns} bits={bits} group={groupSize}";
        for (int g = 0; g < groups; g++)
        {
            if (!TestData.SameBits(scales[g], expectedScales[g]) || zeros[g] != expectedZeros[g]) Assert.Fail($"{label}: group {g}");
        }

        Assert.That(codes.AsSpan(0, rows * columns).SequenceEqual(expectedCodes), label);
        Assert.That(codes.AsSpan(0, rows * columns).ToArray(), Is.All.LessThan(1 << bits), label);
        Assert.That(codes[^1], Is.EqualTo(0xEE));
        Assert.That(zeros[^1], Is.EqualTo(0xEE));
    }

    [Test]
    public void Quantize_AllBitsAndGroupSizes_MatchScalarReference()
    {
        foreach (int bits in new[] { 2, 4, 8 })
        {
            foreach (int groupSize in new[] { 8, 32, 64, 128, 256 })
            {
                AssertMatchesReference(TestData.Gaussian<T>(5 * 256, bits * 1000 + groupSize, std: 0.02), 5, 256, bits, groupSize);
            }
        }
    }

    [Test]
    public void Quantize_GroupEqualsColumns_AndOneByEight()
    {
        AssertMatchesReference(TestData.Gaussian<T>(3 * 40, 1), 3, 40, 4, 40);
        AssertMatchesReference(TestData.Gaussian<T>(8, 2), 1, 8, 2, 8);
    }

    [Test]
    public void Quantize_AllPositiveOrAllNegativeOrZeroGroups_KeepZeroExact()
    {
        T[] weights = new T[3 * 8];
        for (int c = 0; c < 8; c++)
        {
            weights[c] = TestData.Of<T>(0.1f + c * 0.05f);       // all positive: lo = 0, z = 0
            weights[8 + c] = TestData.Of<T>(-0.1f - c * 0.05f);  // all negative: hi = 0, z = qmax
        }

        var codes = new byte[24];
        var scales = new T[3];
        var zeros = new byte[3];
        GroupQuantizer.Quantize<T>(weights, 3, 8, 4, 8, codes, scales, zeros);
        Assert.That(zeros, Is.EqualTo(new byte[] { 0, 15, 0 }));
        Assert.That(TestData.F(scales[2]), Is.Zero, "an all-zero group gets scale 0");
        Assert.That(codes.AsSpan(16, 8).ToArray(), Is.All.Zero);
        Assert.That(codes[15], Is.EqualTo(0), "the most negative weight maps to code 0");
        Assert.That(codes[7], Is.EqualTo(15), "the largest weight maps to the top code");
        AssertMatchesReference(weights, 3, 8, 4, 8);
    }

    [Test]
    public void Dequantize_IsCodeMinusZeroTimesScale_AndErrorIsBoundedByHalfAStep()
    {
        int rows = 4, columns = 128, groupSize = 32;
        T[] weights = TestData.Gaussian<T>(rows * columns, 7, std: 0.05);
        foreach (int bits in new[] { 2, 4, 8 })
        {
            int groups = rows * columns / groupSize;
            var codes = new byte[rows * columns];
            var scales = new T[groups];
            var zeros = new byte[groups];
            GroupQuantizer.Quantize<T>(weights, rows, columns, bits, groupSize, codes, scales, zeros);
            var restored = new T[rows * columns];
            GroupQuantizer.Dequantize<T>(codes, scales, zeros, rows, columns, groupSize, restored);
            for (int i = 0; i < restored.Length; i++)
            {
                int g = i / groupSize;
                float s = TestData.F(scales[g]);
                T expected = TestData.Of<T>((codes[i] - zeros[g]) * s);
                Assert.That(TestData.SameBits(restored[i], expected), Is.True, $"bits {bits} index {i}");
                // Rounding to the grid costs at most half a step (plus T's own rounding of the result).
                double error = Math.Abs(TestData.F(weights[i]) - TestData.F(restored[i]));
                Assert.That(error, Is.LessThanOrEqualTo(0.5 * s * 1.02 + TestData.Epsilon<T>() * Math.Abs(TestData.F(weights[i])) + 1e-7),
                            $"bits {bits} index {i}");
            }
        }
    }

    [Test]
    public void SnrOrdering_Int8PerChannel_Above_4BitGroup64_Above_2BitGroup32()
    {
        int rows = 64, columns = 512;
        T[] weights = TestData.Gaussian<T>(rows * columns, 11, std: 0.02);
        double int8 = QuantizationError.ForInt8PerChannel<T>(weights, rows, columns).SignalToNoiseDb;
        double four = Snr(weights, rows, columns, 4, 64);
        double two = Snr(weights, rows, columns, 2, 32);
        TestContext.Out.WriteLine($"{typeof(T).Name}: SNR int8 per-channel {int8:0.0} dB, 4-bit group 64 {four:0.0} dB, 2-bit group 32 {two:0.0} dB");
        Assert.That(int8, Is.GreaterThan(four));
        Assert.That(four, Is.GreaterThan(two));
        Assert.That(two, Is.GreaterThan(3));
    }

    private static double Snr(T[] weights, int rows, int columns, int bits, int groupSize)
    {
        int groups = rows * columns / groupSize;
        var codes = new byte[weights.Length];
        var scales = new T[groups];
        var zeros = new byte[groups];
        GroupQuantizer.Quantize<T>(weights, rows, columns, bits, groupSize, codes, scales, zeros);
        var restored = new T[weights.Length];
        GroupQuantizer.Dequantize<T>(codes, scales, zeros, rows, columns, groupSize, restored);
        return QuantizationError.Compute<T>(weights, restored).SignalToNoiseDb;
    }

    [Test]
    public void Quantize_NonFinite_ThrowsNamingRowAndColumn_AndWritesNothing()
    {
        T[] weights = TestData.Gaussian<T>(2 * 64, 3);
        weights[64 + 17] = TestData.Of<T>(float.NegativeInfinity);
        var codes = new byte[128];
        codes.AsSpan().Fill(9);
        var ex = Assert.Throws<ArgumentException>(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 32, codes, new T[4], new byte[4]));
        Assert.That(ex!.Message, Does.Contain("row 1").And.Contain("column 17"));
        Assert.That(codes, Is.All.EqualTo((byte)9));
    }

    [Test]
    public void Quantize_ValidationErrors()
    {
        T[] weights = TestData.Gaussian<T>(2 * 64, 3);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 3, 32, new byte[128], new T[4], new byte[4]),
                Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("bits"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 12, new byte[128], new T[16], new byte[16]),
                Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("groupSize"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 48, new byte[128], new T[16], new byte[16]),
                Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("groupSize"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 32, new byte[127], new T[4], new byte[4]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("codes"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 32, new byte[128], new T[3], new byte[4]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("scales"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 64, 4, 32, new byte[128], new T[4], new byte[3]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("zeroPoints"));
            Assert.That(() => GroupQuantizer.Quantize<T>(weights, 2, 32, 4, 32, new byte[128], new T[4], new byte[4]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("weights"));
            Assert.That(() => GroupQuantizer.Dequantize<T>(new byte[128], new T[4], new byte[4], 2, 64, 32, new T[127]),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("destination"));
        }
    }
}
