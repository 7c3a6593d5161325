using BenchmarkDotNet.Attributes;
using LowBit.Kernels;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// The Rows8 kernel this machine runs (weights interleaved 8 rows at a time: <c>int8act-rows8-vnni-256</c> with AVX-VNNI,
/// else <c>int8act-rows8-256</c> with AVX2, else <c>int8act-rows8-128</c>, where it takes the format) against the route
/// the registry's table takes with row-major kernels only (the baseline: what ran before the interleaved kernel, <c>int8act-512</c> on AVX-512, or a
/// float kernel on the int8-rounded input where no integer kernel takes the layout), on one thread, per weight format,
/// layer shape and batch: the table behind the registry's int8-activation rows. The third row runs <c>int8act-rows16-512</c>
/// (16 rows interleaved, AVX-512BW, 2/4-bit groups) where it runs and takes the format, else the Rows8 kernel again.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class Int8RowsBenchmarks
{
    private ILinearLayer<float> _layer = null!;
    private KernelRoute _rowMajor;
    private MatMulKernel _rows8 = null!, _rows16 = null!;
    private float[] _input = [], _output = [], _dequantized = [];

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
        LayerShape shape = Weights == "int8" ? LayerShape.Int8(outFeatures, inFeatures)
            : LayerShape.Grouped(Weights[0] - '0', outFeatures, inFeatures, int.Parse(Weights[(Weights.IndexOf('g') + 1)..]));
        _rowMajor = KernelPlan.TableRoute(shape, Batch, ActivationPrecision.Int8, layouts: false);
        _dequantized = new float[_input.Length];
        MatMulKernel[] rows8 = [KernelRegistry.IntRows8Vnni256, KernelRegistry.IntRows8Avx2, KernelRegistry.IntRows8Vector128];
        _rows8 = rows8.FirstOrDefault(k => k.IsSupported && k.Takes(shape)) ?? _rowMajor.Kernel;
        _rows16 = KernelRegistry.IntRows16Avx512 is { IsSupported: true } rows16 && rows16.Takes(shape) ? rows16 : _rows8;
        Console.WriteLine($"// {Weights} {Shape} batch {Batch}: baseline {_rowMajor}; rows8 {_rows8}; rows16 {_rows16}"
                          + (_rows8 == _rowMajor.Kernel ? " (no Rows8 kernel takes it here: the rows8 row runs the baseline too)" : ""));
    }

    [Benchmark(Baseline = true, Description = "row-major")]
    public void RowMajor()
    {
        if (!_rowMajor.DequantizesActivations)
        {
            Run(_rowMajor.Kernel);
            return;
        }

        // As LinearForward does it: the input rounded to int8 per block and dequantized, then the float kernel.
        ActivationQuantizer.DequantizedRows(_input, _dequantized, _input.Length / Batch);
        Run(_rowMajor.Kernel, _dequantized);
    }

    [Benchmark(Description = "rows8")]
    public void Rows8() => Run(_rows8);

    [Benchmark(Description = "rows16")]
    public void Rows16() => Run(_rows16);

    private void Run(MatMulKernel kernel) => Run(kernel, _input);

    private void Run(MatMulKernel kernel, float[] input)
    {
        if (_layer is W8A16Linear<float> int8) int8.Run(kernel, input, _output, maxThreads: 1);
        else ((LowBitLinear<float>)_layer).Run(kernel, input, _output, maxThreads: 1);
    }
}
