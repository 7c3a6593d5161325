using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Models;

namespace LowBit.Benchmarks.Models;

/// <summary>
/// A decoder's two phases, as llama.cpp's llama-bench times them: a 128-token prompt in one batched pass (prefill, its
/// last logits), and 32 greedy tokens one at a time from BOS (decode). Tokens per second are the Throughput column.
/// The model is LOWBIT_DECODER_MODEL (the llama peer's files: ../shared/peers/llama run.sh gen tinyllama q4_0), else a small
/// random one. Threads: 1, or 0 for all cores. A call takes seconds: run it with <c>--job short</c> (or fewer iterations).
/// </summary>
[Config(typeof(Config))]
public class DecoderBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new Infrastructure.ThroughputColumn("tokens/s", c => 1e9 * (c.Descriptor.WorkloadMethod.Name == nameof(Prefill) ? PromptTokens
                : DecodeTokens)));
        }
    }

    private const int PromptTokens = 128, DecodeTokens = 32;
    private DecoderModel _model = null!;
    private int[] _prompt = [];
    private float[] _logits = [];

    [Params(ActivationPrecision.Float, ActivationPrecision.Int8)]
    public ActivationPrecision Activations { get; set; }

    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = DecoderModel.Open(BenchmarkModels.Decoder(), new DecoderOptions
        {
            Activations = Activations,
            MaxThreads = Threads,
            ContextLength = 512
        });
        int v = _model.VocabularySize;
        _prompt = Enumerable.Range(1, PromptTokens).Select(i => 1 + (i * 7919 + 13) % (v - 1)).ToArray();
        _logits = new float[v];
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();

    [Benchmark(Description = "prefill 128")]
    public void Prefill()
    {
        using DecoderSession session = _model.CreateSession();
        session.EvaluateLast(_prompt, _logits);
    }

    [Benchmark(Description = "decode 32")]
    public int Decode()
    {
        using DecoderSession session = _model.CreateSession();
        int token = _model.Tokenizer.BosId ?? 1;
        for (int i = 0; i < DecodeTokens; i++)
        {
            session.EvaluateLast([token], _logits);
            token = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(_logits);
        }

        return token;
    }
}
