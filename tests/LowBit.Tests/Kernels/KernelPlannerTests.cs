using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

/// <summary>
/// Measured plans (<see cref="PlanMode.Measure"/>): the fastest route wins, a slow one never does, one measurement per key
/// however many threads ask first, and <see cref="PlanMode.Table"/> gives the registry's choices. Speed itself is proven
/// in the benchmarks; these check what is chosen and that every choice computes the layer's contract.
/// </summary>
[NonParallelizable]
public unsafe class KernelPlannerTests
{
    /// <summary>A kernel that does its inner kernel's work three times and then spins: the planner must never keep it.</summary>
    private sealed class SlowKernel(MatMulKernel inner)
        : MatMulKernel($"slow {inner.Name}", inner.Isa, inner.Formats, inner.Layouts, inner.Activations)
    {
        private static delegate*<void*, int, void> s_inner;

        public override bool IsSupported => inner.IsSupported;

        protected override bool Fits(in LayerShape shape) => inner.Takes(shape);

        public override long PreparedFloats(in LayerShape shape, int batch) => inner.PreparedFloats(shape, batch);

        public override bool UsesGroupSums => inner.UsesGroupSums;

        public override bool UsesLaneSums => inner.UsesLaneSums;

        public override void Prepare(float* input, ref KernelArgs args) => inner.Prepare(input, ref args);

        public override int RowsPerChunk(in LayerShape shape, int batch) => inner.RowsPerChunk(shape, batch);

        public override int RowGranularity => inner.RowGranularity;

        public override delegate*<void*, int, void> Body(in LayerShape shape)
        {
            s_inner = inner.Body(shape);
            return &SlowBody;
        }

        // Three times the inner kernel's work, then a spin: slower in proportion on any machine, emulated Arm64 too (there a
        // spin alone is lost in the kernel's own time).
        private static void SlowBody(void* args, int item)
        {
            for (int i = 0; i < 3; i++) s_inner(args, item);
            Thread.SpinWait(20_000);
        }
    }

    /// <summary>Layers as (bits, out, in, group size; group 0 = int8 per channel), a batch and a precision.</summary>
    private static IEnumerable<TestCaseData> Layers()
    {
        yield return new TestCaseData(8, 384, 1536, 0, 1, ActivationPrecision.Float);
        yield return new TestCaseData(8, 1536, 384, 0, 8, ActivationPrecision.Int8);
        yield return new TestCaseData(4, 768, 1024, 32, 8, ActivationPrecision.Float);
        yield return new TestCaseData(2, 512, 768, 64, 64, ActivationPrecision.Int8);
    }

    private static LayerShape Shape(int bits, int outFeatures, int inFeatures, int groupSize) =>
        groupSize == 0 ? LayerShape.Int8(outFeatures, inFeatures) : LayerShape.Grouped(bits, outFeatures, inFeatures, groupSize);

    [TestCaseSource(nameof(Layers))]
    public void KernelMadeSlowOnPurpose_IsNotChosen_WhereverItStandsInTheList(int bits, int outFeatures, int inFeatures, int groupSize, int batch,
                                                                             ActivationPrecision activations)
    {
        LayerShape shape = Shape(bits, outFeatures, inFeatures, groupSize);
        KernelRoute table = KernelPlan.TableRoute(shape, batch, activations);
        if (table.Kernel.Isa == KernelIsa.Scalar) Assert.Ignore("only the scalar kernels run here: nothing to choose between");
        var slow = new KernelRoute(new SlowKernel(table.Kernel), table.DequantizesActivations);
        var key = new KernelPlanner.Key(shape, KernelPlanner.ClassOf(batch), activations);
        foreach (KernelRoute[] candidates in new[] { new[] { slow, table }, new[] { table, slow } })
        {
            KernelPlanner.Measurement measured = KernelPlanner.Measure(key, candidates);
            Assert.That(measured.Route, Is.EqualTo(table), $"{key}: {measured.Why}");
            Assert.That(measured.Timings.Select(t => t.Route), Is.EquivalentTo(candidates), "every candidate is timed once");
            Assert.That(measured.Timings[^1].Microseconds, Is.GreaterThan(measured.Timings[0].Microseconds), measured.Why);
        }
    }

    [TestCaseSource(nameof(Layers))]
    public void MeasuredRoute_IsOneOfTheCandidates_AndTakesTheLayer(int bits, int outFeatures, int inFeatures, int groupSize, int batch,
                                                                    ActivationPrecision activations)
    {
        LayerShape shape = Shape(bits, outFeatures, inFeatures, groupSize);
        var key = new KernelPlanner.Key(shape, KernelPlanner.ClassOf(batch), activations);
        KernelRoute[] candidates = KernelPlanner.Candidates(key);
        KernelPlanner.Measurement measured = KernelPlanner.Get(shape, key.BatchClass, activations);
        Assert.That(candidates, Does.Contain(measured.Route), measured.ToString());
        Assert.That(measured.Route.Kernel.Takes(shape) && measured.Route.Kernel.IsSupported, measured.ToString());
        Assert.That(candidates.Where(c => c.Kernel.Isa == KernelIsa.Scalar), Is.Empty.Or.EqualTo(candidates),
                    "the scalar kernels are timed only when nothing else takes the layer");
        if (activations == ActivationPrecision.Float)
        {
            Assert.That(candidates.All(c => !c.DequantizesActivations && c.Kernel.Activations == ActivationPrecision.Float));
        }
    }

