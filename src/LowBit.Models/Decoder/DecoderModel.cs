using System.Diagnostics;
using System.Runtime.CompilerServices;
using LowBit.IO;

namespace LowBit.Models;

/// <summary>
/// A Llama-family decoder (architectures <c>llama</c> and <c>qwen2</c>) on LowBit's layers, read from a GGUF file or a
/// LowBit checkpoint converted from one: every GGUF weight type LowBit loads, the tokenizer from the file's vocabulary,
/// and sessions that keep their own KV cache.
/// </summary>
/// <remarks>
/// The model is immutable and shared: many sessions (one per conversation or request) may run at once, each used by one
/// thread at a time.
/// <code>
/// using var model = DecoderModel.Open("tinyllama.Q4_0.gguf", new DecoderOptions { Activations = ActivationPrecision.Int8 });
/// foreach (string piece in model.Generate("Once upon a time", new GenerationOptions { MaxTokens = 64 })) Console.Write(piece);
/// </code>
/// </remarks>
public sealed class DecoderModel : IDisposable
{
    private readonly ICheckpoint _checkpoint;

    private DecoderModel(ICheckpoint checkpoint, DecoderConfig config, DecoderOptions options, GgufTokenizer tokenizer, ILinearLayer<float> embedding,
                         DecoderLayer[] layers, float[] outputNorm, ILinearLayer<float> outputHead, TimeSpan loadTime)
    {
        _checkpoint = checkpoint;
        Config = config;
        Activations = options.Activations;
        MaxThreads = options.MaxThreads;
        KvCache = options.KvCache;
        ContextLength = options.ContextLength == 0 ? config.ContextLength : options.ContextLength;
        Tokenizer = tokenizer;
        Embedding = embedding;
        Layers = layers;
        OutputNorm = outputNorm;
        OutputHead = outputHead;
        LoadTime = loadTime;
        Rope = new RotaryEmbedding(config.RopeDimensions, config.RopeBase, config.Rope, config.HeadSize);
    }

