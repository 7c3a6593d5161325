using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace LowBit.Models;

/// <summary>
/// BERT's tokenizer as Hugging Face's <c>BertTokenizer</c> runs it: clean the text (drop NUL, U+FFFD and control
/// characters, whitespace to spaces), put spaces around CJK ideographs, NFC, split on whitespace, lower-case and strip
/// accents (NFD, drop nonspacing marks) for uncased vocabularies, split off punctuation, then greedy longest-match
/// WordPiece with "##" continuations ([UNK] for a word no pieces cover or longer than 100 characters). Its Unicode
/// normalization is its own (<see cref="UnicodeTables"/>), so the ids are the same with and without InvariantGlobalization.
/// </summary>
/// <remarks>
/// <see cref="Tokenizer.EncodeToIds(string, bool, bool)"/> gives Hugging Face's <c>input_ids</c>: [CLS], the pieces, [SEP].
/// <code>
/// var tokenizer = WordPieceTokenizer.FromVocabulary("all-MiniLM-L6-v2/vocab.txt", lowerCase: true);
/// IReadOnlyList&lt;int&gt; ids = tokenizer.EncodeToIds("A naïve café.");   // [101, 1037, 15743, 7668, 1012, 102]
/// </code>
/// </remarks>
public sealed class WordPieceTokenizer : Tokenizer
{
    /// <summary>Words longer than this many characters become [UNK] (Hugging Face's max_input_chars_per_word).</summary>
    public const int MaxWordCharacters = 100;

    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private WordPieceTokenizer(string[] tokens, bool lowerCase)
    {
        _tokens = tokens;
        _ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) _ids.TryAdd(tokens[i], i);
        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        LowerCase = lowerCase;
        UnknownId = Special("[UNK]");
        ClassificationId = Special("[CLS]");
        SeparatorId = Special("[SEP]");
    }

    private int Special(string token) =>
        _ids.TryGetValue(token, out int id) ? id : throw new InvalidDataException($"The vocabulary has no {token} token.");

    /// <summary>
    /// Reads a <c>vocab.txt</c> (one token per line, the line number its id; CRLF or LF line ends).
    /// <paramref name="lowerCase"/>: uncased vocabularies (lower-case and strip accents).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The vocabulary is empty or has no [UNK], [CLS] or [SEP].</exception>
    public static WordPieceTokenizer FromVocabulary(string path, bool lowerCase)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var tokens = new List<string>();
        using (var reader = new StreamReader(path, Encoding.UTF8))
        {
            for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine()) tokens.Add(line.TrimEnd('\r'));
        }

        if (tokens.Count == 0) throw new InvalidDataException($"{path} holds no tokens.");
        return new WordPieceTokenizer([.. tokens], lowerCase);
    }

    /// <summary>True for uncased vocabularies: text is lower-cased and its accents stripped.</summary>
    public bool LowerCase { get; }

    /// <summary>Tokens in the vocabulary.</summary>
    public int VocabularySize => _tokens.Length;

    /// <summary>[UNK]'s id.</summary>
    public int UnknownId { get; }

    /// <summary>[CLS]'s id: the first token of every sequence.</summary>
    public int ClassificationId { get; }

    /// <summary>[SEP]'s id: the last token of every sequence.</summary>
    public int SeparatorId { get; }

    /// <summary>
    /// Hugging Face's <c>input_ids</c> for <paramref name="text"/>: [CLS], the word pieces (the first
    /// <paramref name="maxTokens"/> - 2 of them, as truncation at max_seq_length keeps), [SEP].
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="text"/> holds a lone UTF-16 surrogate.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTokens"/> is less than 2.</exception>
    public int[] Encode(string text, int maxTokens = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 2);
        var ids = new List<int>(text.Length / 3 + 2) { ClassificationId };
        Pieces(text, ids, maxTokens - 2, null);
        ids.Add(SeparatorId);
        return [.. ids];
    }

    /// <inheritdoc/>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string source = text ?? textSpan.ToString();
        var ids = new List<int> { ClassificationId };
        var ranges = new List<Range> { new(0, 0) };
        Pieces(source, ids, Math.Max(0, settings.MaxTokenCount - 2), ranges);
        ids.Add(SeparatorId);
        ranges.Add(new Range(source.Length, source.Length));
        var tokens = ids.Select((id, i) => new EncodedToken(id, _tokens[id], ranges[i])).ToList();
        return new EncodeResults<EncodedToken> { Tokens = tokens, NormalizedText = null, CharsConsumed = source.Length };
    }

    /// <summary>Appends the word pieces of <paramref name="text"/> (at most <paramref name="max"/>), and each one's source range when
    /// asked.</summary>
    private void Pieces(string text, List<int> ids, int max, List<Range>? ranges)
    {
        int invalid = GgufTokenizer.InvalidUtf16(text);
        if (invalid >= 0) throw new ArgumentException($"The text has a lone UTF-16 surrogate at index {invalid}; it is not valid Unicode.",
                                                      nameof(text));
        int added = 0;
        foreach ((string word, int start, int length) in Words(text))
        {
            int before = ids.Count;
            WordPieces(word, ids);
            for (int i = before; i < ids.Count && ranges is not null; i++) ranges.Add(new Range(start, start + length));
            added += ids.Count - before;
            if (added >= max)
            {
                ids.RemoveRange(ids.Count - (added - max), added - max);
                ranges?.RemoveRange(ranges.Count - (added - max), added - max);
                return;
            }
        }
    }

    /// <summary>BertTokenizer's BasicTokenizer: the words (punctuation on its own) and where in the text each came from.</summary>
    private IEnumerable<(string Word, int Start, int Length)> Words(string text)
    {
        // Clean and split at whitespace and around CJK ideographs, keeping each piece's position.
        var current = new StringBuilder();
        int start = -1;
        var pieces = new List<(string, int, int)>();
        void Flush(int end)
        {
            if (current.Length > 0) pieces.Add((current.ToString(), start, end - start));
            current.Clear();
            start = -1;
        }

        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int used);
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || (IsControl(rune) && !IsWhitespace(rune)))
            {
                i += used;
                continue;
            }

            if (IsWhitespace(rune))
            {
                Flush(i);
            }
            else if (IsCjk(cp))
            {
                Flush(i);
                pieces.Add((rune.ToString(), i, used));
            }
            else
            {
                if (start < 0) start = i;
                current.Append(text, i, used);
            }

            i += used;
        }

        Flush(text.Length);
        foreach ((string piece, int pieceStart, int pieceLength) in pieces)
        {
            string word = UnicodeTables.Compose(piece);
            if (LowerCase) word = StripAccents(Lower(word));
            // Punctuation splits the word: each mark a word of its own.
            int runStart = 0;
            for (int k = 0; k < word.Length;)
            {
                Rune.DecodeFromUtf16(word.AsSpan(k), out Rune rune, out int used);
                if (IsPunctuation(rune))
                {
                    if (k > runStart) yield return (word[runStart..k], pieceStart, pieceLength);
                    yield return (word.Substring(k, used), pieceStart, pieceLength);
                    runStart = k + used;
                }

                k += used;
            }

            if (runStart < word.Length) yield return (word[runStart..], pieceStart, pieceLength);
        }
    }

    /// <summary>
    /// Python's <c>str.lower()</c>, which BertTokenizer calls: the invariant simple mapping, plus the two full mappings that
    /// differ from it (U+0130 'İ' becomes "i" + U+0307, and a capital sigma ending a word the final 'ς').
    /// </summary>
    internal static string Lower(string word)
    {
        string lower = word.ToLowerInvariant();
        if (!word.Contains('İ') && !word.Contains('Σ')) return lower;
        var builder = new StringBuilder(word.Length + 2);
        for (int i = 0; i < word.Length; i++)
        {
            if (word[i] == 'İ') builder.Append("i̇");
            else if (word[i] == 'Σ' && i > 0 && char.IsLetter(word[i - 1]) && !(i + 1 < word.Length && char.IsLetter(word[i
                + 1]))) builder.Append('ς');
            else builder.Append(lower[i]);
        }

        return builder.ToString();
    }

    private static string StripAccents(string word)
    {
        string decomposed = UnicodeTables.Decompose(word);
        if (ReferenceEquals(decomposed, word)) return word;
        var builder = new StringBuilder(decomposed.Length);
        foreach (Rune rune in decomposed.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) builder.Append(rune.ToString());
        }

        return builder.ToString();
    }

    /// <summary>Greedy longest-match-first WordPiece: "##" marks a piece that continues a word.</summary>
    private void WordPieces(string word, List<int> ids)
    {
        int characters = 0;
        foreach (Rune _ in word.EnumerateRunes()) characters++;
        if (characters > MaxWordCharacters)
        {
            ids.Add(UnknownId);
            return;
        }

        int before = ids.Count;
        char[] buffer = ArrayPool<char>.Shared.Rent(word.Length + 2);
        try
        {
            for (int start = 0; start < word.Length;)
            {
                int end = word.Length, found = -1;
                while (start < end)
                {
                    Span<char> piece = buffer;
                    int n = 0;
                    if (start > 0)
                    {
                        piece[0] = '#';
                        piece[1] = '#';
                        n = 2;
                    }

                    word.AsSpan(start, end - start).CopyTo(piece[n..]);
                    if (_lookup.TryGetValue(piece[..(n + end - start)], out int id))
                    {
                        found = id;
                        break;
                    }

                    end--;
                    if (end > start && char.IsLowSurrogate(word[end])) end--;  // whole characters only
                }

                if (found < 0)
                {
                    ids.RemoveRange(before, ids.Count - before);
                    ids.Add(UnknownId);
                    return;
                }

                ids.Add(found);
                start = end;
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private static bool IsWhitespace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune rune) =>
        rune.Value is not ('\t' or '\n' or '\r') && Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;

    private static bool IsPunctuation(Rune rune)
    {
        int cp = rune.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    /// <summary>The tokens' text: pieces joined with spaces, "##" continuations glued on; [CLS], [SEP] and [PAD] left out.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var builder = new StringBuilder();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_tokens.Length) throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token ids are in [0, {_tokens.Length}).");
            string token = _tokens[id];
            if (id == ClassificationId || id == SeparatorId || token == "[PAD]") continue;
            if (token.StartsWith("##", StringComparison.Ordinal)) builder.Append(token, 2, token.Length - 2);
            else
            {
                if (builder.Length > 0) builder.Append(' ');
                builder.Append(token);
            }
        }

        return builder.ToString();
    }

    /// <inheritdoc/>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] all = ids.ToArray();
        int count = all.Length;
        string text = Decode(all);
        while (text.Length > destination.Length && count > 0) text = Decode(all.Take(--count));
        text.CopyTo(destination);
        idsConsumed = count;
        charsWritten = text.Length;
        return count == all.Length ? OperationStatus.Done : OperationStatus.DestinationTooSmall;
    }
}
