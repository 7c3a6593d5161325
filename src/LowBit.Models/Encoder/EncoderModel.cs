using System.Collections.Concurrent;
using System.Numerics.Tensors;
using LowBit.IO;

namespace LowBit.Models;

/// <summary>
/// A BERT-family sentence encoder (all-MiniLM-L6-v2 and its kind) on LowBit's layers, read from a Hugging Face folder:
/// <c>config.json</c>, <c>vocab.txt</c> and <c>model.safetensors</c> in F32 / F16 / BF16, or the same checkpoint after
/// <c>lowbit quantize</c> (int8 per row, or 4 / 2-bit groups). Linear layers run on LowBit's kernels; embeddings,
/// LayerNorm, attention, GELU and pooling in float32.
/// </summary>
/// <remarks>
/// Thread-safe: many threads may call <see cref="Embed(IReadOnlyList{string}, Span{float})"/> at once. Texts of unequal
/// length are packed one after another (sorted by length), never padded.
/// <code>
/// using var model = EncoderModel.Open("all-MiniLM-L6-v2");
/// float[] a = model.Embed("A cat sits on the mat."), b = model.Embed("A kitten rests on a rug.");
/// float cosine = System.Numerics.Tensors.TensorPrimitives.Dot(a, b);   // embeddings are L2-normalized
/// </code>
/// </remarks>
public sealed class EncoderModel : IDisposable
{
    /// <summary>Token rows per pass through the layers: texts are packed until they reach this many.</summary>
    public const int PackRows = 2048;

    private readonly ConcurrentBag<EncoderScratch> _scratch = [];
    private readonly int _threads;
    private readonly ActivationPrecision _activations;

    private EncoderModel(EncoderConfig config, WordPieceTokenizer tokenizer, ILinearLayer<float> words, float[] positions, float[] tokenType,
                         float[] normWeight, float[] normBias, EncoderLayer[] layers, EncoderOptions options)
    {
        Config = config;
        Tokenizer = tokenizer;
        Words = words;
        Positions = positions;
        TokenType = tokenType;
        EmbeddingNormWeight = normWeight;
        EmbeddingNormBias = normBias;
        Layers = layers;
        _threads = options.MaxThreads;
        _activations = options.Activations;
    }

    /// <summary>
    /// Opens a model folder: <c>config.json</c> (and sentence-transformers' files when present), <c>vocab.txt</c>, and
    /// <c>model.safetensors</c> (else the folder's one .safetensors file).
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder, its config, vocabulary or weights are missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, or a tensor is missing or of the wrong shape (the message names it).</exception>
    /// <exception cref="NotSupportedException">The model type, activation or position embeddings are not ones LowBit runs.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static EncoderModel Open(string folder, EncoderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        options ??= new EncoderOptions();
        options.Validate();
        if (!Directory.Exists(folder)) throw new FileNotFoundException($"No model folder at {folder}.", folder);
        EncoderConfig config = EncoderConfig.Read(folder, options);
        string vocabulary = Path.Combine(folder, "vocab.txt");
        if (!File.Exists(vocabulary)) throw new FileNotFoundException($"{folder} has no vocab.txt.", vocabulary);
        WordPieceTokenizer tokenizer = WordPieceTokenizer.FromVocabulary(vocabulary, config.LowerCase);
        using ICheckpoint checkpoint = QuantizedCheckpoint.Open(WeightsFile(folder));
        string root = checkpoint.TensorNames.Any(n => n.StartsWith("bert.", StringComparison.Ordinal)) ? "bert." : "";
        int h = config.HiddenSize;
        ILinearLayer<float> Layer(string prefix, int outFeatures, int inFeatures)
        {
            if (!checkpoint.Layers.Contains(root + prefix)) throw new InvalidDataException($"{checkpoint.Path} has no layer '{root + prefix}'.");
            ILinearLayer<float> layer = checkpoint.LoadLayer<float>(root + prefix);
            if (layer.OutFeatures != outFeatures || layer.InFeatures != inFeatures)
            {
                throw new InvalidDataException($"{checkpoint.Path}: '{root + prefix}' is {layer.OutFeatures}x{layer.InFeatures}; config.json needs " +
                    $"{outFeatures}x{inFeatures}.");
            }

            return layer;
        }

        float[] Vector(string name, int length)
        {
            if (!checkpoint.TensorNames.Contains(root + name)) throw new InvalidDataException($"{checkpoint.Path} has no tensor '{root + name}'.");
            float[] values = checkpoint.ReadFloats(root + name);
            if (values.Length != length) throw new InvalidDataException($"{checkpoint.Path}: '{root + name}' has {values.Length} values; the model " +
                $"needs {length}.");
            return values;
        }

