using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;
using LowBit.Tests.IO;

namespace LowBit.Tests.Kernels;

/// <summary>
/// Plan files (<see cref="KernelPlanning.Save"/>, <see cref="KernelPlanning.Load"/>): what one process measured, a later one
/// on the same machine takes instead of measuring; a file of another machine gives nothing; a broken file is refused
/// whole, and a process's own measurements are never replaced.
/// </summary>
[NonParallelizable]
public class PlanFileTests
{
    private static readonly LayerShape Shape = LayerShape.Grouped(4, 96, 512, 32);

    private const int Batch = 8;

    private PlanMode _mode;

    [SetUp]
    public void RememberMode()
    {
        _mode = KernelPlanning.Mode;
        KernelPlanner.Clear();
    }

    [TearDown]
    public void RestoreMode()
    {
        KernelPlanning.Mode = _mode;
        KernelPlanner.Clear();
    }

    private static KernelPlanner.Key Key(ActivationPrecision activations) => new(Shape, KernelPlanner.ClassOf(Batch), activations);

    /// <summary>A plan file of this machine with the given plan lines.</summary>
    private static string PlanText(params string[] plans) =>
        string.Join('\n', ["# test", "lowbit-plans 1", $"machine {KernelPlanning.Machine}", .. plans]) + "\n";

    private static string PlanLine(KernelRoute route, ActivationPrecision activations) =>
        $"plan Group4 {Shape.OutFeatures} {Shape.InFeatures} {Shape.GroupSize} {Batch} {activations} float "
        + (route.DequantizesActivations ? "int8-blocks:" : "") + route.Kernel.Name;

    /// <summary>Candidates of the test layer other than the one the table picks, so that a taken plan is told from the table's.</summary>
    private static KernelRoute NotTheTablesRoute(ActivationPrecision activations)
    {
        KernelRoute table = KernelPlan.TableRoute(Shape, Batch, activations);
        KernelRoute[] others = KernelPlanner.Candidates(Key(activations)).Where(r => r != table).ToArray();
        if (others.Length == 0) Assert.Ignore("one route takes the layer here: nothing to choose between");
        return others[^1];
    }

    [TestCase(ActivationPrecision.Float)]
    [TestCase(ActivationPrecision.Int8)]
    public void SaveThenLoad_GivesTheMeasuredPlans_WithoutMeasuringAgain(ActivationPrecision activations)
    {
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        KernelPlanner.Measurement measured = KernelPlanner.Get(Shape, Key(activations).BatchClass, activations);
        Assert.That(KernelPlanning.Save(path), Is.EqualTo(1));
        Assert.That(File.ReadLines(path).First(), Does.StartWith("#"));
        Assert.That(Directory.GetFiles(folder.Path), Has.Length.EqualTo(1), "no temporary file is left");

        KernelPlanner.Clear();
        Assert.That(KernelPlanning.Load(path), Is.EqualTo(1));
        KernelPlanner.Measurement loaded = KernelPlanner.Get(Shape, Key(activations).BatchClass, activations);
        Assert.That(loaded.Loaded, Is.True, loaded.ToString());
        Assert.That(loaded.Route, Is.EqualTo(measured.Route));
        Assert.That(loaded.Timings.Select(t => t.Route), Is.EqualTo(measured.Timings.Select(t => t.Route)));
        Assert.That(loaded.Why, Does.StartWith("from a plan file"));

        // Saved again from the loaded plan: the same file.
        string again = folder.File("again.txt");
        KernelPlanning.Save(again);
        Assert.That(File.ReadAllText(again), Is.EqualTo(File.ReadAllText(path)));
    }

