using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// Measured plans against the table (<see cref="PlanMode"/>), one thread, on the small-layer sweep: each layer shape at
/// batch 1, 8 and 64, for int8 per-channel, 4-bit group 64 and 2-bit group 32 weights, in both activation precisions.
/// Ratio is int8 activations against float activations of the same layer and plan mode; the rows of one mode against
/// the other give what measuring buys. The chosen routes are printed once per case (GlobalSetup).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class PlanSweepBenchmarks
{
    private ILinearLayer<float> _layer = null!;
    private float[] _input = [], _output = [];

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "1536x384";

    /// <summary>The nine shapes; the CI's dry run (LOWBIT_BENCH_SMOKE=1) takes the first, its 324 cases would take 20 minutes.</summary>
    public static IEnumerable<string> Shapes => Environment.GetEnvironmentVariable("LOWBIT_BENCH_SMOKE") == "1" ? ["1536x384"]
        : ["1536x384", "384x1536", "3072x768", "768x3072", "4864x896", "896x4864", "8192x2048", "4096x4096", "11008x4096"];

    [Params(1, 8, 64)]
    public int Batch { get; set; }

    [ParamsSource(nameof(WeightFormats))]
    public string Weights { get; set; } = "int8";

    /// <summary>int8, 4-bit g64 and 2-bit g32; LOWBIT_SWEEP_WEIGHTS (comma-separated) takes a subset, to rerun one format in one sitting.</summary>
    public static IEnumerable<string> WeightFormats => Environment.GetEnvironmentVariable("LOWBIT_SWEEP_WEIGHTS") is { Length: > 0 } subset
        ? subset.Split(',', StringSplitOptions.TrimEntries) : ["int8", "4-bit g64", "2-bit g32"];

    [Params(PlanMode.Table, PlanMode.Measure)]
    public PlanMode Plan { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _layer = Weights == "int8" ? W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures)
            : LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, Weights[0] - '0', int.Parse(Weights[(Weights.IndexOf('g') + 1)..]));
        KernelPlanning.Mode = Plan;
        Console.WriteLine($"// plan {Plan} {Weights} {Shape} batch {Batch}: float {_layer.Describe(Batch, ActivationPrecision.Float)}; "
                          + $"int8 {_layer.Describe(Batch, ActivationPrecision.Int8)}");
    }

    [Benchmark(Baseline = true, Description = "float act.")]
    public void Float() => _layer.Forward(_input, _output, 1, ActivationPrecision.Float);

    [Benchmark(Description = "int8 act.")]
    public void Int8() => _layer.Forward(_input, _output, 1, ActivationPrecision.Int8);
}