        // Embedding tables: any format a layer holds (quantized ones too), read row by row.
        float[] Rows(string prefix, int rows)
        {
            ILinearLayer<float> table = Layer(prefix, rows, h);
            var values = new float[rows * h];
            for (int r = 0; r < rows; r++) table.DequantizeRow(r, values.AsSpan(r * h, h));
            return values;
        }

        ILinearLayer<float> words = checkpoint.LoadLayer<float>(root + "embeddings.word_embeddings");
        if (words.InFeatures != h || words.OutFeatures != tokenizer.VocabularySize)
        {
            throw new InvalidDataException($"{checkpoint.Path}: word_embeddings is {words.OutFeatures}x{words.InFeatures}; vocab.txt and " +
                $"config.json need {tokenizer.VocabularySize}x{h}.");
        }

        float[] positions = Rows("embeddings.position_embeddings", config.MaxPositions);
        float[] tokenType = Rows("embeddings.token_type_embeddings", config.TokenTypes)[..h];
        var layers = new EncoderLayer[config.Layers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"encoder.layer.{l}.";
            layers[l] = new EncoderLayer
            {
                QueryKeyValue = new SharedInputLayers(Layer(p + "attention.self.query", h, h), Layer(p + "attention.self.key", h, h),
                                                      Layer(p + "attention.self.value", h, h)),
                AttentionOutput = Layer(p + "attention.output.dense", h, h),
                AttentionNormWeight = Vector(p + "attention.output.LayerNorm.weight", h),
                AttentionNormBias = Vector(p + "attention.output.LayerNorm.bias", h),
                Intermediate = Layer(p + "intermediate.dense", config.IntermediateSize, h),
                Output = Layer(p + "output.dense", h, config.IntermediateSize),
                OutputNormWeight = Vector(p + "output.LayerNorm.weight", h),
                OutputNormBias = Vector(p + "output.LayerNorm.bias", h),
            };
        }