    /// <summary>A loaded plan is what a layer runs in measure mode (here a route the table would not pick), and the layer's
    /// results stay the contract's.</summary>
    [TestCase(ActivationPrecision.Float)]
    [TestCase(ActivationPrecision.Int8)]
    public void LoadedPlan_IsTheRouteLayersRun(ActivationPrecision activations)
    {
        KernelRoute chosen = NotTheTablesRoute(activations);
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        File.WriteAllText(path, PlanText(PlanLine(chosen, activations)));
        Assert.That(KernelPlanning.Load(path), Is.EqualTo(1));

        float[] weights = TestData.Gaussian<float>(Shape.OutFeatures * Shape.InFeatures, seed: 21, std: 0.1);
        float[] input = TestData.Gaussian<float>(Batch * Shape.InFeatures, seed: 22, std: 1);
        var layer = LowBitLinear<float>.FromWeights(weights, Shape.OutFeatures, Shape.InFeatures, bits: 4, groupSize: Shape.GroupSize);
        float[] table = new float[Batch * Shape.OutFeatures], planned = new float[table.Length];
        layer.Forward(input, table, maxThreads: 1, activations);
        KernelPlanning.Mode = PlanMode.Measure;
        Assert.That(layer.Describe(Batch, activations), Is.EqualTo(chosen.ToString()));
        Assert.That(KernelPlanning.Measurements.Single(), Does.Contain("from a plan file"));
        layer.Forward(input, planned, maxThreads: 1, activations);
        for (int i = 0; i < table.Length; i++) Assert.That(planned[i], Is.EqualTo(table[i]).Within(1e-4f * (1 + Math.Abs(table[i]))), $"output {i}");
    }

    [Test]
    public void PlanFileOfAnotherMachine_GivesNothing()
    {
        KernelRoute chosen = NotTheTablesRoute(ActivationPrecision.Float);
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        string text = PlanText(PlanLine(chosen, ActivationPrecision.Float), "plan Group4 8 64 32 1 Float no-such-kernel");
        File.WriteAllText(path, text.Replace($"machine {KernelPlanning.Machine}", "machine lowbit 0.0.1; Arm64; neon dotprod v128"));
        Assert.That(KernelPlanning.Load(path), Is.Zero);
        Assert.That(KernelPlanning.Measurements, Is.Empty);
        Assert.That(PlanFile.WrittenOn(path), Is.EqualTo("lowbit 0.0.1; Arm64; neon dotprod v128"));
    }

    [Test]
    public void Load_KeepsThisProcesssOwnMeasurements()
    {
        KernelPlanner.Measurement measured = KernelPlanner.Get(Shape, Key(ActivationPrecision.Float).BatchClass, ActivationPrecision.Float);
        KernelRoute other = KernelPlanner.Candidates(Key(ActivationPrecision.Float)).FirstOrDefault(r => r != measured.Route);
        if (other.Kernel is null) Assert.Ignore("one route takes the layer here");
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        File.WriteAllText(path, PlanText(PlanLine(other, ActivationPrecision.Float)));
        Assert.That(KernelPlanning.Load(path), Is.Zero);
        Assert.That(KernelPlanner.Get(Shape, Key(ActivationPrecision.Float).BatchClass, ActivationPrecision.Float), Is.SameAs(measured));
    }

    private static IEnumerable<TestCaseData> BrokenFiles()
    {
        string kernel = KernelPlan.TableRoute(LayerShape.Int8(64, 256), 1, ActivationPrecision.Float).Kernel.Name;
        string good = $"plan Int8PerChannel 64 256 256 1 Float float {kernel}";
        yield return Case("NotAPlanFile", "plans\nof something else\n", "is not a LowBit plan file");
        yield return Case("Empty", "", "has no 'lowbit-plans 1' line");
        yield return Case("NoMachineLine", "lowbit-plans 1\n" + good + "\n", "line 2: a plan before the 'machine' line");
        // Line 4 is good, line 5 not.
        yield return Line5("UnknownKernel", good[..^kernel.Length] + "no-such-kernel", "no kernel is named 'no-such-kernel'");
        yield return Line5("BatchNotAClassStart", "plan Group4 64 256 32 3 Float float x", "batch 3 does not start a batch class");
        yield return Line5("UnknownFormat", "plan Group5 64 256 32 1 Float float x", "'Group5' is not a weight format");
        yield return Line5("GroupNotDividing", "plan Group4 64 250 32 1 Float float x", "group size 32 does not fit 250 columns");
        yield return Line5("NegativeRows", "plan Group4 -64 256 32 1 Float float x", "the rows must be a positive whole number");
        yield return Line5("BadTiming", good + " x=fast", "'x=fast' is not a timing");
        yield return Line5("RouteOfTheOtherPrecision", "plan Group4 64 256 32 1 Float float int8act-scalar", "route 'int8act-scalar' cannot run");
        yield return Line5("DequantizedRouteOnAnInt8Kernel", "plan Group4 64 256 32 1 Int8 float int8-blocks:int8act-scalar",
                           "route 'int8-blocks:int8act-scalar'");
        yield return Line5("UnknownLine", "flan Group4 64 256 32 1 Int8 float x", "expected 'machine ...' or 'plan ...'");
        yield return Line5("TooFewFields", "plan Group4 64 256 32 1 Float int8act-scalar", "a plan has at least 9 fields");
        yield return Line5("UnknownParameters", "plan Group4 64 256 32 1 Float bf16 x", "'bf16' is not the group parameters");
        yield return Line5("ZeroPointAndOffsets", "plan Group4 64 256 32 1 Float half+z8+offsets x", "'half+z8+offsets' is not");
        yield return Line5("ZeroPointTooBig", "plan Group2 64 256 32 1 Float half+z4 x", "'half+z4' is not");
        yield return Line5("Int8WithHalfScales", good.Replace(" float ", " half "), "'half' is not the group parameters");
        yield return Line5("TwoMachines", $"machine {KernelPlanning.Machine}", "a plan file has one 'machine' line");

        static TestCaseData Case(string name, string text, string message) => new TestCaseData(text, message).SetName(name);

        TestCaseData Line5(string name, string line, string message) => Case(name, PlanText(good, line), "line 5: " + message);
    }