    /// <summary>
    /// Opens a GGUF file (or a LowBit checkpoint converted from one by <c>lowbit convert</c>), reads its hyperparameters and
    /// tokenizer, and loads every layer.
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is malformed, or a tensor is missing or has the wrong shape (the message names
    /// it).</exception>
    /// <exception cref="NotSupportedException">The architecture, a hyperparameter (rope scaling, sliding windows, experts), a
    /// tensor type or the tokenizer is one LowBit does not run (the message names it).</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static DecoderModel Open(string path, DecoderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new DecoderOptions();
        options.Validate();
        var stopwatch = Stopwatch.StartNew();
        ICheckpoint checkpoint = Checkpoint.Open(path);
        try
        {
            var metadata = ModelMetadata.From(checkpoint);
            ILinearLayer<float> embedding = Layer(checkpoint, "token_embd", null, null);
            DecoderConfig config = DecoderConfig.Read(metadata, checkpoint, embedding.OutFeatures, embedding.InFeatures);
            GgufTokenizer tokenizer = GgufTokenizer.Create(metadata, config.VocabularySize);
            int d = config.HiddenSize, q = config.Heads * config.HeadSize, kv = config.KvHeads * config.HeadSize, ffn = config.FeedForwardSize;
            var layers = new DecoderLayer[config.Layers];
            for (int l = 0; l < layers.Length; l++)
            {
                string p = $"blk.{l}.";
                layers[l] = new DecoderLayer
                {
                    AttentionNorm = Vector(checkpoint, p + "attn_norm.weight", d),
                    Query = Layer(checkpoint, p + "attn_q", q, d),
                    Key = Layer(checkpoint, p + "attn_k", kv, d),
                    Value = Layer(checkpoint, p + "attn_v", kv, d),
                    Output = Layer(checkpoint, p + "attn_output", d, q),
                    FeedForwardNorm = Vector(checkpoint, p + "ffn_norm.weight", d),
                    Gate = Layer(checkpoint, p + "ffn_gate", ffn, d),
                    Up = Layer(checkpoint, p + "ffn_up", ffn, d),
                    Down = Layer(checkpoint, p + "ffn_down", d, ffn),
                };
            }

            ILinearLayer<float> head = config.TiedEmbeddings ? embedding : Layer(checkpoint, "output", config.VocabularySize, d);
            float[] outputNorm = Vector(checkpoint, "output_norm.weight", d);
            return new DecoderModel(checkpoint, config, options, tokenizer, embedding, layers, outputNorm, head, stopwatch.Elapsed);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    private static ILinearLayer<float> Layer(ICheckpoint checkpoint, string prefix, int? outFeatures, int? inFeatures)
    {
        if (!checkpoint.Layers.Contains(prefix))
        {
            throw new InvalidDataException($"{checkpoint.Path} has no layer '{prefix}' ({prefix}.weight missing, or of a type LowBit does not " +
                $"load).");
        }

        ILinearLayer<float> layer = checkpoint.LoadLayer<float>(prefix);
        if ((outFeatures is not null && layer.OutFeatures != outFeatures) || (inFeatures is not null && layer.InFeatures != inFeatures))
        {
            throw new InvalidDataException($"{checkpoint.Path}: '{prefix}' is {layer.OutFeatures}x{layer.InFeatures}; the model's hyperparameters " +
                $"need {outFeatures}x{inFeatures}.");
        }

        return layer;
    }

    private static float[] Vector(ICheckpoint checkpoint, string name, int length)
    {
        if (!checkpoint.TensorNames.Contains(name)) throw new InvalidDataException($"{checkpoint.Path} has no tensor '{name}'.");
        float[] values = checkpoint.ReadFloats(name);
        if (values.Length != length) throw new InvalidDataException($"{checkpoint.Path}: '{name}' has {values.Length} values; the model needs " +
            $"{length}.");
        return values;
    }

    /// <summary>The hyperparameters.</summary>
    public DecoderConfig Config { get; }

    /// <summary>Tokens in the vocabulary: the width of a row of logits.</summary>
    public int VocabularySize => Config.VocabularySize;

    /// <summary>The longest context a session holds (the option, or the model's own).</summary>
    public int ContextLength { get; }

    /// <summary>The precision the quantized layers multiply activations in.</summary>
    public ActivationPrecision Activations { get; }

    /// <summary>Threads a call may use (0 = every core).</summary>
    public int MaxThreads { get; }

    /// <summary>How sessions store keys and values.</summary>
    public KvCacheType KvCache { get; }

    /// <summary>
    /// The tokenizer built from the file's vocabulary (<c>tokenizer.ggml.*</c>), a <see cref="Tokenizer"/>:
    /// <c>EncodeToIds</c> gives llama.cpp's <c>llama_tokenize</c> ids (no BOS added, special tokens not parsed from text),
    /// <c>Decode</c> the text back; it also knows the special ids (BOS, EOS, end of generation).
    /// </summary>
    public GgufTokenizer Tokenizer { get; }

    /// <summary>How long <see cref="Open"/> took.</summary>
    public TimeSpan LoadTime { get; }

    /// <summary>Bytes the layers hold for their weights (codes, scales, zero points, offsets).</summary>
    public long WeightBytes => Layers.Sum(l => l.WeightBytes) + Embedding.WeightBytes + (ReferenceEquals(OutputHead, Embedding) ? 0
        : OutputHead.WeightBytes);

    internal ILinearLayer<float> Embedding { get; }

    internal DecoderLayer[] Layers { get; }

    internal float[] OutputNorm { get; }

    internal ILinearLayer<float> OutputHead { get; }

    internal RotaryEmbedding Rope { get; }

    /// <summary>A new session: an empty KV cache and scratch of its own. Dispose it (or let it go) when the conversation ends.</summary>
    public DecoderSession CreateSession() => new(this);

    /// <summary>
    /// Tokenizes <paramref name="prompt"/> (with BOS when the model asks for it), runs it in one batched pass and then
    /// samples one token at a time, yielding text as it is produced (never half a UTF-8 character), until an
    /// end-of-generation token or <see cref="GenerationOptions.MaxTokens"/>. Uses a session of its own.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or longer than the context.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (between tokens).</exception>
    public IEnumerable<string> Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return GenerateIterator(prompt, options ?? new GenerationOptions(), cancellationToken);
    }

    private IEnumerable<string> GenerateIterator(string prompt, GenerationOptions options, CancellationToken cancellationToken)
    {
        using DecoderSession session = CreateSession();
        foreach (string piece in session.Generate(prompt, options, cancellationToken)) yield return piece;
    }

    /// <summary>As <see cref="Generate"/>, asynchronously: each token is computed on the thread pool.</summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null,
                                                        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        using DecoderSession session = CreateSession();
        await foreach (string piece in session.GenerateAsync(prompt, options ?? new GenerationOptions(), cancellationToken)) yield return piece;
    }

    /// <summary>Closes the file the model was read from.</summary>
    public void Dispose() => _checkpoint.Dispose();
}
