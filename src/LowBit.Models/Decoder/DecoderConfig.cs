using LowBit.IO;

namespace LowBit.Models;

/// <summary>
/// A Llama-family decoder's hyperparameters, read from its GGUF metadata as llama.cpp reads them
/// (<c>&lt;arch&gt;.embedding_length</c>, <c>.block_count</c>, <c>.attention.head_count</c>, ...). Only what LowBit runs is
/// accepted: architectures <c>llama</c> and <c>qwen2</c> with plain rotary embeddings, full causal attention and a dense MLP;
/// anything else is refused by name.
/// </summary>
public sealed record DecoderConfig
{
    /// <summary>The architectures LowBit runs, as <c>general.architecture</c> names them.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2"];

    /// <summary><c>general.architecture</c>: "llama" or "qwen2".</summary>
    public required string Architecture { get; init; }

    /// <summary>The residual stream's width (<c>embedding_length</c>).</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Transformer blocks (<c>block_count</c>).</summary>
    public required int Layers { get; init; }

    /// <summary>The MLP's inner width (<c>feed_forward_length</c>).</summary>
    public required int FeedForwardSize { get; init; }

    /// <summary>Query heads (<c>attention.head_count</c>).</summary>
    public required int Heads { get; init; }

    /// <summary>Key / value heads (<c>attention.head_count_kv</c>); query head h reads kv head <c>h / (Heads / KvHeads)</c>.</summary>
    public required int KvHeads { get; init; }

    /// <summary>Elements per head (<c>attention.key_length</c>, else HiddenSize / Heads).</summary>
    public required int HeadSize { get; init; }

    /// <summary>Leading elements of each head that rotary embeddings rotate (<c>rope.dimension_count</c>, else HeadSize).</summary>
    public required int RopeDimensions { get; init; }

    /// <summary>The rotary base theta (<c>rope.freq_base</c>, 10000 when absent).</summary>
    public required double RopeBase { get; init; }

    /// <summary>How rotary embeddings pair elements: adjacent for llama, split halves for qwen2.</summary>
    public required RopeStyle Rope { get; init; }

    /// <summary>RMSNorm's epsilon (<c>attention.layer_norm_rms_epsilon</c>).</summary>
    public required double RmsEpsilon { get; init; }

    /// <summary>The context the model was trained for (<c>context_length</c>).</summary>
    public required int ContextLength { get; init; }

    /// <summary>Tokens in the vocabulary (rows of the embedding table).</summary>
    public required int VocabularySize { get; init; }

    /// <summary>True when the output head is the embedding table (no <c>output.weight</c>).</summary>
    public required bool TiedEmbeddings { get; init; }

