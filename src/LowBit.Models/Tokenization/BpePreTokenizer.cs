using System.Globalization;
using System.Text;

namespace LowBit.Models;

/// <summary>
/// The pre-tokenizer regular expressions of byte-level BPE vocabularies, written out by hand over code points (as
/// llama.cpp's <c>unicode_regex_split_custom_*</c> do), not run through <see cref="System.Text.RegularExpressions.Regex"/>:
/// .NET's regex sees UTF-16 chars, so a supplementary-plane letter would be two surrogates, not one <c>\p{L}</c>.
/// </summary>
internal enum BpePattern
{
    /// <summary>GPT-2: <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.</summary>
    Gpt2,

    /// <summary>Llama 3: <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.</summary>
    Llama3,

    /// <summary>Qwen2: as Llama 3 with single digits (<c>\p{N}</c>, not <c>\p{N}{1,3}</c>).</summary>
    Qwen2,
}

/// <summary>Splits text into pre-tokens by a <see cref="BpePattern"/>.</summary>
internal static class BpePreTokenizer
{
    private enum Kind : byte { Letter, Number, Space, Other }

    /// <summary>The pattern of a <c>tokenizer.ggml.pre</c> name, or null for one LowBit does not know.</summary>
    public static BpePattern? ForName(string? name) => name switch
    {
        null or "" or "default" or "gpt-2" or "gpt2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0"
            or "mellum" or "modern-bert" or "mpt" or "olmo" or "jais" or "trillion" or "granite-docling" => BpePattern.Gpt2,
        "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "pixtral" or "midm-2.0" or "lfm2" => BpePattern.Llama3,
        "qwen2" or "stablelm2" or "hunyuan" => BpePattern.Qwen2,
        _ => null,
    };

    /// <summary>Adds (start, length) in chars of each pre-token of <paramref name="text"/> to <paramref name="pieces"/>, in order.</summary>
    public static void Split(ReadOnlySpan<char> text, BpePattern pattern, List<(int Start, int Length)> pieces)
    {
        // Code points with their char offsets, so a rule reads one code point at a time.
        var runes = new List<(Rune Rune, int Offset)>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text[i..], out Rune rune, out int used);
            runes.Add((rune, i));
            i += used;
        }

        int n = runes.Count;
        int end = 0;
        for (int i = 0; i < n; i = end)
        {
            end = pattern == BpePattern.Gpt2 ? MatchGpt2(runes, i) : MatchLlama3(runes, i, pattern == BpePattern.Qwen2 ? 1 : 3);
            int start = runes[i].Offset, stop = end < n ? runes[end].Offset : text.Length;
            pieces.Add((start, stop - start));
        }
    }

    private static Kind KindOf(Rune rune)
    {
        if (Rune.IsWhiteSpace(rune)) return Kind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }

    private static int Run(List<(Rune Rune, int Offset)> r, int i, Kind kind)
    {
        while (i < r.Count && KindOf(r[i].Rune) == kind) i++;
        return i;
    }

    /// <summary>The end of a contraction <c>'s 't 're 've 'm 'll 'd</c> at i, or -1; <paramref name="anyCase"/> for Llama 3's (?i:).</summary>
    private static int Contraction(List<(Rune Rune, int Offset)> r, int i, bool anyCase)
    {
        if (r[i].Rune.Value != '\'' || i + 1 >= r.Count) return -1;
        int Lower(int k) => k < r.Count ? (anyCase && r[k].Rune.Value is >= 'A' and <= 'Z' ? r[k].Rune.Value + 32 : r[k].Rune.Value) : -1;
        int a = Lower(i + 1), b = Lower(i + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
        if (a is 's' or 't' or 'm' or 'd') return i + 2;
        return -1;
    }

    /// <summary>Whitespace at i: <c>\s+(?!\S)|\s+</c> — the run, less its last character when a non-space follows and the run is longer than
    /// one.</summary>
    private static int Whitespace(List<(Rune Rune, int Offset)> r, int i)
    {
        int end = Run(r, i, Kind.Space);
        return end < r.Count && end - i > 1 ? end - 1 : end;
    }

    private static int MatchGpt2(List<(Rune Rune, int Offset)> r, int i)
    {
        int contraction = Contraction(r, i, anyCase: false);
        if (contraction > 0) return contraction;
        // ' ?' then a run of one kind: letters, numbers or "other" (neither space, letter nor number).
        int at = r[i].Rune.Value == ' ' && i + 1 < r.Count && KindOf(r[i + 1].Rune) != Kind.Space ? i + 1 : i;
        Kind kind = KindOf(r[at].Rune);
        if (kind != Kind.Space) return Run(r, at, kind);
        return Whitespace(r, i);
    }

    private static int MatchLlama3(List<(Rune Rune, int Offset)> r, int i, int maxDigits)
    {
        int contraction = Contraction(r, i, anyCase: true);
        if (contraction > 0) return contraction;
        Kind kind = KindOf(r[i].Rune);
        int value = r[i].Rune.Value;

        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (kind == Kind.Letter) return Run(r, i, Kind.Letter);
        if (value is not ('\r' or '\n') && kind != Kind.Number && i + 1 < r.Count && KindOf(r[i + 1].Rune) == Kind.Letter) return Run(r, i + 1,
                                                                                                                                      Kind.Letter);

        // \p{N}{1,3}
        if (kind == Kind.Number)
        {
            int end = i;
            while (end < r.Count && end - i < maxDigits && KindOf(r[end].Rune) == Kind.Number) end++;
            return end;
        }

        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        int at = value == ' ' && i + 1 < r.Count && KindOf(r[i + 1].Rune) == Kind.Other ? i + 1 : i;
        if (KindOf(r[at].Rune) == Kind.Other)
        {
            int end = Run(r, at, Kind.Other);
            while (end < r.Count && r[end].Rune.Value is '\r' or '\n') end++;
            return end;
        }

        // \s*[\r\n]+ : the whitespace run up to and including its last line break.
        int runEnd = Run(r, i, Kind.Space);
        for (int k = runEnd - 1; k >= i; k--)
        {
            if (r[k].Rune.Value is '\r' or '\n') return k + 1;
        }

        return Whitespace(r, i);
    }
}