    [TestCaseSource(nameof(BrokenFiles))]
    public void BrokenPlanFile_IsRefusedWhole(string text, string message)
    {
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        File.WriteAllText(path, text);
        Assert.That(() => KernelPlanning.Load(path), Throws.InstanceOf<InvalidDataException>().With.Message.Contains(message));
        Assert.That(KernelPlanning.Measurements, Is.Empty, "nothing of a refused file is taken, not even its good lines");
    }

    [Test]
    public void SaveAndLoad_CheckTheirArguments()
    {
        Assert.That(() => KernelPlanning.Save(null!), Throws.InstanceOf<ArgumentException>());
        Assert.That(() => KernelPlanning.Save(" "), Throws.InstanceOf<ArgumentException>());
        Assert.That(() => KernelPlanning.Load(""), Throws.InstanceOf<ArgumentException>());
        using var folder = new TempFolder();
        Assert.That(() => KernelPlanning.Load(folder.File("missing.txt")), Throws.InstanceOf<FileNotFoundException>());
    }

    /// <summary>Save replaces a file whole: what was there goes, and a failed save leaves it as it was.</summary>
    [Test]
    public void Save_ReplacesTheFileWhole_OrLeavesItAsItWas()
    {
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        File.WriteAllText(path, new string('x', 100_000));
        KernelPlanner.Get(Shape, Key(ActivationPrecision.Int8).BatchClass, ActivationPrecision.Int8);
        Assert.That(KernelPlanning.Save(path), Is.EqualTo(1));
        string saved = File.ReadAllText(path);
        Assert.That(saved, Does.Not.Contain("xxx").And.Contain("\nplan Group4 96 512 32 8 Int8 "));

        // The target is a directory: the save fails and the file beside it is untouched.
        Directory.CreateDirectory(folder.File("taken"));
        Assert.That(() => KernelPlanning.Save(folder.File("taken")), Throws.InstanceOf<IOException>());
        Assert.That(File.ReadAllText(path), Is.EqualTo(saved));
        Assert.That(Directory.GetFiles(folder.Path), Is.EqualTo(new[] { path }), "no temporary file is left");
    }

