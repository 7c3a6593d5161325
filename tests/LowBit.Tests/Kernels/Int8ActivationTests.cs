using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

/// <summary>
/// <see cref="ActivationPrecision.Int8"/>: the activation quantizer exactly, and every layer against a float64 oracle on
/// the dequantized activations <c>sx * xq</c> and dequantized weights (DESIGN.md, "Int8 activations"), so the integer
/// part is held exact and only float32 summation may differ.
/// </summary>
public unsafe class Int8ActivationTests
{
    /// <summary>The contract's quantizer, written out independently of the library: codes and scales per block of 32.</summary>
    internal static (sbyte[] Codes, float[] Scales) Quantize(ReadOnlySpan<float> x)
    {
        var codes = new sbyte[x.Length];
        var scales = new float[(x.Length + 31) / 32];
        for (int b = 0; b < scales.Length; b++)
        {
            int start = b * 32, end = Math.Min(x.Length, start + 32);
            float m = 0;
            bool finite = true;
            for (int i = start; i < end; i++)
            {
                finite &= float.IsFinite(x[i]);
                if (Math.Abs(x[i]) > m) m = Math.Abs(x[i]);
            }

            float sx = finite ? m / 127f : float.NaN;
            scales[b] = sx;
            for (int i = start; i < end; i++)
            {
                codes[i] = sx == 0 || !finite ? (sbyte)0 : (sbyte)Math.Clamp(Math.Round(x[i] / sx, MidpointRounding.ToEven), -127, 127);
            }
        }

        return (codes, scales);
    }

    private static float[] Activations(int count, int seed, string kind)
    {
        float[] x = TestData.Gaussian<float>(count, seed);
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            x[i] = kind switch
            {
                "outliers" => i % 37 == 5 ? x[i] * 100 : x[i],               // a few entries 100x the rest, as in transformer activations
                "tiny" => x[i] * 1e-30f,
                "huge" => x[i] * 1e30f,
                "zero blocks" => (i / 32) % 3 == 1 ? 0 : x[i],
                "ties" => (float)(random.Next(-254, 255) * 0.5),            // many codes exactly halfway between integers
                _ => x[i],
            };
        }

