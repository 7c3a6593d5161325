using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LowBit.Models;

/// <summary>
/// The tokenizer a GGUF file carries (<c>tokenizer.ggml.*</c>), as llama.cpp runs it: <c>"llama"</c> (SentencePiece BPE:
/// merges by score over code points, byte fallback to <c>&lt;0xXX&gt;</c>, a space prefix, spaces as '▁') and
/// <c>"gpt2"</c> (byte-level BPE with ranked merges after a pre-tokenizer split; GPT-2, Qwen2 and Llama 3 vocabularies).
/// A <see cref="Tokenizer"/> of Microsoft.ML.Tokenizers, so it plugs in wherever one is expected.
/// </summary>
/// <remarks>
/// <see cref="Tokenizer.EncodeToIds(string, bool, bool)"/> gives llama.cpp's <c>llama_tokenize(text, add_special: false,
/// parse_special: false)</c>: no BOS, control tokens in the text read as text (user-defined tokens are still matched, as
/// llama.cpp does). <see cref="Encode"/> takes both switches.
/// <code>
/// IReadOnlyList&lt;int&gt; ids = model.Tokenizer.EncodeToIds("Hello world");
/// string text = model.Tokenizer.Decode(ids);
/// </code>
/// </remarks>
public sealed class GgufTokenizer : Tokenizer
{
    private readonly string[] _tokens;
    private readonly float[] _scores;
    private readonly TokenType[] _types;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _idsBySpan;
    private readonly Dictionary<string, int> _mergeRanks;   // "left right" -> rank (gpt2)
    private readonly int[] _byteTokens;                     // byte -> <0xXX> token (llama), or -1
    private readonly (string Text, int Id)[] _userDefined;  // longest first
    private readonly (string Text, int Id)[] _special;      // every control, unknown and user-defined token, longest first
    private readonly HashSet<int> _endOfGeneration;
    private readonly BpePattern _pattern;
    private readonly bool _ignoreMerges;

