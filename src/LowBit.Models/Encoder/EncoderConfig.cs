using System.Text.Json;

namespace LowBit.Models;

/// <summary>
/// A BERT-family encoder's hyperparameters (Hugging Face <c>config.json</c>) and its sentence-transformers settings
/// (<c>sentence_bert_config.json</c>, <c>1_Pooling/config.json</c>, <c>modules.json</c>, <c>tokenizer_config.json</c>, or a
/// <c>sentence_transformers</c> block in config.json). Only what LowBit runs is accepted: post-LN BERT with absolute
/// positions and exact GELU.
/// </summary>
public sealed record EncoderConfig
{
    /// <summary>The width of every token's vector (<c>hidden_size</c>).</summary>
    public required int HiddenSize { get; init; }

    /// <summary>Transformer layers (<c>num_hidden_layers</c>).</summary>
    public required int Layers { get; init; }

    /// <summary>Attention heads (<c>num_attention_heads</c>).</summary>
    public required int Heads { get; init; }

    /// <summary>The feed-forward width (<c>intermediate_size</c>).</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>LayerNorm's epsilon (<c>layer_norm_eps</c>).</summary>
    public required double LayerNormEpsilon { get; init; }

    /// <summary>Positions the model has embeddings for (<c>max_position_embeddings</c>).</summary>
    public required int MaxPositions { get; init; }

    /// <summary>Token types (<c>type_vocab_size</c>); every text is type 0.</summary>
    public required int TokenTypes { get; init; }

    /// <summary>Tokens a text is truncated to ([CLS] and [SEP] included).</summary>
    public required int MaxSequenceLength { get; init; }

    /// <summary>True for uncased vocabularies (lower-case and strip accents).</summary>
    public required bool LowerCase { get; init; }

    /// <summary>How token outputs become one embedding.</summary>
    public required Pooling Pooling { get; init; }

    /// <summary>True when embeddings are L2-normalized.</summary>
    public required bool Normalize { get; init; }

    /// <summary>Reads the folder's configuration files; the options override pooling, normalization and length.</summary>
    internal static EncoderConfig Read(string folder, EncoderOptions options)
    {
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{folder} has no config.json.", configPath);
        using JsonDocument config = Parse(configPath);
        JsonElement root = config.RootElement;
        string? modelType = String(root, "model_type");
        if (modelType is not (null or "bert"))
        {
            throw new NotSupportedException($"{configPath}: model_type '{modelType}' is not supported; LowBit runs BERT-family encoders (\"bert\").");
        }

        string act = String(root, "hidden_act") ?? "gelu";
        if (act is not ("gelu" or "gelu_python"))
        {
            throw new NotSupportedException($"{configPath}: hidden_act '{act}' is not supported; LowBit runs \"gelu\" (the exact erf form).");
        }

        string positions = String(root, "position_embedding_type") ?? "absolute";
        if (positions != "absolute") throw new NotSupportedException($"{configPath}: position_embedding_type '{positions}' is not supported " +
            $"(absolute is).");
        int hidden = Positive(root, "hidden_size", configPath), heads = Positive(root, "num_attention_heads", configPath);
        if (hidden % heads != 0) throw new InvalidDataException($"{configPath}: hidden_size {hidden} is not a multiple of num_attention_heads " +
            $"{heads}.");
        int maxPositions = Positive(root, "max_position_embeddings", configPath);

        // sentence-transformers: a block in config.json (LowBit's peer writes one), or the files it saves beside the model.
        JsonElement? st = root.TryGetProperty("sentence_transformers", out JsonElement block) ? block : null;
        using JsonDocument? bertConfig = TryParse(Path.Combine(folder, "sentence_bert_config.json"));
        using JsonDocument? pooling = TryParse(Path.Combine(folder, "1_Pooling", "config.json"));
        using JsonDocument? tokenizer = TryParse(Path.Combine(folder, "tokenizer_config.json"));
        using JsonDocument? modules = TryParse(Path.Combine(folder, "modules.json"));
        int length = options.MaxSequenceLength != 0 ? options.MaxSequenceLength
            : Integer(st, "max_seq_length") ?? Integer(bertConfig?.RootElement, "max_seq_length") ?? maxPositions;
        if (length > maxPositions) throw new ArgumentOutOfRangeException(nameof(options), length,
            $"MaxSequenceLength {length} is more than the model's {maxPositions} positions.");
        Pooling mode = options.Pooling ?? (String(st, "pooling") switch
        {
            "cls" => Models.Pooling.Cls,
            "max" => Models.Pooling.Max,
            "mean" => Models.Pooling.Mean,
            _ => Boolean(pooling?.RootElement, "pooling_mode_cls_token") == true ? Models.Pooling.Cls
                : Boolean(pooling?.RootElement, "pooling_mode_max_tokens") == true ? Models.Pooling.Max : Models.Pooling.Mean,
        });
        bool normalize = options.Normalize ?? Boolean(st, "normalize")
            ?? (modules is null || modules.RootElement.ValueKind != JsonValueKind.Array
                || modules.RootElement.EnumerateArray().Any(m => String(m, "type")?.EndsWith("Normalize", StringComparison.Ordinal) == true));
        return new EncoderConfig
        {
            HiddenSize = hidden,
            Layers = Positive(root, "num_hidden_layers", configPath),
            Heads = heads,
            IntermediateSize = Positive(root, "intermediate_size", configPath),
            LayerNormEpsilon = Real(root, "layer_norm_eps") ?? 1e-12,
            MaxPositions = maxPositions,
            TokenTypes = Integer(root, "type_vocab_size") ?? 2,
            MaxSequenceLength = length,
            LowerCase = Boolean(st, "do_lower_case") ?? Boolean(tokenizer?.RootElement, "do_lower_case") ?? true,
            Pooling = mode,
            Normalize = normalize,
        };
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    private static JsonDocument? TryParse(string path) => File.Exists(path) ? Parse(path) : null;

    private static string? String(JsonElement? e, string name) =>
        e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String
            ? v.GetString() : null;

    private static int? Integer(JsonElement? e, string name) =>
        e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number
            && v.TryGetInt32(out int i) ? i : null;

    private static double? Real(JsonElement? e, string name) =>
        e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number
            ? v.GetDouble() : null;

    private static bool? Boolean(JsonElement? e, string name) =>
        e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(name, out JsonElement v) && v.ValueKind is JsonValueKind.True
            or JsonValueKind.False ? v.GetBoolean() : null;

    private static int Positive(JsonElement e, string name, string path) =>
        Integer(e, name) is int value and > 0 ? value : throw new InvalidDataException($"{path}: '{name}' must be a positive whole number.");
}
