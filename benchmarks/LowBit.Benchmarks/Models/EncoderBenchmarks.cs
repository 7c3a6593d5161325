using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Models;

namespace LowBit.Benchmarks.Models;

/// <summary>
/// Sentence embeddings end to end, as the MiniLM peer times ONNX Runtime: its sentences (4 to 125 tokens) one per call,
/// and all in one call (packed, no padding). Sentences per second are the Throughput column. The model is
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

    /// <summary>
    /// LOWBIT_ENCODER_SENTENCES (a file, one per line), else the MiniLM peer's 20 sentences (4 to 125 tokens, what ONNX
    /// Runtime is timed on) from its work folder when it has run here, else 20 of our own.
    /// </summary>
    private static readonly string[] Sentences = LoadSentences();

    private static string[] LoadSentences()
    {
        string? path = Environment.GetEnvironmentVariable("LOWBIT_ENCODER_SENTENCES");
        if (!string.IsNullOrEmpty(path)) return File.ReadAllLines(path).Where(l => l.Length > 0).ToArray();
        string peer = Path.Combine(Environment.GetEnvironmentVariable("LOWBIT_PEER_MINILM") ?? "/tmp/lowbit-peer-minilm", "out", "ort.json");
        if (File.Exists(peer))
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(peer));
            return json.RootElement.GetProperty("sentences").EnumerateArray().Select(e => e.GetString()!).ToArray();
        }

        return
        [
            "The quick brown fox jumps over the lazy dog.",
            "A man is playing a guitar on the street.",
            "Quantized weights make models cheap to serve.",
            "The cat sat on the mat.",
            "Machine translation has improved dramatically since neural networks replaced phrase tables.",
            "Hello, world!",
            "She sells sea shells by the sea shore.",
            "A naïve café owner served crème brûlée to the critics.",
            "Stocks fell after the announcement.",
            "How do I reset my password?",
            "The weather today is sunny with a light breeze from the west.",
            "Paris is the capital of France.",
            "Embeddings map sentences to vectors so that similar meanings lie close together.",
            "I love programming in C#.",
            "Dogs are loyal companions.",
            "The results were published in a peer-reviewed journal last spring.",
            "Please turn off the lights when you leave.",
            "https://example.com/path?query=1 is a URL with punctuation and numbers 12345.",
            "They'll arrive at 10:30 tomorrow, won't they?",
            string.Join(' ', Enumerable.Repeat("A long sentence that goes on and on to test the longer inputs of the model.", 6)),
        ];
    }

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

    [Benchmark(Description = "all per call")]
    public void Batch() => _model.Embed(Sentences, _output);
}
