using LowBit.IO;
using LowBit.Models;
using LowBit.Tests.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// The decoder runtime against a float64 forward pass of the same file (<see cref="DecoderReference"/>), on random-weight
/// models of every GGUF weight type, both architectures and assorted hyperparameters: the exact path within 1e-5 relative
/// rms with the same top-1 token at every position, the prompt in one batch and token by token.
/// </summary>
public class DecoderModelTests
{
    private static readonly int[] Prompt = [1, 541, 810, 314, 583, 852, 356, 625, 894, 398, 667, 936, 440, 709, 978, 482];

    private static IEnumerable<TestCaseData> WeightTypes() =>
        new[] { GgufType.F32, GgufType.F16, GgufType.BF16, GgufType.Q8_0, GgufType.Q4_0, GgufType.Q4_1, GgufType.Q5_0, GgufType.Q5_1,
                GgufType.Q2_K, GgufType.Q3_K, GgufType.Q4_K, GgufType.Q5_K, GgufType.Q6_K }
            .SelectMany(t => new[] { new TestCaseData(t, "llama"), new TestCaseData(t, "qwen2") });

    [TestCaseSource(nameof(WeightTypes))]
    public void ExactPath_MatchesFloat64Reference_EveryWeightType(GgufType type, string arch)
    {
        using var folder = new TempFolder();
        var tiny = new TinyDecoder
        {
            Architecture = arch,
            Type = type,
            Biases = arch == "qwen2",
            Tied = arch == "qwen2",
            Seed = (int)type
            + arch.Length
        };
        string path = tiny.Write(folder.File("model.gguf"));
        CheckAgainstReference(path, Prompt);
    }

    /// <summary>Head counts, grouped-query ratios, head sizes, partial rotary dimensions, rope bases, epsilons, vocabularies, tied or not.</summary>
    [TestCase("llama", 128, 4, 4, 384, 300, 10000f, null, 1e-6f, false)]
    [TestCase("llama", 192, 6, 2, 320, 700, 500000f, 16, 1e-5f, true)]
    [TestCase("qwen2", 128, 8, 1, 256, 512, 1000000f, null, 1e-6f, false)]
    [TestCase("qwen2", 96, 3, 3, 160, 333, 50000f, 24, 1e-5f, true)]
    [TestCase("llama", 64, 1, 1, 64, 280, 10000f, 8, 1e-5f, false)]
    public void ExactPath_MatchesFloat64Reference_AnyHyperparameters(string arch, int hidden, int heads, int kvHeads, int ffn, int vocabulary,
                                                                    float ropeBase, int? ropeDimensions, float epsilon, bool tied)
    {
        using var folder = new TempFolder();
        var tiny = new TinyDecoder
        {
            Architecture = arch,
            Hidden = hidden,
            Heads = heads,
            KvHeads = kvHeads,
            FeedForward = ffn,
            Vocabulary = vocabulary,
            RopeBase = ropeBase,
            RopeDimensions = ropeDimensions,
            Epsilon = epsilon,
            Tied = tied,
            Biases = arch == "qwen2",
            Layers = 3,
            Type = GgufType.Q8_0,
            Seed = hidden + vocabulary,
        };
        string path = tiny.Write(folder.File("model.gguf"));
        CheckAgainstReference(path, Prompt.Select(t => t % vocabulary).ToArray());
    }

    private static void CheckAgainstReference(string path, int[] prompt)
    {
        var reference = new DecoderReference(path);
        double[] expected = reference.Logits(prompt);
        using var model = DecoderModel.Open(path, new DecoderOptions { MaxThreads = 2 });
        int v = model.VocabularySize;
        Assert.That(v, Is.EqualTo(reference.Vocabulary));

        using DecoderSession batch = model.CreateSession();
        var logits = new float[prompt.Length * v];
        batch.Evaluate(prompt, logits);
        AssertClose(expected, logits, v, 1e-5, "one batch");
        Assert.That(batch.Position, Is.EqualTo(prompt.Length));

        using DecoderSession incremental = model.CreateSession();
        var step = new float[prompt.Length * v];
        for (int t = 0; t < prompt.Length; t++) incremental.Evaluate(prompt.AsSpan(t, 1), step.AsSpan(t * v, v));
        AssertClose(expected, step, v, 1e-5, "token by token");
    }

