using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Models;

namespace LowBit.Benchmarks.Models;

/// <summary>
/// Sentence embeddings end to end, as the MiniLM peer times ONNX Runtime: its 20 sentences (4 to 125 tokens) one per call,
/// and all 20 in one call (packed, no padding). Sentences per second are the Throughput column. The model is
/// LOWBIT_ENCODER_MODEL (a folder: all-MiniLM-L6-v2 from ../shared/peers/minilm, or it quantized by lowbit quantize), else
/// a small random BERT.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class EncoderBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new Infrastructure.ThroughputColumn("sentences/s", _ => 1e9 * Sentences.Length));
    }

    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog.", "A man is playing a guitar on the street.",
            "Quantized weights make large language models cheap to serve.",
        "The cat sat on the mat.", "Machine translation has improved dramatically since neural networks replaced phrase tables.", "Hello, world!",
        "She sells sea shells by the sea shore.", "A naïve café owner served crème brûlée to the critics.",
            "Stocks fell sharply after the announcement.",
        "How do I reset my password?", "The weather today is sunny with a light breeze from the west.", "Paris is the capital of France.",
        "Embeddings map sentences to vectors so that similar meanings lie close together.", "I love programming in C#.", "Dogs are loyal companions.",
        "The results were published in a peer-reviewed journal last spring.", "Please turn off the lights when you leave.",
        "https://example.com/path?query=1 is a URL with punctuation and numbers 12345.", "They'll arrive at 10:30 tomorrow, won't they?",
        string.Join(' ', Enumerable.Repeat("A long sentence that goes on and on to test the longer inputs of the model.", 6)),
    ];

    private EncoderModel _model = null!;
    private float[] _output = [];
    private readonly string[][] _single = Sentences.Select(s => new[] { s }).ToArray();

    [Params(ActivationPrecision.Float, ActivationPrecision.Int8)]
    public ActivationPrecision Activations { get; set; }

    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = EncoderModel.Open(BenchmarkModels.Encoder(), new EncoderOptions { Activations = Activations, MaxThreads = Threads });
        _output = new float[Sentences.Length * _model.Dimension];
    }

    [Benchmark(Baseline = true, Description = "one per call")]
    public void OnePerCall()
    {
        for (int i = 0; i < _single.Length; i++) _model.Embed(_single[i], _output.AsSpan(i * _model.Dimension, _model.Dimension));
    }

    [Benchmark(Description = "20 per call")]
    public void Batch() => _model.Embed(Sentences, _output);
}
