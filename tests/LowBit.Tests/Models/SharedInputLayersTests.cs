using LowBit.Models;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Models;

/// <summary>
/// Layers of one input stacked into one (<see cref="SharedInputLayers"/>): each part's output is what the part computes
/// alone, in both precisions and at every batch; parts of different formats, or dense ones, run one by one.
/// </summary>
public class SharedInputLayersTests
{
    private const int In = 256;

    private static float[] Weights(int rows, int seed) => TestData.Gaussian<float>(rows * In, seed, std: 0.1);

    private static LowBitLinear<float> Grouped(int rows, int seed, int bits = 4, int group = 32, bool bias = false, bool offsets = false)
    {
        var layer = LowBitLinear<float>.FromWeights(Weights(rows, seed), rows, In, bits, group,
                                                    bias ? TestData.Gaussian<float>(rows, seed + 100, std: 0.5) : default);
        if (!offsets) return layer;
        float[] offsetValues = TestData.Gaussian<float>(layer.Scales.Length, seed + 200, std: 0.01);
        return LowBitLinear<float>.FromQuantized(layer.PackedWeights, layer.Scales, layer.ZeroPoints, rows, In, bits, group, layer.Bias,
                                                 offsetValues);
    }

    private static W8A16Linear<float> Int8(int rows, int seed, bool bias = true) =>
        W8A16Linear<float>.FromWeights(Weights(rows, seed), rows, In, bias ? TestData.Gaussian<float>(rows, seed + 100, std: 0.5) : default);

    private static IEnumerable<TestCaseData> Stackable()
    {
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(64, 1), Grouped(16, 2), Grouped(16, 3)])).SetName("Q4_K_V");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(48, 1, bias: true), Grouped(8, 2), Grouped(24, 3, bias: true)]))
            .SetName("SomeBiases");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(40, 1, offsets: true), Grouped(40, 2, offsets: true)]))
            .SetName("Offsets_GateUp");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(32, 1, bits: 2, group: 64), Grouped(96, 2, bits: 2, group: 64)]))
            .SetName("TwoBit");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Int8(32, 1), Int8(8, 2, bias: false), Int8(8, 3)])).SetName("Int8");
    }

    [TestCaseSource(nameof(Stackable))]
    public void StackedParts_GiveEachPartsOwnOutput(Func<ILinearLayer<float>[]> make)
    {
        ILinearLayer<float>[] parts = make(), reference = make();
        var shared = new SharedInputLayers(parts);
        Assert.That(shared.IsStacked, Is.True);
        Assert.That(shared.Widths, Is.EqualTo(reference.Select(p => p.OutFeatures)));
        Assert.That(shared.WeightBytes, Is.GreaterThanOrEqualTo(reference.Sum(p => p.WeightBytes)));
        foreach (ActivationPrecision activations in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
        {
            foreach (int rows in new[] { 1, 3, 17 })
            {
                float[] input = TestData.Gaussian<float>(rows * In, seed: rows, std: 1);
                float[][] outputs = reference.Select(p => new float[rows * p.OutFeatures]).ToArray();
                var scratch = new float[shared.ScratchLength(rows)];
                shared.Forward(input, rows, scratch, 1, activations, outputs[0], outputs[1], outputs.Length > 2 ? outputs[2] : default);
                for (int p = 0; p < reference.Length; p++)
                {
                    var expected = new float[rows * reference[p].OutFeatures];
                    reference[p].Forward(input, expected, 1, activations);
                    for (int i = 0; i < expected.Length; i++)
                    {
                        Assert.That(outputs[p][i], Is.EqualTo(expected[i]).Within(1e-5f * (1 + Math.Abs(expected[i]))),
                                    $"{activations}, {rows} rows, part {p}, output {i}");
                    }
                }
            }
        }
    }

    private static IEnumerable<TestCaseData> NotStackable()
    {
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(32, 1), Grouped(32, 2, group: 64)])).SetName("GroupSizes");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(32, 1), Grouped(32, 2, bits: 2)])).SetName("Bits");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(32, 1), Grouped(32, 2, offsets: true)])).SetName("OffsetsInOne");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() => [Grouped(32, 1), Int8(32, 2)])).SetName("Kinds");
        yield return new TestCaseData((Func<ILinearLayer<float>[]>)(() =>
            [DenseLinear<float>.FromWeights(Weights(32, 1), 32, In), DenseLinear<float>.FromWeights(Weights(32, 2), 32, In)])).SetName("Dense");
    }

    [TestCaseSource(nameof(NotStackable))]
    public void PartsThatDiffer_RunOneByOne_WithTheirOwnOutputs(Func<ILinearLayer<float>[]> make)
    {
        ILinearLayer<float>[] parts = make(), reference = make();
        var shared = new SharedInputLayers(parts);
        Assert.That(shared.IsStacked, Is.False);
        Assert.That(shared.ScratchLength(5), Is.Zero);
        Assert.That(shared.WeightBytes, Is.EqualTo(reference.Sum(p => p.WeightBytes)));
        float[] input = TestData.Gaussian<float>(5 * In, seed: 5, std: 1);
        float[] a = new float[5 * 32], b = new float[5 * 32], expectedA = new float[a.Length], expectedB = new float[b.Length];
        shared.Forward(input, 5, [], 1, ActivationPrecision.Int8, a, b);
        reference[0].Forward(input, expectedA, 1, ActivationPrecision.Int8);
        reference[1].Forward(input, expectedB, 1, ActivationPrecision.Int8);
        Assert.That(a, Is.EqualTo(expectedA));
        Assert.That(b, Is.EqualTo(expectedB));
    }
}
