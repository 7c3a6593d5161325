using System.Text;
using System.Text.Json;
using LowBit.Models;
using LowBit.Tests.Infrastructure;
using LowBit.Tests.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// The GGUF tokenizers against llama.cpp's own <c>llama_tokenize</c> on a corpus of awkward text (Fixtures/
/// tokenizer-corpus.txt; the ids in Fixtures/tokenizer-NAME.json came from the llama.cpp peer on the vocabularies
/// <see cref="TokenizerFixtureWriter"/> writes): SentencePiece, and byte-level BPE with the gpt-2, llama-bpe and qwen2 splits.
/// </summary>
public class GgufTokenizerTests
{
    private static readonly Dictionary<string, GgufTokenizer> Tokenizers = [];

    private static GgufTokenizer Tokenizer(string name)
    {
        lock (Tokenizers)
        {
            if (Tokenizers.TryGetValue(name, out GgufTokenizer? cached)) return cached;
            TestVocabularies.Vocabulary vocabulary = TokenizerFixtureWriter.Vocabularies.Single(v => v.Name == name).Vocabulary();
            using var folder = new TempFolder();
            string path = new TinyDecoder
            {
                Vocabulary = vocabulary.Tokens.Length,
                Tokenizer = vocabulary,
                Layers = 1,
                Hidden = 64,
                Heads = 2,
                KvHeads = 1,
                FeedForward = 64
            }
                .Write(folder.File("vocab.gguf"));
            using var model = DecoderModel.Open(path);
            return Tokenizers[name] = model.Tokenizer;
        }
    }

    private static (string[] Lines, int[][] Ids, int[][] IdsParseSpecial) Fixture(string name)
    {
        using JsonDocument json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Repository.Root, "tests", "LowBit.Tests", "Models", "Fixtures",
                                                                                    $"tokenizer-{name}.json")));
        string[] lines = json.RootElement.GetProperty("lines").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int[][] Ids(string key) => json.RootElement.GetProperty(key).EnumerateArray().Select(l => l.EnumerateArray().Select(e =>
            e.GetInt32()).ToArray()).ToArray();
        return (lines, Ids("ids"), Ids("ids_parse_special"));
    }

    [TestCase("spm")]
    [TestCase("gpt2")]
    [TestCase("llama-bpe")]
    [TestCase("qwen2")]
    public void EncodeToIds_GivesLlamaCppsIds(string name)
    {
        GgufTokenizer tokenizer = Tokenizer(name);
        (string[] lines, int[][] ids, int[][] idsParseSpecial) = Fixture(name);
        Assert.That(lines, Has.Length.GreaterThan(25));
        for (int i = 0; i < lines.Length; i++)
        {
            Assert.That(tokenizer.EncodeToIds(lines[i]), Is.EqualTo(ids[i]), $"line {i}: {lines[i]}");
            Assert.That(tokenizer.Encode(lines[i], parseSpecial: true), Is.EqualTo(idsParseSpecial[i]),
                        $"line {i} with special tokens parsed: {lines[i]}");
        }
    }

    /// <summary>Decoding gives the text back (SentencePiece drops the space prefix it added).</summary>
    [TestCase("spm")]
    [TestCase("gpt2")]
    [TestCase("qwen2")]
    public void Decode_GivesTheTextBack(string name)
    {
        GgufTokenizer tokenizer = Tokenizer(name);
        // SentencePiece puts a space prefix after a user-defined token too (llama.cpp's is_prev_special), which decoding
        // keeps, and spells spaces '▁', so a '▁' in the text decodes as a space.
        foreach (string line in Fixture(name).Lines.Where(l => name != "spm" || !(l.Contains("<|user|>", StringComparison.Ordinal)
            || l.Contains('▁'))))
        {
            IReadOnlyList<int> ids = tokenizer.EncodeToIds(line);
            Assert.That(tokenizer.Decode(ids), Is.EqualTo(line), line);
            var stream = new TokenTextStream(tokenizer);
            var pieces = ids.Select(stream.Append).ToList();
            pieces.Add(stream.Flush());
            foreach (string piece in pieces) Assert.That(GgufTokenizer.InvalidUtf16(piece), Is.EqualTo(-1),
                                                         $"a streamed piece splits a character: {line}");
            string streamed = string.Concat(pieces);
            Assert.That(streamed, Is.EqualTo(name == "spm" && line.Length > 0 ? " " + line : line), "streamed");
        }
    }

    [Test]
    public void Encode_AddSpecial_PutsBosFirst_AndOffsetsPointIntoTheText()
    {
        GgufTokenizer tokenizer = Tokenizer("spm");
        Assert.That(tokenizer.Encode("hello", addSpecial: true)[0], Is.EqualTo(tokenizer.BosId));
        Assert.That(tokenizer.EncodeToIds(""), Is.Empty);
        var tokens = tokenizer.EncodeToTokens("hello world", out _);
        Assert.That(tokens.Select(t => t.Id), Is.EqualTo(tokenizer.EncodeToIds("hello world")));
        foreach (var token in tokens) Assert.That(token.Offset.End.Value, Is.LessThanOrEqualTo("hello world".Length));
        Assert.That(tokenizer.IsEndOfGeneration(tokenizer.EosId!.Value), Is.True);
        Assert.That(tokenizer.EncodeToIds("hello world", maxTokenCount: 1, out _, out int consumed), Has.Count.EqualTo(1));
        Assert.That(consumed, Is.GreaterThan(0).And.LessThan("hello world".Length));
    }

    [Test]
    public void InvalidUtf16_IsRefused()
    {
        GgufTokenizer tokenizer = Tokenizer("gpt2");
        var e = Assert.Throws<ArgumentException>(() => tokenizer.EncodeToIds("ab\ud800cd"));
        Assert.That(e!.Message, Does.Contain("index 2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([0, 50257]));
    }

    /// <summary>Byte fallback: a character split over byte tokens streams as one whole character once its last byte comes.</summary>
    [Test]
    public void TokenTextStream_HoldsBytesUntilTheCharacterIsWhole()
    {
        GgufTokenizer tokenizer = Tokenizer("spm");
        int[] bytes = Encoding.UTF8.GetBytes("😀").Select(b => 3 + b).ToArray();  // <0xXX> are ids 3..258
        var stream = new TokenTextStream(tokenizer);
        Assert.That(stream.Append(bytes[0]), Is.Empty);
        Assert.That(stream.Append(bytes[1]), Is.Empty);
        Assert.That(stream.Append(bytes[2]), Is.Empty);
        Assert.That(stream.Append(bytes[3]), Is.EqualTo("😀"));
        Assert.That(stream.Append(bytes[0]), Is.Empty);
        Assert.That(stream.Flush(), Is.EqualTo("\ufffd"), "an unfinished character flushes as U+FFFD");
    }
}