        return x;
    }

    [Test]
    public void Quantizer_VectorizedEqualsTheContract_ForEveryLengthAndKindOfInput()
    {
        foreach (string kind in new[] { "gaussian", "outliers", "tiny", "huge", "zero blocks", "ties" })
        {
            foreach (int count in Enumerable.Range(0, 130).Concat([255, 256, 257, 1000, 4096]))
            {
                float[] x = Activations(count, count + 7, kind);
                (sbyte[] expectedCodes, float[] expectedScales) = Quantize(x);
                int blocks = ActivationQuantizer.Blocks(count);
                var codes = new sbyte[count + 1];
                var scales = new float[blocks + 1];
                var sums = new int[blocks + 1];
                codes[^1] = 99;
                scales[^1] = 99;
                fixed (float* px = x)
                fixed (sbyte* pc = codes)
                fixed (float* ps = scales)
                fixed (int* pu = sums)
                {
                    ActivationQuantizer.QuantizeRow(px, count, pc, ps, pu);
                }

                Assert.That(codes[..count], Is.EqualTo(expectedCodes), $"{kind} {count}: codes");
                for (int b = 0; b < blocks; b++)
                {
                    Assert.That(BitConverter.SingleToUInt32Bits(scales[b]), Is.EqualTo(BitConverter.SingleToUInt32Bits(expectedScales[b])),
                                $"{kind} {count}: scale {b}");
                    Assert.That(sums[b], Is.EqualTo(expectedCodes.Skip(b * 32).Take(32).Sum(c => c)), $"{kind} {count}: sum {b}");
                }

                Assert.That((codes[^1], scales[^1]), Is.EqualTo(((sbyte)99, 99f)), $"{kind} {count}: wrote past the end");
            }
        }
    }

    [Test]
    public void Quantizer_NonFiniteBlock_GetsNaNScaleAndZeroCodes_OtherBlocksUntouched()
    {
        float[] x = Activations(96, 3, "gaussian");
        x[40] = float.PositiveInfinity;
        x[70] = float.NaN;
        (sbyte[] expected, float[] expectedScales) = Quantize(x);
        var codes = new sbyte[96];
        var scales = new float[3];
        var sums = new int[3];
        fixed (float* px = x)
        fixed (sbyte* pc = codes)
        fixed (float* ps = scales)
        fixed (int* pu = sums)
        {
            ActivationQuantizer.QuantizeRow(px, 96, pc, ps, pu);
        }

        Assert.That(float.IsNaN(scales[1]) && float.IsNaN(scales[2]) && float.IsFinite(scales[0]), Is.True);
        Assert.That(codes, Is.EqualTo(expected));
        Assert.That(codes[32..].All(c => c == 0), Is.True);
    }

    /// <summary>
    /// The oracle: <c>sum_i (sx * xq)_i * w'_i + bias</c> in float64 with w' the dequantized weights, and the README's
    /// tolerance on the magnitude of the terms the kernels add (zero points and offsets fold as float terms per group):
    /// <c>eps |ref| + 1e-6 sum |sx xq| ((|q| + z) s + |m|)</c>.
    /// </summary>
    private static void Check(float[] input, int batch, int inFeatures, int outFeatures, float[] bias, ReadOnlySpan<float> output,
                              Func<int, int, double> weight, Func<int, int, double> magnitude, string label)
    {
        for (int b = 0; b < batch; b++)
        {
            (sbyte[] codes, float[] scales) = Quantize(input.AsSpan(b * inFeatures, inFeatures));
            for (int o = 0; o < outFeatures; o++)
            {
                double expected = bias.Length > 0 ? bias[o] : 0, size = 0;
                for (int i = 0; i < inFeatures; i++)
                {
                    double x = (double)scales[i / 32] * codes[i];
                    expected += x * weight(o, i);
                    size += Math.Abs(x) * magnitude(o, i);
                }

                double actual = output[b * outFeatures + o];
                double tolerance = TestData.Epsilon<float>() * Math.Abs(expected) + 1e-6 * size + TestData.RoundingFloor<float>();
                if (!(Math.Abs(actual - expected) <= tolerance)) Assert.Fail($"{label}: [{b},{o}] = {actual}, expected {expected} +- {tolerance}");
            }
        }
    }

    internal static void CheckInt8Layer(W8A16Linear<float> layer, float[] input, float[] bias, ReadOnlySpan<float> output, int batch, string label)
    {
        int n = layer.InFeatures;
        sbyte[] q = layer.Int8Weights.ToArray();
        float[] s = layer.Scales.ToArray();
        Check(input, batch, n, layer.OutFeatures, bias, output, (o, i) => (double)q[o * n + i] * s[o], (o, i) => Math.Abs(q[o * n
            + i] * (double)s[o]), label);
    }

    internal static void CheckLowBitLayer(LowBitLinear<float> layer, float[] input, float[] bias, ReadOnlySpan<float> output, int batch, string label)
    {
        int n = layer.InFeatures, groups = n / layer.GroupSize;
        byte[] codes = new byte[layer.OutFeatures * n];
        int rowBytes = BitPacking.GetPackedLength(n, layer.Bits);
        for (int o = 0; o < layer.OutFeatures; o++) BitPacking.Unpack(layer.PackedWeights.Slice(o * rowBytes, rowBytes), layer.Bits,
                                                                      codes.AsSpan(o * n, n));
        float[] s = layer.Scales.ToArray();
        byte[] z = layer.ZeroPoints.ToArray();
        float[] m = layer.HasOffsets ? layer.Offsets.ToArray() : new float[s.Length];
        Check(input, batch, n, layer.OutFeatures, bias, output,
              (o, i) => (codes[o * n + i] - (double)z[o * groups + i / layer.GroupSize]) * s[o * groups + i / layer.GroupSize] - m[o * groups
                  + i / layer.GroupSize],
              (o, i) => (codes[o * n + i] + (double)z[o * groups + i / layer.GroupSize]) * Math.Abs(s[o * groups + i / layer.GroupSize])
                        + Math.Abs(m[o * groups + i / layer.GroupSize]), label);
    }

    public static IEnumerable<TestCaseData> Layers()
    {
        // (bits, group size, in features): per-channel int8 (bits 0), and group-wise layers the vector kernels take, groups
        // under 32 and a short last block (the scalar kernel), at widths that walk whole and partial 64/128/256-weight steps.
        foreach ((int bits, int group, int n) in new[]
        {
            (0, 0, 64), (0, 0, 96), (0, 0, 1024), (0, 0, 40), (0, 0, 257),
            (4, 32, 128), (4, 64, 256), (4, 128, 1024), (4, 32, 96), (4, 16, 64), (4, 8, 40),
            (2, 32, 256), (2, 64, 512), (2, 128, 1024), (2, 32, 160), (2, 16, 64),
            (8, 32, 128), (8, 32, 96),
        })
        {
            yield return new TestCaseData(bits, group,
                                          n).SetName($"Forward_Int8_MatchesOracle({(bits == 0 ? "int8 per channel" : $"{bits}-bit g{group}")}, {n})");
        }
    }

    [TestCaseSource(nameof(Layers))]
    public void Forward_Int8_MatchesOracle(int bits, int groupSize, int inFeatures)
    {
        foreach (int outFeatures in new[] { 1, 7, 34 })
        {
            float[] weights = TestData.Gaussian<float>(outFeatures * inFeatures, bits * 100 + inFeatures + outFeatures, std: 0.05);
            float[] bias = outFeatures == 7 ? [] : TestData.Gaussian<float>(outFeatures, 5);
            W8A16Linear<float>? int8 = bits == 0 ? W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures, bias) : null;
            LowBitLinear<float>? lowBit = bits == 0 ? null : LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
            foreach (int batch in new[] { 1, 2, 3, 4, 5, 9, 70 })
            {
                foreach (string kind in new[] { "gaussian", "outliers", "zero blocks" })
                {
                    float[] input = Activations(batch * inFeatures, batch * 13 + outFeatures, kind);
                    var output = new float[batch * outFeatures + 1];
                    output[^1] = 77f;
                    Span<float> y = output.AsSpan(0, batch * outFeatures);
                    string label = $"{(bits == 0 ? "int8" : $"{bits}-bit g{groupSize}")} {batch}x{inFeatures}->{outFeatures} {kind}";
                    if (int8 is not null)
                    {
                        int8.Forward(input, y, 0, ActivationPrecision.Int8);
                        CheckInt8Layer(int8, input, bias, y, batch, label);
                    }
                    else
                    {
                        lowBit!.Forward(input, y, 0, ActivationPrecision.Int8);
                        CheckLowBitLayer(lowBit, input, bias, y, batch, label);
                    }

                    Assert.That(output[^1], Is.EqualTo(77f), $"{label}: wrote past the output");
                }
            }
        }
    }

    /// <summary>
    /// The README's int8-activation bound (zero points and offsets folded as float terms per group) over the sweep issue 21
    /// asked for: T = float, batches 1 to 17, 64 to 256 inputs, 2 and 4 bits, groups of 16 to 64.
    /// </summary>
    [Test]
    public void Forward_Int8_MeetsTheStatedBound_Sweep([Values(2, 4)] int bits, [Values(16, 32, 64)] int groupSize)
    {
        foreach (int inFeatures in new[] { 64, 128, 192, 256 })
        {
            const int outFeatures = 12;
            float[] weights = TestData.Gaussian<float>(outFeatures * inFeatures, bits * 1000 + groupSize + inFeatures, std: 0.05);
            float[] bias = TestData.Gaussian<float>(outFeatures, 3);
            var layer = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
            for (int batch = 1; batch <= 17; batch++)
            {
                float[] input = Activations(batch * inFeatures, batch * 31 + inFeatures, batch % 3 == 0 ? "outliers" : "gaussian");
                var y = new float[batch * outFeatures];
                layer.Forward(input, y, 0, ActivationPrecision.Int8);
                CheckLowBitLayer(layer, input, bias, y, batch, $"{bits}-bit g{groupSize} {batch}x{inFeatures}");
            }
        }
    }

    [Test]
    public void Forward_Int8_ExtremeMagnitudes_StayWithinTolerance()
    {
        const int outFeatures = 9, inFeatures = 256;
        float[] weights = TestData.Gaussian<float>(outFeatures * inFeatures, 4, std: 0.05);
        var int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        var four = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 64);
        foreach (string kind in new[] { "tiny", "huge", "ties" })
        {
            float[] input = Activations(2 * inFeatures, 17, kind);
            var y = new float[2 * outFeatures];
            int8.Forward(input, y, 1, ActivationPrecision.Int8);
            CheckInt8Layer(int8, input, [], y, 2, $"int8 {kind}");
            four.Forward(input, y, 1, ActivationPrecision.Int8);
            CheckLowBitLayer(four, input, [], y, 2, $"4-bit {kind}");
        }
    }

    [Test]
    public void Forward_Int8_ThreadedEqualsSingleThreadedBitForBit_AndW8A16MatMulMeetsTheOracle()
    {
        float[] weights = TestData.Gaussian<float>(1024 * 512, 8, std: 0.05);
        var layer = W8A16Linear<float>.FromWeights(weights, 1024, 512, TestData.Gaussian<float>(1024, 9));
        float[] x = TestData.Gaussian<float>(6 * 512, 10);
        var one = new float[6 * 1024];
        var all = new float[6 * 1024];
        var direct = new float[6 * 1024];
        layer.Forward(x, one, 1, ActivationPrecision.Int8);
        layer.Forward(x, all, 0, ActivationPrecision.Int8);
        W8A16.MatMul<float>(x, layer.Int8Weights, layer.Scales, layer.Bias, direct, 512, 1024, 0, ActivationPrecision.Int8);
        Assert.That(all, Is.EqualTo(one));
        // The static MatMul has no layer to keep an interleaved copy in, so it may run another kernel than the layer
        // (int8act-rows8-vnni-256 on AVX-VNNI): the same contract, not the same rounding.
        CheckInt8Layer(layer, x, layer.Bias.ToArray(), one, 6, "layer");
        CheckInt8Layer(layer, x, layer.Bias.ToArray(), direct, 6, "W8A16.MatMul");
    }

    /// <summary>
    /// A layout only the scalar integer kernel takes (InFeatures not a multiple of 32) runs as a float kernel on the
    /// dequantized input: the static MatMul and the layer agree, match the oracle, and leave the rest of a longer output alone.
    /// </summary>
    [Test]
    public void MatMul_Int8_ShortLastBlock_ThroughTheFloatKernel_MatchesTheLayerAndLeavesTheRestAlone()
    {
        const int inFeatures = 1000, outFeatures = 96, batch = 3;
        float[] weights = TestData.Gaussian<float>(outFeatures * inFeatures, 21, std: 0.05);
        float[] bias = TestData.Gaussian<float>(outFeatures, 22);
        var layer = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures, bias);
        float[] x = Activations(batch * inFeatures, 23, "outliers");
        var viaLayer = new float[batch * outFeatures];
        layer.Forward(x, viaLayer, 1, ActivationPrecision.Int8);
        var direct = new float[batch * outFeatures + 5];
        direct.AsSpan(batch * outFeatures).Fill(77f);
        W8A16.MatMul<float>(x, layer.Int8Weights, layer.Scales, layer.Bias, direct, inFeatures, outFeatures, 0, ActivationPrecision.Int8);
        Assert.That(direct.AsSpan(0, batch * outFeatures).ToArray(), Is.EqualTo(viaLayer));
        Assert.That(direct.AsSpan(batch * outFeatures).ToArray(), Is.All.EqualTo(77f), "MatMul wrote past batch x OutFeatures");
        CheckInt8Layer(layer, x, bias, viaLayer, batch, "int8 1000 -> 96 via float");
    }

    [Test]
    public void Forward_Int8_HalfAndBFloat16_RoundTheFloatResultOnce()
    {
        float[] weights = TestData.Gaussian<float>(33 * 128, 11, std: 0.05);
        var layer = LowBitLinear<float>.FromWeights(weights, 33, 128, 4, 32);
        var half = LowBitLinear<Half>.FromQuantized(layer.PackedWeights, layer.Scales.ToArray().Select(v => (Half)v).ToArray(), layer.ZeroPoints, 33,
                                                    128, 4, 32);
        float[] x = Activations(3 * 128, 12, "gaussian").Select(v => (float)(Half)v).ToArray();
        var expected = new float[3 * 33];
        var asFloat = LowBitLinear<float>.FromQuantized(half.PackedWeights, half.Scales.ToArray().Select(v => (float)v).ToArray(), half.ZeroPoints,
                                                        33, 128, 4, 32);
        asFloat.Forward(x, expected, 1, ActivationPrecision.Int8);
        var y = new Half[3 * 33];
        half.Forward(x.Select(v => (Half)v).ToArray(), y, 1, ActivationPrecision.Int8);
        for (int i = 0; i < y.Length; i++) Assert.That(y[i], Is.EqualTo((Half)expected[i]), $"element {i}");
    }

    [Test]
    public void Forward_UndefinedActivationPrecision_Throws()
    {
        var layer = W8A16Linear<float>.FromWeights(new float[64], 2, 32);
        var lowBit = LowBitLinear<float>.FromWeights(new float[64], 2, 32, 4, 32);
        var y = new float[2];
        Assert.That(() => layer.Forward(new float[32], y, 1, (ActivationPrecision)7), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => lowBit.Forward(new float[32], y, 1, (ActivationPrecision)(-1)), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => W8A16.MatMul<float>(new float[32], new sbyte[64], new float[2], [], y, 32, 2, 1, (ActivationPrecision)2),
                    Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
