using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace LowBit.Models;

/// <summary>
/// One conversation with a <see cref="DecoderModel"/>: its KV cache (the positions evaluated so far) and scratch,
/// allocated once, so a token allocates nothing. Used by one thread at a time; many sessions share one model.
/// </summary>
/// <remarks>
/// <code>
/// using DecoderSession session = model.CreateSession();
/// int[] prompt = [.. model.Tokenizer.EncodeToIds("The capital of France is")];
/// float[] logits = new float[prompt.Length * model.VocabularySize];
/// session.Evaluate(prompt, logits);                      // every position's logits; the cache now holds the prompt
/// </code>
/// </remarks>
public sealed class DecoderSession : IDisposable
{
    /// <summary>Tokens per pass through the layers: longer inputs run in passes of this many (bounds the scratch).</summary>
    public const int MaxBatch = 256;

    private readonly DecoderModel _model;
    private readonly DecoderConfig _config;
    private readonly KvCache _cache;
    private readonly Attention _attention;
    private readonly int _threads;
    private float[] _x = [], _h = [], _q = [], _k = [], _v = [], _attended = [], _gate = [], _up = [], _out = [], _cos = [], _sin = [];
    private int _scratchRows;
    private bool _disposed;

    internal DecoderSession(DecoderModel model)
    {
        _model = model;
        _config = model.Config;
        _cache = new KvCache(_config.Layers, _config.KvHeads, _config.HeadSize, model.KvCache);
        _attention = new Attention(_config.Heads, _config.KvHeads, _config.HeadSize);
        _threads = model.MaxThreads;
    }

    /// <summary>Tokens in the cache: the position the next evaluated token takes.</summary>
    public int Position { get; private set; }

    /// <summary>The most tokens the cache holds (the model's <see cref="DecoderModel.ContextLength"/>).</summary>
    public int ContextLength => _model.ContextLength;

    /// <summary>Bytes the KV cache holds now (it grows in pages as the context does).</summary>
    public long CacheBytes => _cache.Bytes;

    /// <summary>Timings of the last <see cref="Generate"/> or <see cref="GenerateIds"/>.</summary>
    public GenerationStatistics? LastGeneration { get; private set; }

    /// <summary>Forgets every position: the next token is position 0 again.</summary>
    public void Reset() => Rewind(0);

