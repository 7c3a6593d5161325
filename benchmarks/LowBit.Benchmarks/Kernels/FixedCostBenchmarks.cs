using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Kernels;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// What a call costs before any weight is touched: scratch, input conversion and arrangement, group sums, dispatch and
/// the worker hand-off. "fixed" runs the planned kernel with its work items replaced by a no-op; "whole call" is the
/// real Forward. On a small layer at batch 1 the fixed part must stay under 5% of the call.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class FixedCostBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(BenchmarkDotNet.Columns.StatisticColumn.Median);
    }

    private W8A16Linear<float> _int8 = null!;
    private LowBitLinear<float> _four = null!, _two = null!;
    private MatMulKernel _int8Fixed = null!, _fourFixed = null!, _twoFixed = null!;
    private float[] _input = [], _output = [];

    [Params("768x3072", "1536x384")]
    public string Shape { get; set; } = "768x3072";

    [Params(1, 8)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        _four = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 64);
        _two = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 2, 32);
        _int8Fixed = new NoWork(_int8.Plan.Route(Batch, ActivationPrecision.Float).Kernel);
        _fourFixed = new NoWork(_four.Plan.Route(Batch, ActivationPrecision.Float).Kernel);
        _twoFixed = new NoWork(_two.Plan.Route(Batch, ActivationPrecision.Float).Kernel);
    }

    [Benchmark(Description = "W8A16 whole call")]
    public void Int8Call() => _int8.Forward(_input, _output, 1);

    [Benchmark(Description = "W8A16 fixed")]
    public void Int8Fixed() => _int8.Run(_int8Fixed, _input, _output, 1);

    [Benchmark(Description = "4-bit whole call")]
    public void FourCall() => _four.Forward(_input, _output, 1);

    [Benchmark(Description = "4-bit fixed")]
    public void FourFixed() => _four.Run(_fourFixed, _input, _output, 1);

    [Benchmark(Description = "2-bit whole call")]
    public void TwoCall() => _two.Forward(_input, _output, 1);

    [Benchmark(Description = "2-bit fixed")]
    public void TwoFixed() => _two.Run(_twoFixed, _input, _output, 1);

    /// <summary>A kernel that prepares like <paramref name="inner"/> and splits the same work items, but computes nothing.</summary>
    private sealed unsafe class NoWork(MatMulKernel inner) : MatMulKernel(inner.Name + " (no work)", inner.Isa, inner.Formats, inner.Layouts)
    {
        public override bool IsSupported => inner.IsSupported;

        protected override bool Fits(in LayerShape shape) => inner.Takes(shape);

        public override long PreparedFloats(in LayerShape shape, int batch) => inner.PreparedFloats(shape, batch);

        public override bool UsesGroupSums => inner.UsesGroupSums;

        public override bool UsesLaneSums => inner.UsesLaneSums;

        public override int RowGranularity => inner.RowGranularity;

        public override void Prepare(float* input, ref KernelArgs args) => inner.Prepare(input, ref args);

        public override int RowsPerChunk(in LayerShape shape, int batch) => inner.RowsPerChunk(shape, batch);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &Nothing;

        private static void Nothing(void* state, int chunk)
        {
        }
    }
}
