namespace LowBit.Models;

/// <summary>
/// GPT-2's reversible map between bytes and printable characters (<c>bytes_to_unicode</c>): the printable Latin-1 bytes
/// stand for themselves, the other 68 bytes for U+0100 onwards, so a space is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
/// Byte-level BPE vocabularies spell their tokens with these characters.
/// </summary>
internal static class ByteLevel
{
    /// <summary>The character for each byte.</summary>
    public static readonly char[] ByteToChar = Build();

    /// <summary>The byte each character stands for, or -1.</summary>
    public static readonly short[] CharToByte = Invert(ByteToChar);

    private static char[] Build()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] Invert(char[] map)
    {
        var inverse = new short[512];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++) inverse[map[b]] = (short)b;
        return inverse;
    }
}