    /// <summary>Forgets the positions from <paramref name="position"/> on (to edit the end of a conversation and go on from there).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="position"/> is negative or past <see cref="Position"/>.</exception>
    public void Rewind(int position)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, Position);
        Position = position;
    }

    /// <summary>
    /// Appends <paramref name="tokens"/> to the cache and writes the logits of every one of them to <paramref name="logits"/>
    /// (<c>tokens.Length x VocabularySize</c>, row-major): the prompt runs through each layer as one batch.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, <paramref name="logits"/> too short, or the tokens would pass the context length. Nothing
    /// changes then.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is not in [0, VocabularySize). Nothing changes then.</exception>
    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        Check(tokens);
        long needed = (long)tokens.Length * _config.VocabularySize;
        if (logits.Length < needed)
        {
            throw new ArgumentException($"Logits must hold {tokens.Length} x {_config.VocabularySize} = {needed} values; it holds {logits.Length}.",
                                        nameof(logits));
        }

        for (int start = 0; start < tokens.Length; start += MaxBatch)
        {
            int count = Math.Min(MaxBatch, tokens.Length - start);
            Forward(tokens.Slice(start, count), logits.Slice(start * _config.VocabularySize, count * _config.VocabularySize), lastOnly: false);
        }
    }

    /// <summary>
    /// As <see cref="Evaluate"/>, writing only the last token's logits (<c>VocabularySize</c> values): what generation
    /// needs, without the output head's work for the other positions.
    /// </summary>
    /// <exception cref="ArgumentException">No tokens, <paramref name="logits"/> too short, or the tokens would pass the context length. Nothing
    /// changes then.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is not in [0, VocabularySize). Nothing changes then.</exception>
    public void EvaluateLast(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        Check(tokens);
        if (logits.Length < _config.VocabularySize)
        {
            throw new ArgumentException($"Logits must hold {_config.VocabularySize} values; it holds {logits.Length}.", nameof(logits));
        }

        for (int start = 0; start < tokens.Length; start += MaxBatch)
        {
            int count = Math.Min(MaxBatch, tokens.Length - start);
            bool last = start + count == tokens.Length;
            Forward(tokens.Slice(start, count), last ? logits[.._config.VocabularySize] : default, lastOnly: true);
        }
    }

    private void Check(ReadOnlySpan<int> tokens)
    {
        ThrowIfDisposed();
        if (tokens.IsEmpty) throw new ArgumentException("There are no tokens to evaluate.", nameof(tokens));
        if ((long)Position + tokens.Length > ContextLength)
        {
            throw new ArgumentException($"{tokens.Length} more tokens after {Position} would pass the context length of {ContextLength}.",
                                        nameof(tokens));
        }

        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)_config.VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                                                      $"Token {i} is {tokens[i]}, not an id in [0, {_config.VocabularySize}).");
            }
        }
    }

    /// <summary>One pass of up to <see cref="MaxBatch"/> tokens through every layer; logits of every row, or of the last (when wanted).</summary>
    private void Forward(ReadOnlySpan<int> tokens, Span<float> logits, bool lastOnly)
    {
        int t = tokens.Length, d = _config.HiddenSize, first = Position;
        int qWidth = _config.Heads * _config.HeadSize, kvWidth = _config.KvHeads * _config.HeadSize, ffn = _config.FeedForwardSize;
        EnsureScratch(t);
        _cache.EnsureCapacity(first + t);
        ActivationPrecision precision = _model.Activations;
        Span<float> x = _x.AsSpan(0, t * d), h = _h.AsSpan(0, t * d), o = _out.AsSpan(0, t * d);
        Span<float> q = _q.AsSpan(0, t * qWidth), k = _k.AsSpan(0, t * kvWidth), v = _v.AsSpan(0, t * kvWidth), attended = _attended.AsSpan(0,
            t * qWidth);
        Span<float> gate = _gate.AsSpan(0, t * ffn), up = _up.AsSpan(0, t * ffn);
        Span<float> cos = _cos.AsSpan(0, t * _config.RopeDimensions / 2), sin = _sin.AsSpan(0, t * _config.RopeDimensions / 2);

        for (int i = 0; i < t; i++) _model.Embedding.DequantizeRow(tokens[i], x.Slice(i * d, d));
        _model.Rope.Angles(first, t, cos, sin);
        float epsilon = (float)_config.RmsEpsilon;
        for (int l = 0; l < _model.Layers.Length; l++)
        {
            DecoderLayer layer = _model.Layers[l];
            Normalization.RmsNorm(x, layer.AttentionNorm, epsilon, h);
            layer.Query.Forward(h, q, _threads, precision);
            layer.Key.Forward(h, k, _threads, precision);
            layer.Value.Forward(h, v, _threads, precision);
            _model.Rope.Apply(q, _config.Heads, cos, sin);
            _model.Rope.Apply(k, _config.KvHeads, cos, sin);
            _cache.Store(l, first, t, k, v);
            _attention.Run(_cache, l, q, t, first, attended, _threads);
            layer.Output.Forward(attended, o, _threads, precision);
            TensorPrimitives.Add(x, o, x);

            Normalization.RmsNorm(x, layer.FeedForwardNorm, epsilon, h);
            layer.Gate.Forward(h, gate, _threads, precision);
            layer.Up.Forward(h, up, _threads, precision);
            Activations.SwiGlu(gate, up);
            layer.Down.Forward(gate, o, _threads, precision);
            TensorPrimitives.Add(x, o, x);
        }

        Position = first + t;
        if (lastOnly && logits.IsEmpty) return;
        Span<float> rows = lastOnly ? x.Slice((t - 1) * d, d) : x;
        Span<float> normed = h[..rows.Length];
        Normalization.RmsNorm(rows, _model.OutputNorm, epsilon, normed);
        _model.OutputHead.Forward(normed, logits, _threads, precision);
    }

    private void EnsureScratch(int rows)
    {
        if (rows <= _scratchRows) return;
        rows = Math.Max(rows, Math.Min(MaxBatch, Math.Max(2 * _scratchRows, 1)));
        int d = _config.HiddenSize, qWidth = _config.Heads * _config.HeadSize, kvWidth = _config.KvHeads * _config.HeadSize;
        _x = new float[rows * d];
        _h = new float[rows * d];
        _out = new float[rows * d];
        _q = new float[rows * qWidth];
        _attended = new float[rows * qWidth];
        _k = new float[rows * kvWidth];
        _v = new float[rows * kvWidth];
        _gate = new float[rows * _config.FeedForwardSize];
        _up = new float[rows * _config.FeedForwardSize];
        _cos = new float[rows * _config.RopeDimensions / 2];
        _sin = new float[rows * _config.RopeDimensions / 2];
        _scratchRows = rows;
    }

    /// <summary>
    /// Appends <paramref name="prompt"/>'s tokens (with BOS first when the model asks for it and the cache is empty) and
    /// generates from there, yielding text as it is produced: each piece is whole UTF-8 characters.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt has no tokens or would pass the context length.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between tokens).</exception>
    public IEnumerable<string> Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        options.Validate();
        int[] ids = PromptIds(prompt, options);
        return Pieces(GenerateIds(ids, options, cancellationToken));
    }

    private IEnumerable<string> Pieces(IEnumerable<int> ids)
    {
        var text = new TokenTextStream(_model.Tokenizer);
        foreach (int id in ids)
        {
            string piece = text.Append(id);
            if (piece.Length > 0) yield return piece;
        }

        string rest = text.Flush();
        if (rest.Length > 0) yield return rest;
    }

    /// <summary>As <see cref="Generate"/>, asynchronously: each token is computed on the thread pool.</summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null,
                                                        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        options.Validate();
        int[] ids = PromptIds(prompt, options);
        using IEnumerator<string> pieces = Pieces(GenerateIds(ids, options, cancellationToken)).GetEnumerator();
        while (await Task.Run(pieces.MoveNext, cancellationToken).ConfigureAwait(false)) yield return pieces.Current;
    }

    private int[] PromptIds(string prompt, GenerationOptions options)
    {
        IReadOnlyList<int> encoded = _model.Tokenizer.EncodeToIds(prompt);
        bool bos = options.AddBos && Position == 0 && _model.Tokenizer.AddBos && _model.Tokenizer.BosId is not null;
        int[] ids = bos ? [_model.Tokenizer.BosId!.Value, .. encoded] : [.. encoded];
        if (ids.Length == 0) throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        return ids;
    }

    /// <summary>
    /// Appends <paramref name="prompt"/> (token ids, taken as they are) and yields each generated id as it is sampled;
    /// the cache then holds the prompt and every generated token but the last.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or would pass the context length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A prompt id is not in the vocabulary.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked between tokens).</exception>
    public IEnumerable<int> GenerateIds(IReadOnlyList<int> prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        options.Validate();
        int[] ids = [.. prompt];
        Check(ids);  // before the first MoveNext, so a bad prompt fails at the call
        return GenerateIterator(ids, options, cancellationToken);
    }

    private IEnumerable<int> GenerateIterator(int[] prompt, GenerationOptions options, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var logits = new float[_config.VocabularySize];
        var sampler = new Sampler(options, _config.VocabularySize);
        var stopwatch = Stopwatch.StartNew();
        EvaluateLast(prompt, logits);
        TimeSpan promptTime = stopwatch.Elapsed;
        int generated = 0;
        var next = new int[1];
        while (generated < options.MaxTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int token = sampler.Next(logits);
            generated++;
            LastGeneration = new GenerationStatistics(prompt.Length, promptTime, generated, stopwatch.Elapsed - promptTime);
            if (options.StopAtEndOfGeneration && _model.Tokenizer.IsEndOfGeneration(token)) yield break;
            yield return token;
            if (generated == options.MaxTokens || Position >= ContextLength) yield break;
            next[0] = token;
            EvaluateLast(next, logits);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the KV cache and scratch.</summary>
    public void Dispose()
    {
        _disposed = true;
        _x = _h = _q = _k = _v = _attended = _gate = _up = _out = _cos = _sin = [];
        _scratchRows = 0;
    }
}