        return new EncoderModel(config, tokenizer, words, positions, tokenType, Vector("embeddings.LayerNorm.weight", h),
                                Vector("embeddings.LayerNorm.bias", h), layers, options);
    }

    private static string WeightsFile(string folder)
    {
        string single = Path.Combine(folder, "model.safetensors");
        if (File.Exists(single)) return single;
        string[] files = Directory.GetFiles(folder, "*.safetensors");
        return files.Length == 1 ? files[0]
            : throw new FileNotFoundException(files.Length == 0 ? $"{folder} has no model.safetensors."
                : $"{folder} has {files.Length} .safetensors files and no model.safetensors.", single);
    }

    /// <summary>The hyperparameters and sentence-transformers settings.</summary>
    public EncoderConfig Config { get; }

    /// <summary>The width of an embedding.</summary>
    public int Dimension => Config.HiddenSize;

    /// <summary>The WordPiece tokenizer of the folder's vocab.txt.</summary>
    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>Bytes the linear layers hold for their weights (the embedding tables are float32 besides).</summary>
    public long WeightBytes => Layers.Sum(l => l.WeightBytes);

    internal ILinearLayer<float> Words { get; }

    internal float[] Positions { get; }

    internal float[] TokenType { get; }

    internal float[] EmbeddingNormWeight { get; }

    internal float[] EmbeddingNormBias { get; }

    internal EncoderLayer[] Layers { get; }

    /// <summary>The embedding of one text (L2-normalized when the model's config says so).</summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> holds a lone UTF-16 surrogate.</exception>
    public float[] Embed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new float[Dimension];
        Embed([text], output);
        return output;
    }

    /// <summary>
    /// Embeds <paramref name="texts"/> into <paramref name="output"/> (<c>texts.Count x Dimension</c>, row-major, each row
    /// L2-normalized when the model's config says so). A text longer than the model's maximum is truncated, as
    /// sentence-transformers does; an empty text embeds [CLS] [SEP].
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="output"/> is too short, or a text is null or holds a lone UTF-16 surrogate. Nothing is
    /// written then.</exception>
    public void Embed(IReadOnlyList<string> texts, Span<float> output)
    {
        ArgumentNullException.ThrowIfNull(texts);
        long needed = (long)texts.Count * Dimension;
        if (output.Length < needed) throw new ArgumentException($"Output must hold {texts.Count} x {Dimension} = {needed} values; it holds " +
            $"{output.Length}.", nameof(output));
        if (texts.Count == 0) return;
        EncoderScratch scratch = _scratch.TryTake(out EncoderScratch? pooled) ? pooled : new EncoderScratch();
        try
        {
            int[][] ids = scratch.Tokens(texts.Count);
            for (int i = 0; i < texts.Count; i++)
            {
                ids[i] = Tokenizer.Encode(texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(texts)), Config.MaxSequenceLength);
            }

            // Shortest first, packed up to PackRows rows per pass.
            int[] order = scratch.Order(texts.Count);
            Array.Sort(order, 0, texts.Count, Comparer<int>.Create((a, b) => ids[a].Length != ids[b].Length ? ids[a].Length.CompareTo(ids[b].Length)
                : a.CompareTo(b)));
            for (int start = 0; start < texts.Count;)
            {
                int end = start, rows = 0;
                while (end < texts.Count && (end == start || rows + ids[order[end]].Length <= PackRows)) rows += ids[order[end++]].Length;
                Forward(ids, order.AsSpan(start, end - start), rows, output, scratch);
                start = end;
            }
        }
        finally
        {
            _scratch.Add(scratch);
        }
    }

    /// <summary>One pass: the texts <paramref name="pack"/> names, rows one after another, through every layer, then pooled into their output
    /// rows.</summary>
    private void Forward(int[][] ids, ReadOnlySpan<int> pack, int rows, Span<float> output, EncoderScratch scratch)
    {
        int h = Dimension, inter = Config.IntermediateSize;
        scratch.Ensure(rows, h, inter, pack.Length);
        Span<float> x = scratch.X.AsSpan(0, rows * h), q = scratch.Q.AsSpan(0, rows * h), k = scratch.K.AsSpan(0, rows * h);
        Span<float> v = scratch.V.AsSpan(0, rows * h), context = scratch.Context.AsSpan(0, rows * h), hidden = scratch.Hidden.AsSpan(0, rows * inter);
        Span<int> starts = scratch.Starts.AsSpan(0, pack.Length + 1);
        float epsilon = (float)Config.LayerNormEpsilon;

        // Embeddings: word + position + token type 0, then LayerNorm.
        int row = 0;
        for (int t = 0; t < pack.Length; t++)
        {
            starts[t] = row;
            int[] tokens = ids[pack[t]];
            for (int j = 0; j < tokens.Length; j++, row++)
            {
                Span<float> e = x.Slice(row * h, h);
                Words.DequantizeRow(tokens[j], e);
                TensorPrimitives.Add(e, Positions.AsSpan(j * h, h), e);
                TensorPrimitives.Add(e, TokenType, e);
            }
        }

        starts[pack.Length] = row;
        Normalization.LayerNorm(x, EmbeddingNormWeight, EmbeddingNormBias, epsilon, x);
        foreach (EncoderLayer layer in Layers)
        {
            layer.QueryKeyValue.Forward(x, rows, scratch.Stacked, _threads, _activations, q, k, v);
            BidirectionalAttention.Run(q, k, v, context, starts, Config.Heads, h / Config.Heads, _threads);
            layer.AttentionOutput.Forward(context, q, _threads, _activations);
            TensorPrimitives.Add(x, q, x);
            Normalization.LayerNorm(x, layer.AttentionNormWeight, layer.AttentionNormBias, epsilon, x);
            layer.Intermediate.Forward(x, hidden, _threads, _activations);
            Activations.GeluErf(hidden);
            layer.Output.Forward(hidden, q, _threads, _activations);
            TensorPrimitives.Add(x, q, x);
            Normalization.LayerNorm(x, layer.OutputNormWeight, layer.OutputNormBias, epsilon, x);
        }

        for (int t = 0; t < pack.Length; t++) Pool(x.Slice(starts[t] * h, (starts[t + 1] - starts[t]) * h), output.Slice(pack[t] * h, h));
    }

    /// <summary>The configured pooling of one text's rows into <paramref name="embedding"/>, L2-normalized when configured.</summary>
    private void Pool(ReadOnlySpan<float> rows, Span<float> embedding)
    {
        int h = Dimension, n = rows.Length / h;
        switch (Config.Pooling)
        {
            case Pooling.Cls:
                rows[..h].CopyTo(embedding);
                break;
            case Pooling.Max:
                rows[..h].CopyTo(embedding);
                for (int j = 1; j < n; j++) TensorPrimitives.Max(embedding, rows.Slice(j * h, h), embedding);
                break;
            default:
                rows[..h].CopyTo(embedding);
                for (int j = 1; j < n; j++) TensorPrimitives.Add(embedding, rows.Slice(j * h, h), embedding);
                TensorPrimitives.Divide(embedding, n, embedding);
                break;
        }

        if (!Config.Normalize) return;
        float norm = TensorPrimitives.Norm(embedding);
        TensorPrimitives.Divide(embedding, Math.Max(norm, 1e-12f), embedding);
    }

    /// <summary>Releases nothing the garbage collector does not: layers own their weights.</summary>
    public void Dispose() => _scratch.Clear();
}
