namespace LowBit.Tests.Models;

/// <summary>
/// Writes the vocabulary-only GGUF files that the tokenizer fixtures were made from: run it with LOWBIT_WRITE_VOCABS set
/// to a folder, then llama.cpp's tokenizer on each (../shared/peers/llama: <c>llama_peer tokenize FILE.gguf
/// Fixtures/tokenizer-corpus.txt OUT.json [--parse-special]</c>) and check the JSON in as Fixtures/tokenizer-NAME.json.
/// </summary>
public class TokenizerFixtureWriter
{
    internal static readonly (string Name, Func<TestVocabularies.Vocabulary> Vocabulary)[] Vocabularies =
    [
        ("spm", () => TestVocabularies.SentencePiece(1024, extras: true)),
        ("gpt2", () => TestVocabularies.Gpt2("gpt-2")),
        ("llama-bpe", () => TestVocabularies.Gpt2("llama-bpe")),
        ("qwen2", () => TestVocabularies.Gpt2("qwen2")),
    ];

    [Test]
    [Explicit("writes the GGUF files the tokenizer fixtures come from; set LOWBIT_WRITE_VOCABS")]
    public void WriteVocabularies()
    {
        string? folder = Environment.GetEnvironmentVariable("LOWBIT_WRITE_VOCABS");
        if (string.IsNullOrEmpty(folder)) Assert.Ignore("LOWBIT_WRITE_VOCABS is not set");
        Directory.CreateDirectory(folder);
        foreach ((string name, Func<TestVocabularies.Vocabulary> vocabulary) in Vocabularies)
        {
            TestVocabularies.Vocabulary v = vocabulary();
            new TinyDecoder { Vocabulary = v.Tokens.Length, Tokenizer = v, Layers = 1, Hidden = 64, Heads = 2, KvHeads = 1, FeedForward = 64 }
                .Write(Path.Combine(folder, $"vocab-{name}.gguf"));
        }
    }
}
