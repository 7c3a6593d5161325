using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

/// <summary>
/// Every kernel of <see cref="KernelRegistry"/> that this machine runs, forced on layers it takes, against the float64
/// oracle: a kernel added to the table is tested the day it is added, and breaking any kernel fails its own case here,
/// whatever the plans would choose. The CI reruns with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and
/// DOTNET_EnableHWIntrinsic=0 reach the narrower kernels (the wider ones are skipped there).
/// </summary>
public class KernelRegistryTests
{
    public static IEnumerable<TestCaseData> Kernels() =>
        KernelRegistry.Kernels.Select(k => new TestCaseData(k.Name).SetName($"Kernel_{k.Name}_MatchesFloat64Oracle"));

    /// <summary>Layer shapes to try (out x in, group sizes): edges of blocks, slices, panels and work items.</summary>
    private static readonly (int Out, int In)[] Shapes = [(37, 128), (33, 192), (300, 384), (70, 512), (45, 1024), (820, 2560)];

    private static readonly int[] GroupSizes = [8, 16, 32, 64, 128, 256];

    private static readonly int[] Batches = [1, 2, 3, 5, 6, 13, 16, 17, 30];

    [TestCaseSource(nameof(Kernels))]
    public void Kernel_MatchesFloat64Oracle(string name)
    {
        MatMulKernel kernel = KernelRegistry.Kernels.Single(k => k.Name == name);
        if (!kernel.IsSupported) Assert.Ignore($"{name} needs {kernel.Isa}, which this machine (or the runtime's settings) does not run");
        int cases = 0;
        foreach (WeightFormat format in Enum.GetValues<WeightFormat>())
        {
            // Per format: up to three small layers (other group sizes), then the large one (several column slices and
            // work items) once. LowBitLinearTests and W8A16Tests walk every group layout through the plans.
            int small = 0;
            bool large = false;
            foreach ((int outFeatures, int inFeatures) in Shapes)
            {
                foreach (int groupSize in format == WeightFormat.Int8PerChannel ? [inFeatures] : GroupSizes)
                {
                    var shape = new LayerShape(format, outFeatures, inFeatures, groupSize);
                    if (inFeatures % groupSize != 0 || !kernel.Takes(shape)) continue;
                    bool isLarge = inFeatures > 1024;
                    if (isLarge ? large : small == 3) continue;
                    if (isLarge) large = true;
                    else small++;
                    Check(kernel, shape, seed: ++cases, isLarge ? [1, 3, 16] : Batches);
                }
            }
        }

        Assert.That(cases, Is.GreaterThan(0), $"{name}: no test shape fits its layout rule ({kernel.Layouts})");
    }

