using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;
using LowBit.Internal;

namespace LowBit.Benchmarks.Quantization;

/// <summary>Group-wise quantization (4-bit group 64, 2-bit group 32), 4096 x 4096: scalar reference versus the API. G elem/s.</summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class GroupQuantizationBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("G elem/s", _ => (double)Rows * Columns));
    }

    private const int Rows = 4096, Columns = 4096;
    private Action _scalar = null!, _vectorized = null!;

    [Params(ElementKind.Float, ElementKind.BFloat16)]
    public ElementKind Type { get; set; }

    /// <summary>4 (groups of 64) or 2 (groups of 32).</summary>
    [Params(4, 2)]
    public int Bits { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (Type == ElementKind.Float) Bind<float>();
        else Bind<BFloat16>();
    }

    private void Bind<T>()
    {
        var random = new Random(42);
        var weights = new T[Rows * Columns];
        for (int i = 0; i < weights.Length; i++) weights[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 0.2 - 0.1));
        int groupSize = Bits == 4 ? 64 : 32, groups = Rows * Columns / groupSize;
        var codes = new byte[weights.Length];
        var scales = new T[groups];
        var zeros = new byte[groups];
        _scalar = () => GroupQuantizer.QuantizeScalar<T>(weights, Rows, Columns, Bits, groupSize, codes, scales, zeros);
        _vectorized = () => GroupQuantizer.Quantize<T>(weights, Rows, Columns, Bits, groupSize, codes, scales, zeros);
    }

    [Benchmark(Baseline = true)]
    public void Scalar() => _scalar();

    [Benchmark]
    public void Vectorized() => _vectorized();
}