    /// <summary>Every thread that asks first gets the one measurement (measurements forgotten first, so the use is a first one
    /// however often the test runs in a process).</summary>
    [Test]
    public void ConcurrentFirstUse_MakesOneMeasurement()
    {
        LayerShape shape = LayerShape.Grouped(4, 232, 672, 32);
        KernelPlanner.Clear();
        const int Threads = 8;
        var results = new KernelPlanner.Measurement[Threads];
        KernelPlan[] plans = Enumerable.Range(0, Threads).Select(_ => KernelPlan.Create(shape)).ToArray();
        using var start = new Barrier(Threads);
        Thread[] threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            results[i] = plans[i].Measured(5, ActivationPrecision.Int8);
        })).ToArray();
        foreach (Thread thread in threads) thread.Start();
        foreach (Thread thread in threads) thread.Join();
        Assert.That(results.Distinct(ReferenceEqualityComparer.Instance).Count(), Is.EqualTo(1), results[0].ToString());
        Assert.That(KernelPlanning.Measurements.Count(line => line.StartsWith(results[0].Key.ToString() + ":", StringComparison.Ordinal)),
                    Is.EqualTo(1), string.Join("\n", KernelPlanning.Measurements));
    }

    /// <summary>Table mode gives the registry's routes on every call and in Describe, whatever has been measured before.</summary>
    [Test]
    public void TableMode_GivesTheRegistrysChoices()
    {
        float[] weights = TestData.Gaussian<float>(320 * 512, seed: 9, std: 0.1);
        ILinearLayer<float>[] layers =
        [
            W8A16Linear<float>.FromWeights(weights, 320, 512),
            LowBitLinear<float>.FromWeights(weights, 320, 512, 4, 32),
            LowBitLinear<float>.FromWeights(weights, 320, 512, 2, 16),
        ];
        PlanMode before = KernelPlanning.Mode;
        try
        {
            foreach (ILinearLayer<float> layer in layers)
            {
                KernelPlan plan = KernelRegistryTests.PlanOf(layer);
                foreach (ActivationPrecision precision in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
                {
                    foreach (int batch in new[] { 1, 3, 8, 20, 64 })
                    {
                        KernelPlanning.Mode = PlanMode.Measure;
                        _ = plan.Route(batch, precision);
                        KernelPlanning.Mode = PlanMode.Table;
                        KernelRoute expected = KernelPlan.TableRoute(plan.Shape, batch, precision);
                        Assert.That(plan.Route(batch, precision), Is.EqualTo(expected), $"{plan.Shape} batch {batch} {precision}");
                        Assert.That(layer.Describe(batch, precision), Is.EqualTo(expected.ToString()));
                    }
                }
            }
        }
        finally
        {
            KernelPlanning.Mode = before;
        }
    }

    /// <summary>Each layer's forward pass in both modes meets the same oracle (the measured route may be any candidate).</summary>
    [TestCase(PlanMode.Measure)]
    [TestCase(PlanMode.Table)]
    public void Forward_InEitherMode_MatchesTheOracle(PlanMode mode)
    {
        const int Out = 96, In = 256;
        float[] weights = TestData.Gaussian<float>(Out * In, seed: 12, std: 0.05);
        float[] bias = TestData.Gaussian<float>(Out, seed: 13);
        var int8 = W8A16Linear<float>.FromWeights(weights, Out, In, bias);
        var fourBit = LowBitLinear<float>.FromWeights(weights, Out, In, 4, 32, bias);
        var dequantized = new float[Out * In];
        fourBit.Dequantize(dequantized);
        PlanMode before = KernelPlanning.Mode;
        try
        {
            KernelPlanning.Mode = mode;
            foreach (int batch in new[] { 1, 4, 9, 33 })
            {
                float[] input = TestData.Gaussian<float>(batch * In, seed: 100 + batch);
                var y = new float[batch * Out];
                string label = $"{mode} batch {batch}";
                int8.Forward(input, y, maxThreads: 1, ActivationPrecision.Float);
                Oracle.CheckInt8<float>(input, int8.Int8Weights, int8.Scales, bias, y, batch, In, Out, label);
                int8.Forward(input, y, maxThreads: 1, ActivationPrecision.Int8);
                Int8ActivationTests.CheckInt8Layer(int8, input, bias, y, batch, label + " int8");
                fourBit.Forward(input, y, maxThreads: 1, ActivationPrecision.Float);
                Oracle.CheckGrouped(fourBit, dequantized, input, bias, y, batch, label + " 4-bit");
                fourBit.Forward(input, y, maxThreads: 1, ActivationPrecision.Int8);
                Int8ActivationTests.CheckLowBitLayer(fourBit, input, bias, y, batch, label + " 4-bit int8");
            }
        }
        finally
        {
            KernelPlanning.Mode = before;
        }
    }

    [Test]
    public void BatchClasses_CoverEveryBatch_AndSplitAtTheRegistrysBreakpoints()
    {
        Assert.That(KernelPlanner.ClassStarts[0], Is.EqualTo(1));
        Assert.That(KernelPlanner.ClassStarts, Is.SupersetOf(KernelRegistry.BatchBreakpoints));
        for (int batch = 1; batch <= 300; batch++)
        {
            int c = KernelPlanner.ClassOf(batch);
            Assert.That(KernelPlanner.ClassStarts[c], Is.LessThanOrEqualTo(batch));
            if (c + 1 < KernelPlanner.ClassStarts.Length) Assert.That(KernelPlanner.ClassStarts[c + 1], Is.GreaterThan(batch));
        }
    }

    [Test]
    public void Mode_RejectsAnUndefinedValue()
    {
        PlanMode before = KernelPlanning.Mode;
        Assert.That(() => KernelPlanning.Mode = (PlanMode)7, Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(KernelPlanning.Mode, Is.EqualTo(before));
    }
}
