using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;
using LowBit.Internal;

namespace LowBit.Benchmarks.Quantization;

/// <summary>Absmax int8 quantization per channel, 4096 x 4096: scalar reference versus the vectorized API. G elem/s.</summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class QuantizationBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("G elem/s", _ => (double)Rows * Columns));
    }

    private const int Rows = 4096, Columns = 4096;
    private Action _scalar = null!, _vectorized = null!;

    [Params(ElementKind.Float, ElementKind.Half, ElementKind.BFloat16)]
    public ElementKind Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        switch (Type)
        {
            case ElementKind.Float: Bind<float>(); break;
            case ElementKind.Half: Bind<Half>(); break;
            default: Bind<BFloat16>(); break;
        }
    }

    private void Bind<T>()
    {
        var random = new Random(42);
        var weights = new T[Rows * Columns];
        for (int i = 0; i < weights.Length; i++) weights[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 0.2 - 0.1));
        var codes = new sbyte[weights.Length];
        var scales = new T[Rows];
        _scalar = () => Int8Quantizer.QuantizePerChannelScalar<T>(weights, Rows, Columns, codes, scales);
        _vectorized = () => Int8Quantizer.QuantizePerChannel<T>(weights, Rows, Columns, codes, scales);
    }

    [Benchmark(Baseline = true)]
    public void Scalar() => _scalar();

    [Benchmark]
    public void Vectorized() => _vectorized();
}