    /// <summary>
    /// Reads a GGUF file's decoder hyperparameters (what <c>lowbit inspect</c> shows) without loading a layer.
    /// </summary>
    /// <exception cref="NotSupportedException">The architecture or a feature (rope scaling, sliding windows, experts) is not one LowBit
    /// runs.</exception>
    /// <exception cref="InvalidDataException">A hyperparameter is missing or inconsistent.</exception>
    public static DecoderConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        IReadOnlyList<long> embedding = file.TryGetTensor("token_embd.weight", out GgufTensorInfo? tensor) && tensor.Dimensions.Length == 2
            ? tensor.Shape : throw new InvalidDataException($"{file.Path} has no 2-D token_embd.weight.");
        return Read(ModelMetadata.From(file), file, (int)Math.Min(embedding[0], int.MaxValue), (int)Math.Min(embedding[1], int.MaxValue));
    }

    /// <summary>Reads and checks the hyperparameters; refuses what LowBit does not run, naming it.</summary>
    internal static DecoderConfig Read(ModelMetadata metadata, ICheckpoint checkpoint, int vocabulary, int embeddingWidth)
    {
        string arch = metadata.RequireString("general.architecture");
        if (!SupportedArchitectures.Contains(arch))
        {
            throw new NotSupportedException($"{metadata.Source}: architecture '{arch}' is not supported; LowBit runs " +
                $"{string.Join(" and ", SupportedArchitectures)}.");
        }

        if (metadata.Integer($"{arch}.expert_count") is > 0)
        {
            throw new NotSupportedException($"{metadata.Source}: mixture-of-experts layers ({arch}.expert_count) are not supported.");
        }

        if (metadata.Integer($"{arch}.attention.sliding_window") is > 0)
        {
            throw new NotSupportedException($"{metadata.Source}: sliding-window attention ({arch}.attention.sliding_window) is not supported.");
        }

        string? scaling = metadata.String($"{arch}.rope.scaling.type");
        if (scaling is not null && scaling != "none")
        {
            throw new NotSupportedException($"{metadata.Source}: rope scaling type '{scaling}' ({arch}.rope.scaling.type) is not supported; LowBit " +
                $"runs plain rotary embeddings.");
        }

        double? factor = metadata.Real($"{arch}.rope.scaling.factor");
        if (factor is not null && factor != 0 && factor != 1)
        {
            throw new NotSupportedException($"{metadata.Source}: rope scaling factor {factor} ({arch}.rope.scaling.factor) is not supported.");
        }

        if (checkpoint.TensorNames.Contains("rope_freqs.weight"))
        {
            throw new NotSupportedException($"{metadata.Source}: per-frequency rope factors (rope_freqs.weight, Llama 3.1's rope scaling) are not " +
                $"supported.");
        }

        int hidden = metadata.RequirePositive($"{arch}.embedding_length");
        int heads = metadata.RequirePositive($"{arch}.attention.head_count");
        int kvHeads = metadata.Contains($"{arch}.attention.head_count_kv") ? metadata.RequirePositive($"{arch}.attention.head_count_kv") : heads;
        if (heads % kvHeads != 0) throw new InvalidDataException($"{metadata.Source}: {heads} query heads cannot share {kvHeads} key/value heads " +
            $"evenly.");
        int headSize = metadata.Contains($"{arch}.attention.key_length") ? metadata.RequirePositive($"{arch}.attention.key_length") : hidden / heads;
        if (!metadata.Contains($"{arch}.attention.key_length") && hidden % heads != 0)
        {
            throw new InvalidDataException($"{metadata.Source}: embedding_length {hidden} is not a multiple of head_count {heads}.");
        }

        if (metadata.Contains($"{arch}.attention.value_length") && metadata.RequirePositive($"{arch}.attention.value_length") != headSize)
        {
            throw new NotSupportedException($"{metadata.Source}: value heads of {metadata.Integer($"{arch}.attention.value_length")} elements " +
                $"differ from key heads of {headSize}.");
        }

        int ropeDimensions = metadata.Contains($"{arch}.rope.dimension_count") ? metadata.RequirePositive($"{arch}.rope.dimension_count") : headSize;
        if (ropeDimensions > headSize || ropeDimensions % 2 != 0)
        {
            throw new InvalidDataException($"{metadata.Source}: rope.dimension_count {ropeDimensions} must be even and at most the head size " +
                $"{headSize}.");
        }

        double epsilon = metadata.Real($"{arch}.attention.layer_norm_rms_epsilon")
            ?? throw new InvalidDataException($"{metadata.Source} has no '{arch}.attention.layer_norm_rms_epsilon' (the RMSNorm epsilon).");
        if (!(epsilon > 0 && epsilon < 1)) throw new InvalidDataException($"{metadata.Source}: the RMSNorm epsilon {epsilon} is not in (0, 1).");
        double ropeBase = metadata.Real($"{arch}.rope.freq_base") ?? 10000.0;
        if (!(ropeBase > 1)) throw new InvalidDataException($"{metadata.Source}: rope.freq_base {ropeBase} must be greater than 1.");

        if (embeddingWidth != hidden)
        {
            throw new InvalidDataException($"{metadata.Source}: token_embd is {vocabulary}x{embeddingWidth}; expected [vocabulary, {hidden}].");
        }

        return new DecoderConfig
        {
            Architecture = arch,
            HiddenSize = hidden,
            Layers = metadata.RequirePositive($"{arch}.block_count"),
            FeedForwardSize = metadata.RequirePositive($"{arch}.feed_forward_length"),
            Heads = heads,
            KvHeads = kvHeads,
            HeadSize = headSize,
            RopeDimensions = ropeDimensions,
            RopeBase = ropeBase,
            Rope = arch == "qwen2" ? RopeStyle.SplitHalves : RopeStyle.Adjacent,
            RmsEpsilon = epsilon,
            ContextLength = metadata.RequirePositive($"{arch}.context_length"),
            VocabularySize = vocabulary,
            TiedEmbeddings = !checkpoint.Layers.Contains("output"),
        };
    }
}
