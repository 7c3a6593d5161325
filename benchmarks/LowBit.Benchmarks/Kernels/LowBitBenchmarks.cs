using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// Group-wise 4-bit (group 64) and 2-bit (group 32) layers against the W8A16 layer on the same 11008 x 4096
/// float weights, one thread. G weights/s counts weights (not bytes), so the packed formats' advantage shows.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class LowBitBenchmarks
{
    private W8A16Linear<float> _int8 = null!;
    private LowBitLinear<float> _lowBit = null!;
    private float[] _input = [], _output = [];

    [Params("11008x4096")]
    public string Shape { get; set; } = "11008x4096";

    [Params(4, 2)]
    public int Bits { get; set; }

    [Params(1, 4, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = Operands(Shape, Batch, out _input, out _output);
        _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        _lowBit = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, Bits, Bits == 4 ? 64 : 32);
    }

    /// <summary>Seeded weights in [-0.05, 0.05), inputs in [-1, 1) and an output buffer for one shape.</summary>
    internal static (int Out, int In, float[] Weights) Operands(string shape, int batch, out float[] input, out float[] output)
    {
        var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape(shape);
        var random = new Random(42);
        var weights = new float[outFeatures * inFeatures];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(random.NextDouble() * 0.1 - 0.05);
        input = new float[batch * inFeatures];
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);
        output = new float[batch * outFeatures];
        return (outFeatures, inFeatures, weights);
    }

    [Benchmark(Baseline = true, Description = "W8A16")]
    public void Int8() => _int8.Forward(_input, _output, maxThreads: 1);

    [Benchmark(Description = "low-bit")]
    public void LowBit() => _lowBit.Forward(_input, _output, maxThreads: 1);
}

/// <summary>The low-bit kernels against their scalar reference, batch 1.</summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class LowBitScalarBenchmarks
{
    private LowBitLinear<float> _layer = null!;
    private float[] _input = [], _output = [];

    [Params("4096x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(4, 2)]
    public int Bits { get; set; }

    [Params(1)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _layer = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, Bits, Bits == 4 ? 64 : 32);
    }

    [Benchmark(Baseline = true)]
    public void Scalar() => _layer.ForwardScalar(_input, _output);

    [Benchmark(Description = "1 thread")]
    public void OneThread() => _layer.Forward(_input, _output, maxThreads: 1);
}