    /// <summary>rms(actual - expected) / rms(expected) within <paramref name="relative"/>, and the same top-1 token at every position.</summary>
    internal static double AssertClose(double[] expected, float[] actual, int vocabulary, double relative, string label, bool topOne = true)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
            norm += expected[i] * expected[i];
        }

        double rel = Math.Sqrt(diff / norm);
        Assert.That(rel, Is.LessThanOrEqualTo(relative), $"{label}: rms(LowBit - float64) / rms(float64)");
        if (!topOne) return rel;
        for (int t = 0; t < expected.Length / vocabulary; t++)
        {
            int e = 0, a = 0;
            for (int i = 1; i < vocabulary; i++)
            {
                if (expected[t * vocabulary + i] > expected[t * vocabulary + e]) e = i;
                if (actual[t * vocabulary + i] > actual[t * vocabulary + a]) a = i;
            }

            Assert.That(a, Is.EqualTo(e), $"{label}: top-1 token at position {t}");
        }

        return rel;
    }

    /// <summary>Int8 activations round each activation to 8 bits per block of 32, as llama.cpp does: its logits sit 2-3% from float64 on these
    /// models.</summary>
    [TestCase(GgufType.Q8_0, "llama")]
    [TestCase(GgufType.Q4_0, "llama")]
    [TestCase(GgufType.Q4_K, "qwen2")]
    [TestCase(GgufType.Q6_K, "llama")]
    [TestCase(GgufType.Q2_K, "qwen2")]
    public void Int8Activations_StayWithinActivationRoundingOfTheReference(GgufType type, string arch)
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Architecture = arch, Type = type, Biases = arch == "qwen2", Seed = 7 }.Write(folder.File("model.gguf"));
        double[] expected = new DecoderReference(path).Logits(Prompt);
        using var model = DecoderModel.Open(path, new DecoderOptions { Activations = ActivationPrecision.Int8 });
        using DecoderSession session = model.CreateSession();
        var logits = new float[Prompt.Length * model.VocabularySize];
        session.Evaluate(Prompt, logits);
        // llama.cpp on the peer's models: 1.8e-2 to 2.9e-2; 1.5x its worst is the bound.
        AssertClose(expected, logits, model.VocabularySize, 0.045, "int8 activations", topOne: false);
    }

    /// <summary>Greedy generation gives the reference's greedy ids, up to the first step where its two best logits are within 1e-4.</summary>
    [TestCase(GgufType.F32, "llama")]
    [TestCase(GgufType.Q4_0, "qwen2")]
    public void GreedyGeneration_FollowsTheReference(GgufType type, string arch)
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Architecture = arch, Type = type, Layers = 2, Seed = 11 }.Write(folder.File("model.gguf"));
        int[] prompt = Prompt[..6];
        (int[] expected, double[] gaps) = new DecoderReference(path).Greedy(prompt, 24);
        using var model = DecoderModel.Open(path);
        using DecoderSession session = model.CreateSession();
        int[] actual = session.GenerateIds(prompt, new GenerationOptions
        {
            MaxTokens = 24,
            Temperature = 0,
            StopAtEndOfGeneration = false
        }).ToArray();
        Assert.That(actual, Has.Length.EqualTo(24));
        int comparable = Array.FindIndex(gaps, g => g < 1e-4);
        if (comparable < 0) comparable = gaps.Length;
        Assert.That(comparable, Is.GreaterThanOrEqualTo(8), "the reference's first near-tie comes too early to compare anything");
        Assert.That(actual[..comparable], Is.EqualTo(expected[..comparable]));
        Assert.That(session.LastGeneration!.GeneratedTokens, Is.EqualTo(24));
        Assert.That(session.Position, Is.EqualTo(prompt.Length + 23), "the cache holds every generated token but the last");
    }

    [Test]
    public void HalfCache_StaysCloseToFloat32()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Seed = 3 }.Write(folder.File("model.gguf"));
        double[] expected = new DecoderReference(path).Logits(Prompt);
        using var model = DecoderModel.Open(path, new DecoderOptions { KvCache = KvCacheType.Float16 });
        using DecoderSession session = model.CreateSession();
        var logits = new float[Prompt.Length * model.VocabularySize];
        session.Evaluate(Prompt, logits);
        AssertClose(expected, logits, model.VocabularySize, 2e-3, "f16 cache", topOne: false);
    }

    /// <summary>A context longer than one KV page and one batch pass (256 positions): pages and passes join without a seam.</summary>
    [Test]
    public void LongPrompt_CrossesPagesAndPasses()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder
        {
            Hidden = 64,
            Heads = 2,
            KvHeads = 1,
            FeedForward = 128,
            Vocabulary = 300,
            Layers = 1,
            Context = 1024,
            Seed = 5
        }
            .Write(folder.File("model.gguf"));
        int[] prompt = Enumerable.Range(0, 600).Select(i => (i * 37 + 11) % 300).ToArray();
        double[] expected = new DecoderReference(path).Logits(prompt);
        foreach (KvCacheType cache in new[] { KvCacheType.Float32, KvCacheType.Float16 })
        {
            using var model = DecoderModel.Open(path, new DecoderOptions { KvCache = cache });
            using DecoderSession session = model.CreateSession();
            var logits = new float[prompt.Length * model.VocabularySize];
            session.Evaluate(prompt.AsSpan(0, 100), logits);
            session.Evaluate(prompt.AsSpan(100), logits.AsSpan(100 * model.VocabularySize));
            AssertClose(expected, logits, model.VocabularySize, cache == KvCacheType.Float32 ? 1e-5 : 2e-3, $"600 positions, {cache}", topOne: false);
        }
    }

    /// <summary>EvaluateLast writes the last position's logits, as Evaluate does for it; a rewound session repeats itself.</summary>
    [Test]
    public void EvaluateLast_And_Rewind()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Seed = 9 }.Write(folder.File("model.gguf"));
        using var model = DecoderModel.Open(path);
        int v = model.VocabularySize;
        using DecoderSession session = model.CreateSession();
        var all = new float[Prompt.Length * v];
        session.Evaluate(Prompt, all);
        session.Rewind(4);
        var last = new float[v];
        session.EvaluateLast(Prompt.AsSpan(4), last);
        Assert.That(last, Is.EqualTo(all.AsSpan((Prompt.Length - 1) * v).ToArray()).Within(1e-5));
        session.Reset();
        Assert.That(session.Position, Is.Zero);
    }

    /// <summary>Many sessions of one model at once (a service's usage) give what each gives alone.</summary>
    [Test]
    public void ConcurrentSessions_GiveTheSameLogitsAsOneAtATime()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Type = GgufType.Q4_K, Seed = 13 }.Write(folder.File("model.gguf"));
        using var model = DecoderModel.Open(path);
        int v = model.VocabularySize;
        int[][] prompts = Enumerable.Range(0, 6).Select(s => Prompt.Select(t => (t * (s + 3)) % v).ToArray()).ToArray();
        float[][] alone = prompts.Select(p =>
        {
            using DecoderSession s = model.CreateSession();
            var l = new float[p.Length * v];
            s.Evaluate(p, l);
            return l;
        }).ToArray();
        var together = new float[prompts.Length][];
        Parallel.For(0, prompts.Length, new ParallelOptions { MaxDegreeOfParallelism = 6 }, i =>
        {
            using DecoderSession s = model.CreateSession();
            together[i] = new float[prompts[i].Length * v];
            for (int t = 0; t < prompts[i].Length; t++) s.Evaluate(prompts[i].AsSpan(t, 1), together[i].AsSpan(t * v, v));
        });
        for (int i = 0; i < prompts.Length; i++) Assert.That(together[i], Is.EqualTo(alone[i]).Within(1e-4), $"session {i}");
    }

    /// <summary>A LowBit checkpoint converted from the GGUF file runs as the GGUF file does: the same layers, the same logits.</summary>
    [TestCase(GgufType.Q4_0)]
    [TestCase(GgufType.Q6_K)]
    public void ConvertedCheckpoint_GivesTheGgufLogits(GgufType type)
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Type = type, Seed = 17 }.Write(folder.File("model.gguf"));
        string converted = folder.File("model.safetensors");
        CheckpointConverter.Convert(path, converted);
        using var gguf = DecoderModel.Open(path);
        using var lowbit = DecoderModel.Open(converted);
        Assert.That(lowbit.Config, Is.EqualTo(gguf.Config));
        Assert.That(lowbit.Tokenizer.EncodeToIds("hello world, the quick brown fox"),
                    Is.EqualTo(gguf.Tokenizer.EncodeToIds("hello world, the quick brown fox")));
        var a = new float[Prompt.Length * gguf.VocabularySize];
        var b = new float[a.Length];
        using (DecoderSession s = gguf.CreateSession()) s.Evaluate(Prompt, a);
        using (DecoderSession s = lowbit.CreateSession()) s.Evaluate(Prompt, b);
        Assert.That(b, Is.EqualTo(a));
    }

    [Test]
    public void Sampling_SameSeedSameTokens_TopKOneIsGreedy()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Seed = 21 }.Write(folder.File("model.gguf"));
        using var model = DecoderModel.Open(path);
        int[] Run(GenerationOptions options)
        {
            using DecoderSession s = model.CreateSession();
            return s.GenerateIds(Prompt[..4], options).ToArray();
        }

        var seeded = new GenerationOptions { MaxTokens = 20, Temperature = 1.2f, TopK = 50, TopP = 0.9f, Seed = 42, StopAtEndOfGeneration = false };
        int[] first = Run(seeded), second = Run(seeded);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(Run(new GenerationOptions { MaxTokens = 20, Temperature = 1.2f, TopK = 50, Seed = 43, StopAtEndOfGeneration = false }),
                    Is.Not.EqualTo(first));
        int[] greedy = Run(new GenerationOptions { MaxTokens = 20, Temperature = 0, StopAtEndOfGeneration = false });
        Assert.That(Run(new GenerationOptions { MaxTokens = 20, Temperature = 5, TopK = 1, Seed = 1, StopAtEndOfGeneration = false }),
                    Is.EqualTo(greedy));
        Assert.That(Run(new GenerationOptions { MaxTokens = 20, Temperature = 0.7f, TopK = 0, TopP = 1, Seed = 5, StopAtEndOfGeneration = false }),
                    Has.Length.EqualTo(20));
    }

    /// <summary>Generated text streams in whole characters and joins to the decoded ids.</summary>
    [Test]
    public void Generate_StreamsWholeCharacters()
    {
        using var folder = new TempFolder();
        string path = new TinyDecoder { Seed = 23, Tokenizer = TestVocabularies.SentencePiece(1024, extras: true) }.Write(folder.File("model.gguf"));
        using var model = DecoderModel.Open(path);
        var options = new GenerationOptions { MaxTokens = 40, Temperature = 1.5f, TopK = 0, TopP = 1, Seed = 3, StopAtEndOfGeneration = false };
        string[] pieces = model.Generate("the quick brown fox", options).ToArray();
        foreach (string piece in pieces) Assert.That(GgufTokenizer.InvalidUtf16(piece), Is.EqualTo(-1), "a piece splits a character");
        using DecoderSession session = model.CreateSession();
        int[] prompt = [model.Tokenizer.BosId!.Value, .. model.Tokenizer.EncodeToIds("the quick brown fox")];
        int[] ids = session.GenerateIds(prompt, options).ToArray();
        var stream = new TokenTextStream(model.Tokenizer);
        string joined = string.Concat(ids.Select(stream.Append)) + stream.Flush();
        Assert.That(string.Concat(pieces), Is.EqualTo(joined));
    }
}