    private GgufTokenizer(string model, string? pre, string[] tokens, float[] scores, TokenType[] types, string[] merges,
                          int? bos, int? eos, int? unknown, bool addBos, bool addEos, bool addSpacePrefix, IEnumerable<int> endOfGeneration)
    {
        Model = model;
        PreTokenizerName = pre;
        _tokens = tokens;
        _scores = scores;
        _types = types;
        _ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) _ids.TryAdd(tokens[i], i);  // duplicates: the first id wins, as llama.cpp's map
        _idsBySpan = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        _mergeRanks = new Dictionary<string, int>(merges.Length, StringComparer.Ordinal);
        for (int i = 0; i < merges.Length; i++) _mergeRanks.TryAdd(merges[i], i);
        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++) _byteTokens[b] = _ids.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        _userDefined = Specials(tokens, types, t => t == TokenType.UserDefined);
        _special = Specials(tokens, types, t => t is TokenType.Control or TokenType.Unknown or TokenType.UserDefined);
        BosId = bos;
        EosId = eos;
        UnknownId = unknown;
        AddBos = addBos;
        AddEos = addEos;
        AddSpacePrefix = addSpacePrefix;
        _endOfGeneration = [.. endOfGeneration];
        _pattern = model == "gpt2" ? BpePreTokenizer.ForName(pre)!.Value : BpePattern.Gpt2;
        _ignoreMerges = _pattern == BpePattern.Llama3;
    }

    private static (string, int)[] Specials(string[] tokens, TokenType[] types, Func<TokenType, bool> which) =>
        Enumerable.Range(0, tokens.Length).Where(i => which(types[i]) && tokens[i].Length > 0)
            .Select(i => (tokens[i], i)).OrderByDescending(s => s.Item1.Length).ThenBy(s => s.i).ToArray();

    /// <summary>Builds the tokenizer from a GGUF file's metadata; refuses a tokenizer model or pre-tokenizer it does not run, naming it.</summary>
    internal static GgufTokenizer Create(ModelMetadata metadata, int vocabularySize)
    {
        string model = metadata.String("tokenizer.ggml.model")
            ?? throw new InvalidDataException($"{metadata.Source} has no tokenizer (tokenizer.ggml.model).");
        if (model is not ("llama" or "gpt2"))
        {
            throw new NotSupportedException($"{metadata.Source}: tokenizer model '{model}' is not supported; LowBit reads \"llama\" (SentencePiece " +
                $"BPE) and \"gpt2\" (byte-level BPE).");
        }

        string[] tokens = metadata.Strings("tokenizer.ggml.tokens")
            ?? throw new InvalidDataException($"{metadata.Source} has no tokenizer.ggml.tokens.");
        if (tokens.Length != vocabularySize)
        {
            throw new InvalidDataException($"{metadata.Source}: the vocabulary has {tokens.Length} tokens but token_embd.weight has " +
                $"{vocabularySize} rows.");
        }

        float[] scores = metadata.Floats("tokenizer.ggml.scores") ?? new float[tokens.Length];
        int[] typeIds = metadata.Integers("tokenizer.ggml.token_type") ?? Enumerable.Repeat((int)TokenType.Normal, tokens.Length).ToArray();
        if (scores.Length != tokens.Length || typeIds.Length != tokens.Length)
        {
            throw new InvalidDataException($"{metadata.Source}: {tokens.Length} tokens but {scores.Length} scores and {typeIds.Length} token types.");
        }

        string? pre = metadata.String("tokenizer.ggml.pre");
        string[] merges = [];
        bool addBos, addSpacePrefix;
        if (model == "gpt2")
        {
            if (BpePreTokenizer.ForName(pre) is null)
            {
                throw new NotSupportedException($"{metadata.Source}: pre-tokenizer '{pre}' (tokenizer.ggml.pre) is not supported; LowBit splits as " +
                    $"gpt-2, llama-bpe (Llama 3) and qwen2 do.");
            }

            merges = metadata.Strings("tokenizer.ggml.merges") ?? throw new InvalidDataException($"{metadata.Source} has no tokenizer.ggml.merges.");
            addBos = metadata.Boolean("tokenizer.ggml.add_bos_token") ?? BpePreTokenizer.ForName(pre) == BpePattern.Llama3;
            addSpacePrefix = metadata.Boolean("tokenizer.ggml.add_space_prefix") ?? false;
        }
        else
        {
            addBos = metadata.Boolean("tokenizer.ggml.add_bos_token") ?? true;
            addSpacePrefix = metadata.Boolean("tokenizer.ggml.add_space_prefix") ?? true;
        }

        int? Id(string key)
        {
            long? id = metadata.Integer(key);
            if (id is null || id == -1) return null;
            if (id < 0 || id >= tokens.Length) throw new InvalidDataException($"{metadata.Source}: {key} is {id}, not a token of the " +
                $"{tokens.Length}.");
            return (int)id;
        }

        int? bos = Id("tokenizer.ggml.bos_token_id"), eos = Id("tokenizer.ggml.eos_token_id");
        var types = Array.ConvertAll(typeIds, t => t is >= 0 and <= 6 ? (TokenType)t : TokenType.Normal);
        // End of generation: EOS, the end-of-turn tokens the file names, and the control tokens llama.cpp recognizes by text.
        var endOfGeneration = new List<int>();
        foreach (int? id in new[] { eos, Id("tokenizer.ggml.eot_token_id"), Id("tokenizer.ggml.eom_token_id") })
        {
            if (id is int value) endOfGeneration.Add(value);
        }

        string[] endTexts = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "<|eom_id|>"];
        for (int i = 0; i < tokens.Length; i++)
        {
            if (types[i] == TokenType.Control && endTexts.Contains(tokens[i])) endOfGeneration.Add(i);
        }

        return new GgufTokenizer(model, pre, tokens, scores, types, merges, bos, eos, Id("tokenizer.ggml.unknown_token_id"),
                                 addBos, metadata.Boolean("tokenizer.ggml.add_eos_token") ?? false, addSpacePrefix, endOfGeneration);
    }

    /// <summary><c>tokenizer.ggml.model</c>: "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE).</summary>
    public string Model { get; }

    /// <summary><c>tokenizer.ggml.pre</c>, the byte-level pre-tokenizer's name (null for SentencePiece).</summary>
    public string? PreTokenizerName { get; }

    /// <summary>Tokens in the vocabulary.</summary>
    public int VocabularySize => _tokens.Length;

    /// <summary>The beginning-of-sequence token, if the vocabulary has one.</summary>
    public int? BosId { get; }

    /// <summary>The end-of-sequence token, if the vocabulary has one.</summary>
    public int? EosId { get; }

    /// <summary>The unknown token, if the vocabulary has one.</summary>
    public int? UnknownId { get; }

    /// <summary>True when the model expects BOS before a prompt (<c>tokenizer.ggml.add_bos_token</c>).</summary>
    public bool AddBos { get; }

    /// <summary>True when the model expects EOS after a prompt (<c>tokenizer.ggml.add_eos_token</c>).</summary>
    public bool AddEos { get; }

    /// <summary>True when SentencePiece text gets a leading space (<c>tokenizer.ggml.add_space_prefix</c>).</summary>
    public bool AddSpacePrefix { get; }

    /// <summary>True for the tokens that end a generation (EOS, end-of-turn markers).</summary>
    public bool IsEndOfGeneration(int id) => _endOfGeneration.Contains(id);

    /// <summary>A token's text as the vocabulary spells it ('▁' for spaces in SentencePiece, 'Ġ' in byte-level BPE).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not in the vocabulary.</exception>
    public string TokenText(int id)
    {
        CheckId(id);
        return _tokens[id];
    }

    /// <summary>A token's kind.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not in the vocabulary.</exception>
    public TokenType GetTokenType(int id)
    {
        CheckId(id);
        return _types[id];
    }

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)_tokens.Length) throw new ArgumentOutOfRangeException(nameof(id), id, $"Token ids are in [0, {_tokens.Length}).");
    }

    /// <summary>
    /// Tokenizes <paramref name="text"/> as llama.cpp's <c>llama_tokenize(text, addSpecial, parseSpecial)</c>:
    /// <paramref name="addSpecial"/> puts BOS (and EOS) around it when the model asks for them, <paramref name="parseSpecial"/>
    /// turns control-token text such as <c>&lt;|endoftext|&gt;</c> into that token.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> holds a lone UTF-16 surrogate (not text UTF-8 can carry).</exception>
    public IReadOnlyList<int> Encode(string text, bool addSpecial = false, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new List<(int Id, int Start, int Length)>();
        EncodeCore(text, addSpecial, parseSpecial, tokens);
        return tokens.Select(t => t.Id).ToArray();
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string source = text ?? textSpan.ToString();
        var tokens = new List<(int Id, int Start, int Length)>();
        EncodeCore(source, false, false, tokens);
        int count = Math.Min(tokens.Count, settings.MaxTokenCount);
        var result = new List<EncodedToken>(count);
        for (int i = 0; i < count; i++) result.Add(new EncodedToken(tokens[i].Id, _tokens[tokens[i].Id], new Range(tokens[i].Start, tokens[i].Start
            + tokens[i].Length)));
        int consumed = count == tokens.Count ? source.Length : count == 0 ? 0 : tokens[count - 1].Start + tokens[count - 1].Length;
        return new EncodeResults<EncodedToken> { Tokens = result, NormalizedText = null, CharsConsumed = consumed };
    }

    /// <inheritdoc/>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string source = text ?? textSpan.ToString();
        var tokens = new List<(int Id, int Start, int Length)>();
        EncodeCore(source, false, false, tokens);
        int count = Math.Min(tokens.Count, settings.MaxTokenCount);
        int consumed = count == tokens.Count ? source.Length : count == 0 ? 0 : tokens[count - 1].Start + tokens[count - 1].Length;
        return new EncodeResults<int> { Tokens = tokens.Take(count).Select(t => t.Id).ToArray(), NormalizedText = null, CharsConsumed = consumed };
    }

    private void EncodeCore(string text, bool addSpecial, bool parseSpecial, List<(int Id, int Start, int Length)> output)
    {
        int invalid = InvalidUtf16(text);
        if (invalid >= 0) throw new ArgumentException($"The text has a lone UTF-16 surrogate at index {invalid}; it is not valid Unicode.",
                                                      nameof(text));

        if (addSpecial && AddBos && BosId is int bos) output.Add((bos, 0, 0));
        bool previousSpecial = true;  // SentencePiece: a space prefix before the first text, and after a special token
        foreach ((int start, int length, int id) in Fragments(text, parseSpecial ? _special : _userDefined))
        {
            if (id >= 0)
            {
                output.Add((id, start, length));
                previousSpecial = true;
                continue;
            }

            if (Model == "llama") SentencePiece(text, start, length, AddSpacePrefix && previousSpecial, output);
            else ByteLevelBpe(text.AsSpan(start, length), start, output);
            previousSpecial = false;
        }

        if (addSpecial && AddEos && EosId is int eos) output.Add((eos, text.Length, 0));
    }

    /// <summary>The index of the first lone UTF-16 surrogate in <paramref name="text"/>, or -1.</summary>
    internal static int InvalidUtf16(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else return i;
        }

        return -1;
    }

    /// <summary>
    /// The text cut at the special tokens as llama.cpp's <c>tokenizer_st_partition</c> cuts it: each special token in turn
    /// (longest first) splits every raw fragment left at each of its occurrences. Fragments are (start, length, id), id -1 for text.
    /// </summary>
    private static List<(int Start, int Length, int Id)> Fragments(string text, (string Text, int Id)[] specials)
    {
        var fragments = new List<(int Start, int Length, int Id)> { (0, text.Length, -1) };
        if (text.Length == 0) fragments.Clear();
        foreach ((string special, int id) in specials)
        {
            for (int f = 0; f < fragments.Count; f++)
            {
                (int start, int length, int fragmentId) = fragments[f];
                if (fragmentId >= 0) continue;
                int at = text.IndexOf(special, start, length, StringComparison.Ordinal);
                if (at < 0) continue;
                var parts = new List<(int, int, int)>(3);
                if (at > start) parts.Add((start, at - start, -1));
                parts.Add((at, special.Length, id));
                if (at + special.Length < start + length) parts.Add((at + special.Length, start + length - at - special.Length, -1));
                fragments.RemoveAt(f);
                fragments.InsertRange(f, parts);
                f += parts.Count - 2;  // the raw rest (if any) is the next fragment looked at
            }
        }

        return fragments;
    }

    /// <summary>
    /// SentencePiece BPE (llama.cpp's <c>llm_tokenizer_spm_session</c>): spaces become '▁' (with one in front when asked),
    /// code points are merged pairwise, the pair whose merged text is the highest-scoring token first (the leftmost on a
    /// tie), and a code point no token covers falls back to its UTF-8 bytes as <c>&lt;0xXX&gt;</c> tokens.
    /// </summary>
    private void SentencePiece(string text, int start, int length, bool spacePrefix, List<(int Id, int Start, int Length)> output)
    {
        int prefix = spacePrefix ? 1 : 0;
        var work = new StringBuilder(length + prefix);
        if (spacePrefix) work.Append('▁');
        work.Append(text, start, length).Replace(' ', '▁');
        string s = work.ToString();

        // Symbols: one code point each, linked as a list; merged symbols grow to the right.
        var symbols = new List<Symbol>();
        for (int i = 0; i < s.Length;)
        {
            int n = char.IsHighSurrogate(s[i]) && i + 1 < s.Length ? 2 : 1;
            symbols.Add(new Symbol(i, n, symbols.Count - 1, i + n < s.Length ? symbols.Count + 1 : -1));
            i += n;
        }

        // Highest score first; on equal scores the leftmost pair (llama.cpp's comparator).
        var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(
            Comparer<(float Score, int Left)>.Create((a, b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left)));
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            ReadOnlySpan<char> merged = s.AsSpan(symbols[left].Start, symbols[left].Length + symbols[right].Length);
            if (_idsBySpan.TryGetValue(merged, out int id)) queue.Enqueue((left, right, merged.Length), (_scores[id], left));
        }

        for (int i = 1; i < symbols.Count; i++) TryAdd(i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            Symbol left = symbols[bigram.Left], right = symbols[bigram.Right];
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;  // stale
            symbols[bigram.Left] = left with { Length = left.Length + right.Length, Next = right.Next };
            symbols[bigram.Right] = right with { Length = 0 };
            if (right.Next >= 0) symbols[right.Next] = symbols[right.Next] with { Previous = bigram.Left };
            TryAdd(symbols[bigram.Left].Previous, bigram.Left);
            TryAdd(bigram.Left, symbols[bigram.Left].Next);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i >= 0 && symbols.Count > 0; i = symbols[i].Next)
        {
            Symbol symbol = symbols[i];
            ReadOnlySpan<char> piece = s.AsSpan(symbol.Start, symbol.Length);
            // Offsets in the caller's text: the prefix '▁' has none of its own.
            int origin = Math.Max(start, start + symbol.Start - prefix), span = Math.Max(0, start + symbol.Start - prefix + symbol.Length - origin);
            if (_idsBySpan.TryGetValue(piece, out int id))
            {
                output.Add((id, origin, span));
                continue;
            }

            // Only single code points are unmerged without a token (a merge always makes a token): its bytes.
            int bytes = Encoding.UTF8.GetBytes(piece, utf8);
            for (int b = 0; b < bytes; b++)
            {
                int byteId = _byteTokens[utf8[b]];
                if (byteId < 0 && _idsBySpan.TryGetValue(((char)utf8[b]).ToString(), out int single)) byteId = single;
                if (byteId < 0) byteId = UnknownId
                    ?? throw new InvalidOperationException($"The vocabulary has no token for byte 0x{utf8[b]:X2} and no unknown token.");
                output.Add((byteId, origin, span));
            }
        }
    }

    private readonly record struct Symbol(int Start, int Length, int Previous, int Next);

    /// <summary>
    /// Byte-level BPE (llama.cpp's <c>llm_tokenizer_bpe_session</c>): each pre-token's UTF-8 bytes spelled with GPT-2's byte
    /// characters, then merged by rank (the lowest-ranked pair first, the leftmost on a tie); a piece no token covers falls
    /// back to its single-byte tokens.
    /// </summary>
    private void ByteLevelBpe(ReadOnlySpan<char> text, int offset, List<(int Id, int Start, int Length)> output)
    {
        var pieces = new List<(int Start, int Length)>();
        BpePreTokenizer.Split(text, _pattern, pieces);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            foreach ((int pieceStart, int pieceLength) in pieces)
            {
                ReadOnlySpan<char> piece = text.Slice(pieceStart, pieceLength);
                int byteCount = Encoding.UTF8.GetBytes(piece, buffer);
                var word = new char[byteCount];
                for (int b = 0; b < byteCount; b++) word[b] = ByteLevel.ByteToChar[buffer[b]];
                MergeByRank(new string(word), offset + pieceStart, pieceLength, output);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void MergeByRank(string word, int start, int length, List<(int Id, int Start, int Length)> output)
    {
        if (_ignoreMerges && _ids.TryGetValue(word, out int whole))
        {
            output.Add((whole, start, length));
            return;
        }

        var symbols = new List<Symbol>(word.Length);
        for (int i = 0; i < word.Length; i++) symbols.Add(new Symbol(i, 1, i - 1, i + 1 < word.Length ? i + 1 : -1));
        var queue = new PriorityQueue<(int Left, int Right, string Text), (int Rank, int Left)>();
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            string l = word.Substring(symbols[left].Start, symbols[left].Length), r = word.Substring(symbols[right].Start, symbols[right].Length);
            if (_mergeRanks.TryGetValue(l + " " + r, out int rank)) queue.Enqueue((left, right, l + r), (rank, left));
        }

        for (int i = 1; i < symbols.Count; i++) TryAdd(i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            Symbol left = symbols[bigram.Left], right = symbols[bigram.Right];
            if (left.Length == 0 || right.Length == 0 || !word.AsSpan(left.Start, left.Length + right.Length).SequenceEqual(bigram.Text)
                || left.Start + left.Length != right.Start)
            {
                continue;  // outdated
            }

            symbols[bigram.Left] = left with { Length = left.Length + right.Length, Next = right.Next };
            symbols[bigram.Right] = right with { Length = 0 };
            if (right.Next >= 0) symbols[right.Next] = symbols[right.Next] with { Previous = bigram.Left };
            TryAdd(symbols[bigram.Left].Previous, bigram.Left);
            TryAdd(bigram.Left, symbols[bigram.Left].Next);
        }

        for (int i = 0; i >= 0 && symbols.Count > 0; i = symbols[i].Next)
        {
            ReadOnlySpan<char> piece = word.AsSpan(symbols[i].Start, symbols[i].Length);
            if (_idsBySpan.TryGetValue(piece, out int id))
            {
                output.Add((id, start, length));
                continue;
            }

            foreach (char c in piece)
            {
                if (_idsBySpan.TryGetValue([c], out int single)) output.Add((single, start, length));
            }
        }
    }

    /// <summary>
    /// The bytes token <paramref name="id"/> stands for in text, appended to <paramref name="destination"/>: a normal token's
    /// text ('▁' as a space, or byte-level characters as their bytes), a byte token's byte, nothing for control tokens.
    /// </summary>
    internal void AppendBytes(int id, List<byte> destination)
    {
        string token = _tokens[id];
        switch (_types[id])
        {
            case TokenType.Control:
            case TokenType.Unused:
                return;
            case TokenType.Byte when Model == "llama" && token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal):
                destination.Add(Convert.ToByte(token.Substring(3, 2), 16));
                return;
            case TokenType.Unknown when Model == "llama":
                destination.AddRange("\u2585"u8.ToArray());  // llama.cpp prints ▅ for <unk>
                return;
        }

        if (Model == "llama" || _types[id] == TokenType.UserDefined)
        {
            destination.AddRange(Encoding.UTF8.GetBytes(Model == "llama" ? token.Replace('▁', ' ') : token));
            return;
        }

        foreach (char c in token)
        {
            short b = c < ByteLevel.CharToByte.Length ? ByteLevel.CharToByte[c] : (short)-1;
            if (b >= 0) destination.Add((byte)b);
            else destination.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
    }

    /// <summary>
    /// The text of <paramref name="ids"/>: their bytes joined and read as UTF-8 (an invalid sequence becomes U+FFFD);
    /// SentencePiece drops the space prefix of the first piece, as llama.cpp's detokenizer does.
    /// </summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            CheckId(id);
            int before = bytes.Count;
            AppendBytes(id, bytes);
            if (first && bytes.Count > before)
            {
                if (Model == "llama" && AddSpacePrefix && bytes[before] == (byte)' ') bytes.RemoveAt(before);
                first = false;
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] all = ids.ToArray();
        string text = Decode(all);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            idsConsumed = all.Length;
            charsWritten = text.Length;
            return OperationStatus.Done;
        }

        // The longest prefix of ids whose text fits.
        int count = all.Length;
        while (count > 0 && Decode(all.Take(count)).Length > destination.Length) count--;
        string fits = Decode(all.Take(count));
        fits.CopyTo(destination);
        idsConsumed = count;
        charsWritten = fits.Length;
        return OperationStatus.DestinationTooSmall;
    }
}
