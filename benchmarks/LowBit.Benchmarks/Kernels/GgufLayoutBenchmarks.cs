using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// The layouts GGUF's types load into (<see cref="IO.GgufFile.LoadLowBitLinear{T}"/>), on the same float weights, one
/// thread, both activation precisions: Q8_0 (8-bit group 32), Q6_K (8-bit group 16), Q4_0 (4-bit group 32), Q4_K (4-bit
/// group 32 with float offsets) and Q2_K (2-bit group 16 with float offsets), against W8A16. The layouts carry random
/// codes, scales and offsets of the right shapes: the speed depends on the layout, not on the values.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(W8A16Benchmarks.Config))]
public class GgufLayoutBenchmarks
{
    private W8A16Linear<float> _int8 = null!;
    private LowBitLinear<float> _q8_0 = null!, _q6_K = null!, _q4_0 = null!, _q4_K = null!, _q2_K = null!;
    private float[] _input = [], _output = [];

    [Params("11008x4096")]
    public string Shape { get; set; } = "11008x4096";

    [Params(1, 8, 64)]
    public int Batch { get; set; }

    [Params(ActivationPrecision.Float, ActivationPrecision.Int8)]
    public ActivationPrecision Activations { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(Shape, Batch, out _input, out _output);
        _int8 = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
        _q8_0 = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 8, 32);
        _q6_K = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 8, 16);
        _q4_0 = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 32);
        _q4_K = WithOffsets(LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 4, 32));
        _q2_K = WithOffsets(LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, 2, 16));
    }

    private static LowBitLinear<float> WithOffsets(LowBitLinear<float> layer)
    {
        var random = new Random(7);
        float[] offsets = new float[layer.Scales.Length];
        for (int i = 0; i < offsets.Length; i++) offsets[i] = (float)(random.NextDouble() * 0.01);
        return LowBitLinear<float>.FromQuantized(layer.PackedWeights, layer.Scales, layer.ZeroPoints, layer.OutFeatures, layer.InFeatures,
                                                 layer.Bits, layer.GroupSize, offsets: offsets);
    }

    [Benchmark(Baseline = true, Description = "W8A16")]
    public void Int8() => _int8.Forward(_input, _output, 1, Activations);

    [Benchmark(Description = "Q8_0 (8-bit g32)")]
    public void Q8_0() => _q8_0.Forward(_input, _output, 1, Activations);

    [Benchmark(Description = "Q6_K (8-bit g16)")]
    public void Q6_K() => _q6_K.Forward(_input, _output, 1, Activations);

    [Benchmark(Description = "Q4_0 (4-bit g32)")]
    public void Q4_0() => _q4_0.Forward(_input, _output, 1, Activations);

    [Benchmark(Description = "Q4_K (4-bit g32, offsets)")]
    public void Q4_K() => _q4_K.Forward(_input, _output, 1, Activations);

    [Benchmark(Description = "Q2_K (2-bit g16, offsets)")]
    public void Q2_K() => _q2_K.Forward(_input, _output, 1, Activations);
}
