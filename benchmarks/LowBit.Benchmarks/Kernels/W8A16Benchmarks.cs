using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using LowBit.Benchmarks.Infrastructure;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// The W8A16 matmul on one thread and on all threads, for GEMV (batch 1) through GEMM (batch 256).
/// G weights/s = int8 weight bytes per second (the GEMV figure); GFLOP/s = 2 x batch x out x in per second.
/// The scalar reference is in <see cref="W8A16ScalarBenchmarks"/> (it is too slow for the big batches).
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class W8A16Benchmarks
{
    internal sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("G weights/s", c => Weights(c)));
            AddColumn(new ThroughputColumn("GFLOP/s", c => 2.0 * Weights(c) * ThroughputColumn.Param(c, "Batch")));
        }

        private static double Weights(BenchmarkCase c)
        {
            var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape((string)c.Parameters["Shape"]);
            return (double)outFeatures * inFeatures;
        }
    }

    private AnyMatMulProblem _problem = null!;

    [Params("4096x4096", "11008x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(1, 8, 16, 64, 256)]
    public int Batch { get; set; }

    [Params(ElementKind.Float, ElementKind.Half, ElementKind.BFloat16)]
    public ElementKind Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape(Shape);
        _problem = new AnyMatMulProblem(Type, Batch, inFeatures, outFeatures);
    }

    [Benchmark(Description = "1 thread")]
    public void OneThread() => _problem.Run(maxThreads: 1);

    [Benchmark(Description = "all threads")]
    public void AllThreads() => _problem.Run(maxThreads: 0);
}

/// <summary>The scalar reference of the W8A16 matmul (the baseline for <see cref="W8A16Benchmarks"/>) and the SIMD kernel on the same
/// cases.</summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class W8A16ScalarBenchmarks
{
    private AnyMatMulProblem _problem = null!;

    [Params("4096x4096", "11008x4096")]
    public string Shape { get; set; } = "4096x4096";

    [Params(1, 8)]
    public int Batch { get; set; }

    [Params(ElementKind.Float, ElementKind.Half, ElementKind.BFloat16)]
    public ElementKind Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape(Shape);
        _problem = new AnyMatMulProblem(Type, Batch, inFeatures, outFeatures);
    }

    [Benchmark(Baseline = true)]
    public void Scalar() => _problem.RunScalar();

    [Benchmark(Description = "1 thread")]
    public void OneThread() => _problem.Run(maxThreads: 1);
}

/// <summary>Small shapes, where threading overhead would show: all threads must not be slower than one.</summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class W8A16SmallShapeBenchmarks
{
    private AnyMatMulProblem _problem = null!;

    [Params("256x256", "1024x1024")]
    public string Shape { get; set; } = "256x256";

    [Params(1, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape(Shape);
        _problem = new AnyMatMulProblem(ElementKind.Float, Batch, inFeatures, outFeatures);
    }

    [Benchmark(Baseline = true, Description = "1 thread")]
    public void OneThread() => _problem.Run(maxThreads: 1);

    [Benchmark(Description = "all threads")]
    public void AllThreads() => _problem.Run(maxThreads: 0);
}

/// <summary>
/// GEMV with weights that cannot be cached: each call uses the next of four 11008 x 4096 matrices
/// (180 MB in all, far beyond the 32 MB L3), so every weight byte comes from DRAM. This is the figure
/// to compare with <see cref="MachineLimits"/>' read bandwidth; <see cref="W8A16Benchmarks"/> reuses one
/// 45 MB matrix, part of which stays in L3 between calls.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class W8A16ColdBenchmarks
{
    private readonly AnyMatMulProblem[] _problems = new AnyMatMulProblem[4];
    private int _next;

    [Params("11008x4096")]
    public string Shape { get; set; } = "11008x4096";

    [Params(1)]
    public int Batch { get; set; }

    [Params(ElementKind.Float, ElementKind.BFloat16)]
    public ElementKind Type { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures) = AnyMatMulProblem.ParseShape(Shape);
        for (int i = 0; i < _problems.Length; i++) _problems[i] = new AnyMatMulProblem(Type, Batch, inFeatures, outFeatures);
    }

    [Benchmark(Description = "1 thread")]
    public void OneThread() => _problems[_next++ & 3].Run(maxThreads: 1);

    [Benchmark(Description = "all threads")]
    public void AllThreads() => _problems[_next++ & 3].Run(maxThreads: 0);
}
