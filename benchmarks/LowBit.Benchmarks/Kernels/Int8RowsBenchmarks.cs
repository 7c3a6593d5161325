using BenchmarkDotNet.Attributes;
using LowBit.Kernels;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// <c>int8act-rows8-vnni-256</c> (weights interleaved 8 rows at a time) against the widest row-major int8-activation kernel
/// this machine runs (the baseline: <c>int8act-512</c>, else <c>int8act-vnni-256</c>, else <c>int8act-256</c>), forced on one
/// thread, per weight format, layer shape and batch: the table behind the registry's int8-activation rows.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class Int8RowsBenchmarks
{
    private ILinearLayer<float> _layer = null!;
    private MatMulKernel _rowMajor = null!, _rows8 = null!;
    private float[] _input = [], _output = [];

    /// <summary>Short, medium and long rows; the CI's dry run (LOWBIT_BENCH_SMOKE=1) takes the first.</summary>
    public static IEnumerable<string> Shapes => Environment.GetEnvironmentVariable("LOWBIT_BENCH_SMOKE") == "1" ? ["1536x384"]
        : ["1536x384", "4864x896", "11008x4096"];

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "1536x384";

    [Params(1, 8, 64)]
    public int Batch { get; set; }

    [Params("int8", "4-bit g64", "2-bit g32", "8-bit g32")]
    public string Weights { get; set; } = "int8";

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _layer = Weights == "int8" ? W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures)
            : LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, Weights[0] - '0', int.Parse(Weights[(Weights.IndexOf('g') + 1)..]));
        _rowMajor = new[] { KernelRegistry.IntDot512, KernelRegistry.IntVnni256, KernelRegistry.IntDot256 }.First(k => k.IsSupported);
        _rows8 = KernelRegistry.IntRows8Vnni256.IsSupported ? KernelRegistry.IntRows8Vnni256 : _rowMajor;
        Console.WriteLine($"// baseline {_rowMajor.Name}" + (_rows8 == _rowMajor ? "; no AVX-VNNI here: the rows8 row runs the baseline too" : ""));
    }

    [Benchmark(Baseline = true, Description = "row-major")]
    public void RowMajor() => Run(_rowMajor);

    [Benchmark(Description = "rows8")]
    public void Rows8() => Run(_rows8);

    private void Run(MatMulKernel kernel)
    {
        if (_layer is W8A16Linear<float> int8) int8.Run(kernel, _input, _output, maxThreads: 1);
        else ((LowBitLinear<float>)_layer).Run(kernel, _input, _output, maxThreads: 1);
    }
}