    private static void Check(MatMulKernel kernel, LayerShape shape, int seed, int[] batches)
    {
        int n = shape.InFeatures, m = shape.OutFeatures;
        float[] weights = TestData.Gaussian<float>(m * n, seed, std: 0.05);
        float[] bias = TestData.Gaussian<float>(m, seed + 1);
        bool int8 = shape.Format == WeightFormat.Int8PerChannel;
        W8A16Linear<float>? int8Layer = int8 ? W8A16Linear<float>.FromWeights(weights, m, n, bias) : null;
        LowBitLinear<float>? lowBit = int8 ? null : LowBitLinear<float>.FromWeights(weights, m, n, shape.Bits, shape.GroupSize, bias);
        var dequantized = new float[m * n];
        lowBit?.Dequantize(dequantized);
        foreach (int batch in batches)
        {
            float[] input = TestData.Gaussian<float>(batch * n, seed * 100 + batch);
            var output = new float[batch * m + 1];
            output[^1] = 77f;
            Span<float> y = output.AsSpan(0, batch * m);
            string label = $"{kernel.Name} {shape} batch {batch}";
            bool int8Activations = kernel.Activations == ActivationPrecision.Int8;
            if (int8Layer is not null)
            {
                int8Layer.Run(kernel, input, y, maxThreads: 2);
                if (int8Activations) Int8ActivationTests.CheckInt8Layer(int8Layer, input, bias, y, batch, label);
                else Oracle.CheckInt8<float>(input, int8Layer.Int8Weights, int8Layer.Scales, bias, y, batch, n, m, label);
            }
            else
            {
                lowBit!.Run(kernel, input, y, maxThreads: 2);
                if (int8Activations) Int8ActivationTests.CheckLowBitLayer(lowBit, input, bias, y, batch, label);
                else Oracle.CheckGrouped(lowBit, dequantized, input, bias, y, batch, label);
            }

            Assert.That(output[^1], Is.EqualTo(77f), $"{label}: wrote past the output");
        }

        // The same codes with a float offset per group (GGUF's Q4_1 and K-quants): every kernel folds it with its zero
        // points, so each is tried on the first and the last batch too.
        if (lowBit is null) return;
        float[] offsets = TestData.Gaussian<float>(lowBit.Scales.Length, seed + 2, std: 0.02);
        var withOffsets = LowBitLinear<float>.FromQuantized(lowBit.PackedWeights, lowBit.Scales, lowBit.ZeroPoints, m, n, shape.Bits, shape.GroupSize,
                                                            bias, offsets);
        withOffsets.Dequantize(dequantized);
        foreach (int batch in new[] { batches[0], batches[^1] })
        {
            float[] input = TestData.Gaussian<float>(batch * n, seed * 100 + batch);
            var y = new float[batch * m];
            withOffsets.Run(kernel, input, y, maxThreads: 2);
            string label = $"{kernel.Name} {shape} with offsets, batch {batch}";
            if (kernel.Activations == ActivationPrecision.Int8) Int8ActivationTests.CheckLowBitLayer(withOffsets, input, bias, y, batch, label);
            else Oracle.CheckGrouped(withOffsets, dequantized, input, bias, y, batch, label);
        }
    }

    /// <summary>
    /// Rows that end in half a 64-byte block (384 and 896 columns at 2 bits; 192 at 4 bits): field-512 sums that half
    /// through the 256-bit tiles, alone (128 columns), after whole blocks, and alone in the last column slice (2176 columns
    /// at 2 bits: a slice of 2048, then the half block), at every batch pass (1, pairs, 2 to 4 input rows), every scale layout.
    /// </summary>
    [TestCase(2, 37, 128, 16)]
    [TestCase(2, 300, 384, 32)]
    [TestCase(2, 61, 896, 64)]
    [TestCase(2, 45, 640, 128)]
    [TestCase(2, 71, 2176, 32)]
    [TestCase(4, 33, 192, 8)]
    [TestCase(4, 40, 320, 32)]
    [TestCase(4, 29, 448, 64)]
    public void Field512_RowsEndingInHalfABlock_MatchFloat64Oracle(int bits, int outFeatures, int inFeatures, int groupSize)
    {
        MatMulKernel kernel = KernelRegistry.Field512;
        if (!kernel.IsSupported) Assert.Ignore($"field-512 needs {kernel.Isa}, which this machine (or the runtime's settings) does not run");
        var shape = LayerShape.Grouped(bits, outFeatures, inFeatures, groupSize);
        Assert.That(kernel.Takes(shape), $"field-512 should take {shape}");
        Check(kernel, shape, seed: inFeatures + groupSize, [1, 2, 3, 4, 5, 8, 17]);
    }

    [Test]
    public void Plans_PickTheFirstMatchingRow_AndEveryBatchHasAKernel()
    {
        foreach (var shape in new[] { LayerShape.Int8(64, 256), LayerShape.Grouped(4, 4096, 4096, 64), LayerShape.Grouped(2, 384, 1536, 32),
                                     LayerShape.Grouped(8, 30, 40, 8) })
        {
            KernelPlan plan = KernelPlan.Create(shape);
            foreach (int batch in Enumerable.Range(1, 70))
            {
                MatMulKernel expected = KernelRegistry.Entries.First(e => e.Matches(shape, batch, ActivationPrecision.Float)).Kernel;
                Assert.That(plan.TableRoute(batch, ActivationPrecision.Float), Is.EqualTo(new KernelRoute(expected, false)),
                            $"{shape} batch {batch}: plan {plan}");
            }
        }
    }

