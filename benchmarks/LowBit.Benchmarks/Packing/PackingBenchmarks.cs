using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;

namespace LowBit.Benchmarks.Packing;

/// <summary>Pack and Unpack at 2 and 4 bits: scalar reference versus the vectorized public API. GB/s counts unpacked value bytes.</summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class PackingBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn("GB/s", c => ThroughputColumn.Param(c, nameof(Count))));
    }

    private byte[] _values = [];
    private byte[] _packed = [];
    private byte[] _unpacked = [];

    [Params(2, 4)]
    public int Bits { get; set; }

    [Params(16 * 1024 * 1024, 1_000_003)]
    public int Count { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _values = new byte[Count];
        for (int i = 0; i < Count; i++) _values[i] = (byte)random.Next(0, 1 << Bits);
        _packed = BitPacking.Pack(_values, Bits);
        _unpacked = new byte[Count];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Pack")]
    public void PackScalar() => BitPacking.PackScalar(_values, Bits, _packed);

    [Benchmark, BenchmarkCategory("Pack")]
    public void Pack() => BitPacking.Pack(_values, Bits, _packed);

    [Benchmark(Baseline = true), BenchmarkCategory("Unpack")]
    public void UnpackScalar() => BitPacking.UnpackScalar(_packed, Bits, _unpacked);

    [Benchmark, BenchmarkCategory("Unpack")]
    public void Unpack() => BitPacking.Unpack(_packed, Bits, _unpacked);
}
