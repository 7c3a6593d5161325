using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// <see cref="ActivationPrecision.Int8"/> against the exact float path (the baseline) on the peers' two shapes: GEMV
/// 11008 x 4096 at batch 1 (G weights/s) and GEMM 4096 x 4096 at batch 64 (GFLOP/s), for per-channel int8 (W8A16),
/// 4-bit groups of 32 and 64 and 2-bit groups of 32, on one thread and on all threads. "cold" cycles through four copies
/// of the layer (over 100 MB), so the weights come from DRAM, as in a model larger than the L3; without it, a layer that
/// fits the L3 (the smaller formats at 11008 x 4096 on a 32 MB L3) is partly served from there, as in the peers' runs.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class Int8ActivationBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new Infrastructure.ThroughputColumn("G weights/s", c => Parse((string)c.Parameters["Case"]).Weights));
            AddColumn(new Infrastructure.ThroughputColumn("GFLOP/s", c =>
                2.0 * Parse((string)c.Parameters["Case"]).Weights * Parse((string)c.Parameters["Case"]).Batch));
        }
    }

    /// <summary>"11008x4096 b1 cold" as its shape, weight count, batch and whether it cycles through copies.</summary>
    private static (string Shape, double Weights, int Batch, bool Cold) Parse(string @case)
    {
        string[] parts = @case.Split(' ');
        var (o, i) = Infrastructure.AnyMatMulProblem.ParseShape(parts[0]);
        return (parts[0], (double)o * i, int.Parse(parts[1][1..]), parts.Length > 2 && parts[2] == "cold");
    }

    private Action<ActivationPrecision> _forward = null!;

    /// <summary>The peers' GEMV (11008 x 4096, batch 1) and GEMM (4096 x 4096, batch 64).</summary>
    [Params("11008x4096 b1", "11008x4096 b1 cold", "4096x4096 b64")]
    public string Case { get; set; } = "11008x4096 b1";

    [Params("int8", "4-bit g32", "4-bit g64", "2-bit g32")]
    public string Weights { get; set; } = "int8";

    /// <summary>1, or 0 for all cores.</summary>
    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (shape, _, batch, cold) = Parse(Case);
        var (outFeatures, inFeatures, weights) = LowBitBenchmarks.Operands(shape, batch, out float[] input, out float[] output);
        int threads = Threads, copies = cold ? 4 : 1, next = 0;
        var layers = new Action<ActivationPrecision>[copies];
        for (int c = 0; c < copies; c++)
        {
            if (Weights == "int8")
            {
                var layer = W8A16Linear<float>.FromWeights(weights, outFeatures, inFeatures);
                layers[c] = mode => layer.Forward(input, output, threads, mode);
            }
            else
            {
                int bits = Weights[0] - '0', group = int.Parse(Weights[(Weights.IndexOf('g') + 1)..]);
                var layer = LowBitLinear<float>.FromWeights(weights, outFeatures, inFeatures, bits, group);
                layers[c] = mode => layer.Forward(input, output, threads, mode);
            }
        }

        _forward = copies == 1 ? layers[0] : mode => layers[next++ & 3](mode);
    }

    [Benchmark(Baseline = true, Description = "float act.")]
    public void Float() => _forward(ActivationPrecision.Float);

    [Benchmark(Description = "int8 act.")]
    public void Int8() => _forward(ActivationPrecision.Int8);
}