    /// <summary>
    /// With int8 activations the route is the registry's first int8 row, except where that is the scalar integer kernel and
    /// a vector float kernel takes the layer: then the float kernel on dequantized activations. Every format, groups of 16 too.
    /// </summary>
    [TestCase(4, 4096, 4096, 64)]
    [TestCase(2, 1536, 384, 32)]
    [TestCase(2, 512, 1024, 16)]
    [TestCase(4, 512, 1024, 16)]
    [TestCase(8, 512, 1024, 32)]
    [TestCase(8, 256, 1000, 1000)]
    public void Int8Routes_FollowTheRegistry_AndDequantizeWhereOnlyTheScalarIntegerKernelTakesTheLayer(int bits, int outFeatures, int inFeatures,
                                                                                                       int groupSize)
    {
        LayerShape shape = bits == 8 && groupSize == inFeatures ? LayerShape.Int8(outFeatures, inFeatures) : LayerShape.Grouped(bits, outFeatures,
            inFeatures, groupSize);
        KernelPlan plan = KernelPlan.Create(shape);
        foreach (int batch in Enumerable.Range(1, 40))
        {
            MatMulKernel int8 = KernelRegistry.Choose(shape, batch, ActivationPrecision.Int8), floats = KernelRegistry.Choose(shape, batch,
                ActivationPrecision.Float);
            KernelRoute expected = int8 == KernelRegistry.IntScalar && floats.Isa != KernelIsa.Scalar ? new KernelRoute(floats, true)
                : new KernelRoute(int8, false);
            Assert.That(plan.TableRoute(batch, ActivationPrecision.Int8), Is.EqualTo(expected), $"{shape} batch {batch}: plan {plan}");
        }
    }

    /// <summary>A layer's Describe (what lowbit bench prints) names what its Forward runs.</summary>
    [Test]
    public void Describe_NamesTheRoute()
    {
        float[] weights = TestData.Gaussian<float>(512 * 1024, seed: 5, std: 0.1);
        ILinearLayer<float>[] layers =
        [
            W8A16Linear<float>.FromWeights(weights, 512, 1024),
            LowBitLinear<float>.FromWeights(weights, 512, 1024, 2, 16),
            LowBitLinear<float>.FromWeights(weights, 512, 1024, 4, 64),
        ];
        foreach (ILinearLayer<float> layer in layers)
        {
            KernelPlan plan = PlanOf(layer);
            foreach (int batch in new[] { 1, 8, 64 })
            {
                foreach (ActivationPrecision precision in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
                {
                    Assert.That(layer.Describe(batch, precision), Is.EqualTo(plan.Route(batch, precision).ToString()));
                }
            }
        }
    }

    /// <summary>The plan a W8A16Linear or LowBitLinear runs (dense layers have none).</summary>
    internal static KernelPlan PlanOf(ILinearLayer<float> layer) => layer is W8A16Linear<float> w ? w.Plan : ((LowBitLinear<float>)layer).Plan;

    /// <summary>The README's kernel table lists every kernel of the registry, so the documentation cannot fall behind it.</summary>
    [Test]
    public void Readme_NamesEveryKernel()
    {
        string readme = Repository.Read("README.md");
        foreach (MatMulKernel kernel in KernelRegistry.Kernels) Assert.That(readme, Does.Contain($"`{kernel.Name}`"),
                                                                            $"README.md does not describe {kernel.Name}");
    }

    /// <summary>The vendor check behind the rows that depend on the CPU agrees with the kernel's own report (Linux x64).</summary>
    [Test]
    public void IsIntelAndIsAmd_AgreeWithProcCpuinfo()
    {
        if (!System.Runtime.Intrinsics.X86.X86Base.IsSupported || !File.Exists("/proc/cpuinfo"))
        {
            Assert.Ignore("needs x64 intrinsics and /proc/cpuinfo");
        }

        string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("vendor_id", StringComparison.Ordinal));
        string? vendor = line?.Split(':')[1].Trim();
        if (vendor is null) Assert.Ignore("/proc/cpuinfo names no vendor");
        Assert.That(KernelRegistry.Vendor(), Is.EqualTo(vendor));
        Assert.That(KernelRegistry.IsIntel(), Is.EqualTo(vendor == "GenuineIntel"), vendor);
        Assert.That(KernelRegistry.IsAmd(), Is.EqualTo(vendor == "AuthenticAMD"), vendor);
    }
}
