using LowBit.IO;
using LowBit.Models;
using LowBit.Tests.IO;

namespace LowBit.Tests.Models;

/// <summary>Bad files and bad calls: a clear exception naming what is wrong, nothing written, and the model still usable.</summary>
public class DecoderModelErrorTests
{
    private static string Write(TempFolder folder, TinyDecoder tiny) => tiny.Write(folder.File("model.gguf"));

    [Test]
    public void UnsupportedModels_AreRefusedByName()
    {
        using var folder = new TempFolder();
        var cases = new (TinyDecoder Model, Type Exception, string Message)[]
        {
            (new TinyDecoder { Edit = g => g.Set("general.architecture", "gemma") }, typeof(NotSupportedException), "'gemma'"),
            (new TinyDecoder { Edit = g => g.Set("llama.rope.scaling.type", "yarn") }, typeof(NotSupportedException), "'yarn'"),
            (new TinyDecoder { Edit = g => g.Set("llama.attention.sliding_window", 4096u) }, typeof(NotSupportedException), "sliding-window"),
            (new TinyDecoder { Edit = g => g.Set("llama.expert_count", 8u) }, typeof(NotSupportedException), "mixture-of-experts"),
            (new TinyDecoder { Edit = g => g.Set("tokenizer.ggml.model", "bert") }, typeof(NotSupportedException), "'bert'"),
            (new TinyDecoder { Edit = g => g.Set("llama.attention.head_count_kv", 3u) }, typeof(InvalidDataException), "3 key/value heads"),
            (new TinyDecoder { Edit = g => g.Set("llama.block_count", 3u) }, typeof(InvalidDataException), "blk.2"),
            (new TinyDecoder { Edit = g => g.Set("llama.embedding_length", 128u).Set("llama.rope.dimension_count", 16u) },
             typeof(InvalidDataException), "token_embd"),
            (new TinyDecoder { Edit = g => g.Set("llama.feed_forward_length", 512u) }, typeof(InvalidDataException), "ffn_gate"),
            (new TinyDecoder { Tokenizer = TestVocabularies.SentencePiece(1000) }, typeof(InvalidDataException), "1000 tokens"),
        };
        foreach ((TinyDecoder model, Type exception, string message) in cases)
        {
            string path = model.Write(folder.File($"model-{Guid.NewGuid():N}.gguf"));
            Exception? e = Assert.Catch(() => DecoderModel.Open(path));
            Assert.That(e, Is.InstanceOf(exception), message);
            Assert.That(e!.Message, Does.Contain(message));
        }
    }

    /// <summary>Every truncation of a file fails cleanly on open (a malformed file, never a crash or a read past its end).</summary>
    [Test]
    public void TruncatedFile_FailsWithInvalidData()
    {
        using var folder = new TempFolder();
        byte[] whole = File.ReadAllBytes(Write(folder, new TinyDecoder { Type = GgufType.Q4_0, Layers = 1 }));
        string cut = folder.File("cut.gguf");
        foreach (int length in new[] { 0, 10, 100, whole.Length / 4, whole.Length / 2, whole.Length - 100 })
        {
            File.WriteAllBytes(cut, whole[..length]);
            Assert.Throws<InvalidDataException>(() => DecoderModel.Open(cut).Dispose(), $"{length} of {whole.Length} bytes");
        }
    }

    [Test]
    public void BadCalls_ThrowAndChangeNothing()
    {
        using var folder = new TempFolder();
        using var model = DecoderModel.Open(Write(folder, new TinyDecoder { Context = 32 }));
        using DecoderSession session = model.CreateSession();
        int v = model.VocabularySize;
        var logits = new float[40 * v];
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Evaluate([1, 2, v], logits));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Evaluate([-1], logits));
        Assert.Throws<ArgumentException>(() => session.Evaluate([], logits));
        Assert.Throws<ArgumentException>(() => session.Evaluate([1, 2], new float[v]));
        Assert.Throws<ArgumentException>(() => session.Evaluate(new int[33], logits), "past the context");
        Assert.That(session.Position, Is.Zero);
        Assert.Throws<ArgumentException>(() => session.Generate(new string('a', 200)).ToArray(), "a prompt longer than the context");
        Assert.Throws<ArgumentOutOfRangeException>(() => session.GenerateIds([1], new GenerationOptions { TopP = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.GenerateIds([1], new GenerationOptions { Temperature = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => DecoderModel.Open(folder.File("model.gguf"), new DecoderOptions { MaxThreads = -1 }));
        Assert.Throws<FileNotFoundException>(() => DecoderModel.Open(folder.File("missing.gguf")));

        // Still usable, and what it computes is what a fresh session computes.
        session.Evaluate([1, 2, 3], logits);
        using DecoderSession fresh = model.CreateSession();
        var expected = new float[3 * v];
        fresh.Evaluate([1, 2, 3], expected);
        Assert.That(logits.AsSpan(0, 3 * v).ToArray(), Is.EqualTo(expected));
    }

    [Test]
    public void CancelledGeneration_StopsBetweenTokens_AndTheSessionGoesOn()
    {
        using var folder = new TempFolder();
        using var model = DecoderModel.Open(Write(folder, new TinyDecoder()));
        using DecoderSession session = model.CreateSession();
        using var cancel = new CancellationTokenSource();
        var options = new GenerationOptions { MaxTokens = 50, Temperature = 0, StopAtEndOfGeneration = false };
        int produced = 0;
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (int _ in session.GenerateIds([1, 5, 9], options, cancel.Token))
            {
                if (++produced == 3) cancel.Cancel();
            }
        });
        Assert.That(produced, Is.EqualTo(3));
        int position = session.Position;
        var logits = new float[model.VocabularySize];
        session.EvaluateLast([7], logits);
        Assert.That(session.Position, Is.EqualTo(position + 1));
        Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (string _ in model.GenerateAsync("hello", options, new CancellationToken(canceled: true))) { }
        });
    }
}
