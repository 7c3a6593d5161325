using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// The layer shapes .NET services run (out x in: MiniLM, BERT-base, Qwen2.5-0.5B, and three LLM-sized ones), at batch 1,
/// 8 and 64, on one thread and on all threads: W8A16 (the baseline), 4-bit group 64 and 2-bit group 32 on the same
/// float weights, through the layers' plans. Ratio &lt; 1 means the low-bit layer is faster than W8A16.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class LayerSweepBenchmarks
{
    private W8A16Linear<float> _int8 = null!;
    private LowBitLinear<float> _four = null!, _two = null!;
    private float[] _input = [], _output = [];
    private int _threads;

    [Params("1536x384", "384x1536", "3072x768", "768x3072", "4864x896", "896x4864", "8192x2048", "4096x4096", "11008x4096")]
    public string Shape { get; set; } = "1536x384";

    [Params(1, 8, 64)]
    public int Batch { get; set; }

    /// <summary>1, or 0 for all cores.</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        _four = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 64);
        _two = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 2, 32);
        _threads = Threads;
    }

    [Benchmark(Baseline = true, Description = "W8A16")]
    public void Int8() => _int8.Forward(_input, _output, _threads);

    [Benchmark(Description = "4-bit g64")]
    public void FourBit() => _four.Forward(_input, _output, _threads);

    [Benchmark(Description = "2-bit g32")]
    public void TwoBit() => _two.Forward(_input, _output, _threads);
}
