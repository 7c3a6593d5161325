using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// Every batch from 1 to 16 (and 24, 32, 64) on a 4096 x 4096 layer, one thread: where the GEMV kernels hand over to
/// the GEMM ones, GFLOP/s should rise with the batch, never drop. W8A16 is the baseline; 4-bit group 64 and 2-bit group 32
/// on the same float weights.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class BatchSweepBenchmarks
{
    private W8A16Linear<float> _int8 = null!;
    private LowBitLinear<float> _four = null!, _two = null!;
    private float[] _input = [], _output = [];

    [Params("4096x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 32, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        _four = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 64);
        _two = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 2, 32);
    }

    [Benchmark(Baseline = true, Description = "W8A16")]
    public void Int8() => _int8.Forward(_input, _output, 1);

    [Benchmark(Description = "4-bit g64")]
    public void FourBit() => _four.Forward(_input, _output, 1);

    [Benchmark(Description = "2-bit g32")]
    public void TwoBit() => _two.Forward(_input, _output, 1);
}
