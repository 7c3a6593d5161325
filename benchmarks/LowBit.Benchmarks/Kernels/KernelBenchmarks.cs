using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;
using LowBit.Kernels;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// Every kernel of <see cref="KernelRegistry"/> this machine runs, forced on a 2048 x 2048 layer of a format it takes
/// (per-channel int8, else 4-bit group 64, else 2-bit group 32, else 8-bit group 32): a kernel added to the registry is measured the day it is
/// added, and the table shows where each one's batch range should start and end. Scalar kernels run batch 1 only.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class KernelBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("G weights/s", _ => Weights));
            AddColumn(new ThroughputColumn("GFLOP/s", c => 2.0 * Weights * ThroughputColumn.Param(c, "Batch")));
        }
    }

    private const double Weights = 2048.0 * 2048;

    private W8A16Linear<float>? _int8;
    private LowBitLinear<float>? _lowBit;
    private MatMulKernel _kernel = null!;
    private float[] _input = [], _output = [];

    public const string Shape = "2048x2048";

    public static IEnumerable<string> Kernels() => KernelRegistry.Kernels.Where(k => k.IsSupported).Select(k => k.Name);

    [ParamsSource(nameof(Kernels))]
    public string Kernel { get; set; } = "int8-gemv-512";

    [Params(1, 4, 16, 64)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _kernel = KernelRegistry.Kernels.Single(k => k.Name == Kernel);
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        if (_kernel.Takes(LayerShape.Int8(outFeatures, inFeatures))) _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        else if (_kernel.Takes(LayerShape.Grouped(4, outFeatures, inFeatures, 64))) _lowBit = LowBitLinear<float>.FromWeights(weights, outFeatures,
                                                                                                                              inFeatures, 4, 64);
        else if (_kernel.Takes(LayerShape.Grouped(2, outFeatures, inFeatures, 32))) _lowBit = LowBitLinear<float>.FromWeights(weights, outFeatures,
                                                                                                                              inFeatures, 2, 32);
        else if (_kernel.Takes(LayerShape.Grouped(8, outFeatures, inFeatures, 32))) _lowBit = LowBitLinear<float>.FromWeights(weights, outFeatures,
                                                                                                                              inFeatures, 8, 32);
        else throw new InvalidOperationException($"{Kernel} takes none of the benchmark's layouts ({Shape}: int8, 4-bit g64, 2-bit g32, 8-bit " +
            $"g32); add one.");
    }

    [Benchmark(Description = "1 thread")]
    public void Run()
    {
        if (_kernel.Isa == KernelIsa.Scalar && Batch > 1) return; // too slow to be worth a table row
        if (_int8 is not null) _int8.Run(_kernel, _input, _output, maxThreads: 1);
        else _lowBit!.Run(_kernel, _input, _output, maxThreads: 1);
    }
}
