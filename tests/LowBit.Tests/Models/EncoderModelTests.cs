using System.Text.Json;
using LowBit.IO;
using LowBit.Models;
using LowBit.Tests.Infrastructure;
using LowBit.Tests.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// The sentence encoder against a float64 BERT of the same folder (<see cref="TinyEncoder"/>), the WordPiece tokenizer
/// against Hugging Face's algorithm (fixtures from tools/make_wordpiece_fixture.py), and, when the MiniLM peer has run
/// (LOWBIT_MINILM_DIR or /tmp/lowbit-peer-minilm), the real all-MiniLM-L6-v2 against ONNX Runtime's float64 reference.
/// </summary>
public class EncoderModelTests
{
    private static readonly string[] Texts =
    [
        "The quick brown fox jumps over the lazy dog.", "hello world", "", "A naïve café serves crème brûlée",
        "Straße STRASSE señor 中文 日本", "playing tokenizer embedding unable", "new york NEW YORK New York new york new york",
    ];

    [TestCase("uncased")]
    [TestCase("cased")]
    public void WordPiece_GivesHuggingFacesIds(string casing)
    {
        using JsonDocument fixture = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Repository.Root, "tests", "LowBit.Tests", "Models", "Fixtures",
                                                                                       $"wordpiece-{casing}.json")));
        var tokenizer = WordPieceTokenizer.FromVocabulary(TinyEncoder.VocabularyPath, fixture.RootElement.GetProperty("lower_case").GetBoolean());
        string[] lines = fixture.RootElement.GetProperty("lines").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int[][] ids = fixture.RootElement.GetProperty("ids").EnumerateArray().Select(r => r.EnumerateArray().Select(e =>
            e.GetInt32()).ToArray()).ToArray();
        Assert.That(lines, Has.Length.GreaterThan(10));
        // This process runs with InvariantGlobalization (Directory.Build.props): the accents come off by the tokenizer's own tables.
        for (int i = 0; i < lines.Length; i++)
        {
            Assert.That(tokenizer.Encode(lines[i]), Is.EqualTo(ids[i]), $"line {i}: {lines[i]}");
            Assert.That(tokenizer.EncodeToIds(lines[i]), Is.EqualTo(ids[i]), $"line {i} through Tokenizer.EncodeToIds");
        }

        int[] truncated = tokenizer.Encode(lines[0], maxTokens: 5);
        Assert.That(truncated, Is.EqualTo(ids[0][..4].Append(tokenizer.SeparatorId)), "truncation keeps [CLS], the first pieces, [SEP]");
        Assert.Throws<ArgumentException>(() => tokenizer.Encode("bad \ud800 surrogate"));
        Assert.That(tokenizer.Decode(tokenizer.Encode("hello world unable")), Is.EqualTo("hello world unable"));
    }

    private static IEnumerable<TestCaseData> Configurations()
    {
        yield return new TestCaseData(new TinyEncoder()).SetName("F32, mean, normalized");
        yield return new TestCaseData(new TinyEncoder { DType = SafeTensorDType.F16, Seed = 2 }).SetName("F16");
        yield return new TestCaseData(new TinyEncoder { DType = SafeTensorDType.BF16, Seed = 3 }).SetName("BF16");
        yield return new TestCaseData(new TinyEncoder { Pooling = "cls", Normalize = false, Seed = 4 }).SetName("CLS pooling, not normalized");
        yield return new TestCaseData(new TinyEncoder
        {
            Pooling = "max",
            Heads = 8,
            Hidden = 96,
            Intermediate = 200,
            Seed = 5
        }).SetName("max pooling, 8 heads of 12");
    }

    [TestCaseSource(nameof(Configurations))]
    public void Embed_MatchesFloat64Reference(TinyEncoder tiny)
    {
        using var folder = new TempFolder();
        using var model = EncoderModel.Open(tiny.Write(folder.Path), new EncoderOptions { MaxThreads = 2 });
        Assert.That(model.Dimension, Is.EqualTo(tiny.Hidden));
        var batch = new float[Texts.Length * model.Dimension + 1];
        batch[^1] = 99;
        model.Embed(Texts, batch.AsSpan(0, Texts.Length * model.Dimension));
        Assert.That(batch[^1], Is.EqualTo(99), "sentinel");
        for (int t = 0; t < Texts.Length; t++)
        {
            double[] expected = tiny.Reference(model.Tokenizer.Encode(Texts[t], tiny.MaxSequenceLength));
            float[] alone = model.Embed(Texts[t]);
            for (int e = 0; e < model.Dimension; e++)
            {
                Assert.That(batch[t * model.Dimension + e], Is.EqualTo(expected[e]).Within(1e-5), $"text {t} [{e}] in a batch");
                Assert.That(alone[e], Is.EqualTo(batch[t * model.Dimension + e]).Within(1e-6), $"text {t} [{e}] alone");
            }
        }
    }

    /// <summary>Texts past the maximum length are cut to it ([CLS], the first pieces, [SEP]), as sentence-transformers does.</summary>
    [Test]
    public void LongText_IsTruncated()
    {
        using var folder = new TempFolder();
        var tiny = new TinyEncoder { MaxSequenceLength = 16 };
        using var model = EncoderModel.Open(tiny.Write(folder.Path));
        string text = string.Join(' ', Enumerable.Repeat("the quick brown fox", 40));
        int[] ids = model.Tokenizer.Encode(text, 16);
        Assert.That(ids, Has.Length.EqualTo(16));
        Assert.That(model.Embed(text), Is.EqualTo(tiny.Reference(ids)).Within(1e-5));
    }

    /// <summary>A checkpoint quantized by lowbit quantize (int8 rows, 4-bit groups) runs on LowBit's kernels, in both precisions, close to
    /// float.</summary>
    [TestCase(8, ActivationPrecision.Float, 0.999)]
    [TestCase(8, ActivationPrecision.Int8, 0.995)]
    [TestCase(4, ActivationPrecision.Float, 0.97)]
    public void QuantizedCheckpoint_StaysCloseToFloat(int bits, ActivationPrecision activations, double minimumCosine)
    {
        using var folder = new TempFolder();
        var tiny = new TinyEncoder { Seed = 8 };
        string source = tiny.Write(Path.Combine(folder.Path, "float"));
        string quantized = Path.Combine(folder.Path, "quantized");
        Directory.CreateDirectory(quantized);
        foreach (string file in new[] { "config.json", "vocab.txt" }) File.Copy(Path.Combine(source, file), Path.Combine(quantized, file));
        CheckpointQuantizer.Quantize(Path.Combine(source, "model.safetensors"), Path.Combine(quantized, "model.safetensors"),
            new CheckpointQuantizerOptions { Bits = bits, GroupSize = bits == 8 ? 0 : 32, Exclude = ["embeddings"] });
        using var model = EncoderModel.Open(quantized, new EncoderOptions { Activations = activations });
        foreach (string text in Texts)
        {
            double[] expected = tiny.Reference(model.Tokenizer.Encode(text, tiny.MaxSequenceLength));
            float[] actual = model.Embed(text);
            double cosine = expected.Zip(actual, (a, b) => a * b).Sum();
            Assert.That(cosine, Is.GreaterThanOrEqualTo(minimumCosine), text);
        }
    }

    [Test]
    public void ConcurrentCalls_GiveWhatEachGivesAlone()
    {
        using var folder = new TempFolder();
        using var model = EncoderModel.Open(new TinyEncoder().Write(folder.Path));
        float[][] alone = Texts.Select(model.Embed).ToArray();
        var together = new float[Texts.Length * 8][];
        Parallel.For(0, together.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => together[i] = model.Embed(Texts[i % Texts.Length]));
        for (int i = 0; i < together.Length; i++) Assert.That(together[i], Is.EqualTo(alone[i % Texts.Length]).Within(1e-6));
    }

    [Test]
    public void BadFolders_AndCalls_FailClearly()
    {
        using var folder = new TempFolder();
        string good = new TinyEncoder().Write(Path.Combine(folder.Path, "good"));
        Assert.Throws<FileNotFoundException>(() => EncoderModel.Open(Path.Combine(folder.Path, "missing")));
        string noConfig = Path.Combine(folder.Path, "no-config");
        Directory.CreateDirectory(noConfig);
        File.Copy(Path.Combine(good, "model.safetensors"), Path.Combine(noConfig, "model.safetensors"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => EncoderModel.Open(noConfig))!.Message, Does.Contain("config.json"));
        string noWeights = Path.Combine(folder.Path, "no-weights");
        new TinyEncoder().Write(noWeights);
        File.Delete(Path.Combine(noWeights, "model.safetensors"));
        Assert.That(Assert.Throws<FileNotFoundException>(() => EncoderModel.Open(noWeights))!.Message, Does.Contain("model.safetensors"));
        string relu = new TinyEncoder { HiddenAct = "relu" }.Write(Path.Combine(folder.Path, "relu"));
        Assert.That(Assert.Throws<NotSupportedException>(() => EncoderModel.Open(relu))!.Message, Does.Contain("'relu'"));
        // A lying file: the config says 3 layers, the weights have 2.
        string lying = new TinyEncoder().Write(Path.Combine(folder.Path, "lying"));
        File.WriteAllText(Path.Combine(lying, "config.json"), File.ReadAllText(Path.Combine(lying, "config.json")).Replace("\"num_hidden_layers\":2",
            "\"num_hidden_layers\":3"));
        Assert.That(Assert.Throws<InvalidDataException>(() => EncoderModel.Open(lying))!.Message, Does.Contain("encoder.layer.2"));
        string truncated = new TinyEncoder().Write(Path.Combine(folder.Path, "truncated"));
        byte[] bytes = File.ReadAllBytes(Path.Combine(truncated, "model.safetensors"));
        File.WriteAllBytes(Path.Combine(truncated, "model.safetensors"), bytes[..(bytes.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => EncoderModel.Open(truncated));

        using var model = EncoderModel.Open(good);
        var output = new float[2 * model.Dimension];
        output[0] = 5;
        Assert.Throws<ArgumentException>(() => model.Embed(["a", "b", "c"], output));
        Assert.Throws<ArgumentException>(() => model.Embed(["a", "bad \udc00"], output));
        Assert.Throws<ArgumentException>(() => model.Embed(["a", null!], output));
        Assert.That(output[0], Is.EqualTo(5), "nothing written");
        Assert.Throws<ArgumentOutOfRangeException>(() => EncoderModel.Open(good, new EncoderOptions { MaxThreads = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => EncoderModel.Open(good, new EncoderOptions { MaxSequenceLength = 1000 }));
    }

    /// <summary>The real all-MiniLM-L6-v2, when the MiniLM peer has run here: ids as Hugging Face's, embeddings within 1e-5 of float64.</summary>
    [Test]
    public void RealMiniLm_MatchesTheFloat64Reference()
    {
        string root = Environment.GetEnvironmentVariable("LOWBIT_MINILM_DIR") ?? "/tmp/lowbit-peer-minilm";
        string modelFolder = Path.Combine(root, "model"), meta = Path.Combine(root, "out", "ort.json"), reference = Path.Combine(root, "out",
                                                                                                                                 "ort.ref64.npy");
        if (!File.Exists(meta) || !File.Exists(reference) || !File.Exists(Path.Combine(modelFolder, "model.safetensors")))
        {
            Assert.Ignore($"the real all-MiniLM-L6-v2 is not here ({root}): run ../shared/peers/minilm/run.sh, or set LOWBIT_MINILM_DIR");
        }

        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(meta));
        string[] sentences = json.RootElement.GetProperty("sentences").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int[] lengths = json.RootElement.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[][] ids = json.RootElement.GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(e =>
            e.GetInt32()).ToArray()).ToArray();
        byte[] npy = File.ReadAllBytes(reference);
        int header = BitConverter.ToUInt16(npy, 8);
        using var model = EncoderModel.Open(modelFolder);
        var expected = new double[sentences.Length * model.Dimension];
        Buffer.BlockCopy(npy, 10 + header, expected, 0, expected.Length * sizeof(double));
        var actual = new float[expected.Length];
        model.Embed(sentences, actual);
        for (int i = 0; i < sentences.Length; i++)
        {
            Assert.That(model.Tokenizer.Encode(sentences[i], model.Config.MaxSequenceLength), Is.EqualTo(ids[i][..lengths[i]]), sentences[i]);
        }

        for (int i = 0; i < actual.Length; i++) Assert.That(actual[i], Is.EqualTo(expected[i]).Within(1e-5),
                                                            $"sentence {i / model.Dimension} [{i % model.Dimension}]");
    }
}