    /// <summary>
    /// A layer whose groups keep Half scales and one zero point (GGUF Q4_0) is measured on synthetic weights of that form,
    /// under its own key: a plan of the float form is not taken for it, and its plan round-trips through a file.
    /// </summary>
    [Test]
    public void CompactParameters_AreMeasuredAndSavedUnderTheirOwnKey()
    {
        int groups = Shape.OutFeatures * Shape.Groups;
        var codes = new byte[Shape.OutFeatures * Shape.InFeatures];
        new Random(5).NextBytes(codes);
        for (int i = 0; i < codes.Length; i++) codes[i] &= 15;
        var packed = new byte[Shape.OutFeatures * Shape.RowBytes];
        for (int r = 0; r < Shape.OutFeatures; r++)
        {
            BitPacking.Pack(codes.AsSpan(r * Shape.InFeatures, Shape.InFeatures), 4, packed.AsSpan(r * Shape.RowBytes, Shape.RowBytes));
        }

        float[] scales = Enumerable.Range(0, groups).Select(g => (float)(Half)(0.01f + g * 1e-4f)).ToArray();
        byte[] zeroPoints = Enumerable.Repeat((byte)8, groups).ToArray();
        var layer = LowBitLinear<float>.FromQuantized(packed, scales, zeroPoints, Shape.OutFeatures, Shape.InFeatures, 4, Shape.GroupSize);

        // A plan of the float form for the same shape: not this layer's.
        KernelRoute other = NotTheTablesRoute(ActivationPrecision.Int8);
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        File.WriteAllText(path, PlanText(PlanLine(other, ActivationPrecision.Int8)));
        Assert.That(KernelPlanning.Load(path), Is.EqualTo(1));

        KernelPlanning.Mode = PlanMode.Measure;
        layer.Describe(Batch, ActivationPrecision.Int8);
        string[] lines = KernelPlanning.Measurements.ToArray();
        Assert.That(lines, Has.Length.EqualTo(2), string.Join("\n", lines));
        string own = lines.Single(l => !l.Contains("from a plan file"));
        Assert.That(own, Does.Contain("(Half scales, zero point 8), batch 8"));

        KernelPlanning.Save(path);
        Assert.That(File.ReadAllText(path), Does.Contain($"\nplan Group4 96 512 32 8 Int8 half+z8 "));
        KernelPlanner.Clear();
        Assert.That(KernelPlanning.Load(path), Is.EqualTo(2));
        Assert.That(layer.Describe(Batch, ActivationPrecision.Int8), Is.EqualTo(own.Split(": ")[1].Split(" (")[0]));
        Assert.That(KernelPlanning.Measurements, Has.Count.EqualTo(2).And.All.Contain("from a plan file"));
    }

    /// <summary>The planner's synthetic weights have the group parameters asked for: the layouts find that form in them.</summary>
    [TestCase(4, 32, false, false, false, (byte)0)]
    [TestCase(4, 32, false, true, false, (byte)0)]
    [TestCase(4, 32, false, true, true, (byte)8)]
    [TestCase(4, 64, false, false, true, (byte)3)]
    [TestCase(2, 32, false, true, true, (byte)2)]
    [TestCase(4, 32, true, false, false, (byte)0)]
    [TestCase(4, 32, true, true, false, (byte)0)]
    public void SyntheticWeights_HaveTheGroupParametersAskedFor(int bits, int groupSize, bool offsets, bool half, bool one, byte zeroPoint)
    {
        var parameters = new GroupParameters(offsets, half, one, zeroPoint);
        foreach (int rows in new[] { 2, 8, 40 })
        {
            var weights = new KernelPlanner.SyntheticWeights(LayerShape.Grouped(bits, rows, 256, groupSize), rows, parameters);
            Assert.That(weights.Layouts.Parameters(WeightLayout.Rows8), Is.EqualTo(parameters), $"{rows} rows");
        }
    }

    /// <summary>Saves from several threads at once to one path: the file is one whole save, and no temporary file is left.</summary>
    [Test]
    public void ConcurrentSaves_LeaveOneWholeFile()
    {
        KernelPlanner.Get(Shape, Key(ActivationPrecision.Float).BatchClass, ActivationPrecision.Float);
        using var folder = new TempFolder();
        string path = folder.File("plans.txt");
        Parallel.For(0, 8, _ => KernelPlanning.Save(path));
        Assert.That(Directory.GetFiles(folder.Path), Is.EqualTo(new[] { path }));
        KernelPlanner.Clear();
        Assert.That(KernelPlanning.Load(path), Is.EqualTo(1));
    }

    [Test]
    public void Machine_NamesTheVersionArchitectureAndInstructionSets()
    {
        string machine = KernelPlanning.Machine;
        Assert.That(machine, Does.StartWith("lowbit ").And.Contain(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString()));
        Assert.That(machine, Does.Not.Contain("\n").And.Not.Contain("#"));
        if (System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated) Assert.That(machine, Does.EndWith(" v128").Or.Contain(" v128 "));
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.That(machine, Does.Contain(" avx2"));
        if (System.Runtime.Intrinsics.X86.X86Base.IsSupported) Assert.That(machine, Does.Match(@" family \d+ model \d+;"));
    }
}
