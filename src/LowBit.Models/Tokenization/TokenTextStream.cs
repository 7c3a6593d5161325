using System.Text;

namespace LowBit.Models;

/// <summary>
/// Turns tokens into text as they come, never splitting a UTF-8 character: a byte-fallback token may carry one byte of
/// a character whose other bytes come with the next tokens, so bytes wait here until they complete a character.
/// </summary>
public sealed class TokenTextStream
{
    private readonly GgufTokenizer _tokenizer;
    private readonly List<byte> _pending = [];

    /// <summary>A stream of the text of <paramref name="tokenizer"/>'s tokens.</summary>
    public TokenTextStream(GgufTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
    }

    /// <summary>The text that token <paramref name="id"/> completes: whole characters only (possibly empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not in the vocabulary.</exception>
    public string Append(int id)
    {
        _tokenizer.GetTokenType(id);  // validates the id
        _tokenizer.AppendBytes(id, _pending);
        int complete = CompleteLength(_pending);
        if (complete == 0) return "";
        string text = Encoding.UTF8.GetString(_pending.GetRange(0, complete).ToArray());
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Whatever is left (an unfinished character becomes U+FFFD), and an empty stream.</summary>
    public string Flush()
    {
        string text = Encoding.UTF8.GetString(_pending.ToArray());
        _pending.Clear();
        return text;
    }

    /// <summary>Bytes from the start that end on a character boundary: all but a trailing sequence that could still complete.</summary>
    private static int CompleteLength(List<byte> bytes)
    {
        // Look back at most 3 bytes for the lead byte of the last sequence.
        for (int back = 1; back <= Math.Min(4, bytes.Count); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue;  // a continuation byte: keep looking for its lead
            int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return need > back && b >= 0xC0 && b < 0xF8 ? bytes.Count - back : bytes.Count;
        }

        return bytes.Count;  // only continuation bytes: invalid whatever follows, so let the decoder mark them
    }
}
