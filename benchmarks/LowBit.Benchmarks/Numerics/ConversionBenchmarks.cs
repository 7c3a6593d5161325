using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;

namespace LowBit.Benchmarks.Numerics;

/// <summary>float &lt;-&gt; BFloat16 span conversions: scalar casts versus the vectorized API. G elem/s.</summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ConversionBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("G elem/s", c => ThroughputColumn.Param(c, nameof(Count))));
    }

    private float[] _floats = [];
    private BFloat16[] _bfloats = [];

    [Params(4 * 1024 * 1024, 100_003)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _floats = new float[Count];
        for (int i = 0; i < Count; i++) _floats[i] = (float)(random.NextDouble() * 2 - 1);
        _bfloats = new BFloat16[Count];
        BFloat16.ConvertToBFloat16(_floats, _bfloats);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("ToBFloat16")]
    public void ToBFloat16Scalar() => BFloat16.ConvertToBFloat16Scalar(_floats, _bfloats);

    [Benchmark, BenchmarkCategory("ToBFloat16")]
    public void ToBFloat16() => BFloat16.ConvertToBFloat16(_floats, _bfloats);

    [Benchmark(Baseline = true), BenchmarkCategory("ToSingle")]
    public void ToSingleScalar() => BFloat16.ConvertToSingleScalar(_bfloats, _floats);

    [Benchmark, BenchmarkCategory("ToSingle")]
    public void ToSingle() => BFloat16.ConvertToSingle(_bfloats, _floats);
}
