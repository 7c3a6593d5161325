using System.Text;

namespace LowBit.Models;

/// <summary>
/// Unicode normalization forms D and C from tables of our own (UnicodeTables.Data.cs), so tokenization gives the same
/// ids whatever the process's globalization mode: under InvariantGlobalization <see cref="string.Normalize()"/> leaves
/// non-ASCII text as it is, and "café" would lose its accent-stripped form.
/// </summary>
internal static partial class UnicodeTables
{
    private const int HangulBase = 0xAC00, HangulCount = 11172, LeadBase = 0x1100, VowelBase = 0x1161, TrailBase = 0x11A7;
    private const int VowelCount = 21, TrailCount = 28;

    private static readonly Dictionary<int, (int First, int Second)> Decompositions = Build3(DecompositionData, r => (r.Item1, (r.Item2, r.Item3)));
    private static readonly Dictionary<int, int> Classes = Build2(CombiningClassData);
    private static readonly Dictionary<long, int> Compositions = Build3(CompositionData, r => (((long)r.Item1 << 21) | (uint)r.Item2, r.Item3));

    private static Dictionary<TKey, TValue> Build3<TKey, TValue>(ReadOnlySpan<int> data, Func<(int, int, int), (TKey, TValue)> row)
        where TKey : notnull
    {
        var map = new Dictionary<TKey, TValue>(data.Length / 3);
        for (int i = 0; i < data.Length; i += 3)
        {
            (TKey key, TValue value) = row((data[i], data[i + 1], data[i + 2]));
            map[key] = value;
        }

        return map;
    }

    private static Dictionary<int, int> Build2(ReadOnlySpan<int> data)
    {
        var map = new Dictionary<int, int>(data.Length / 2);
        for (int i = 0; i < data.Length; i += 2) map[data[i]] = data[i + 1];
        return map;
    }

    /// <summary>A code point's canonical combining class (0 for starters).</summary>
    public static int CombiningClass(int codePoint) => Classes.TryGetValue(codePoint, out int c) ? c : 0;

    /// <summary>Canonical decomposition (NFD): every code point fully decomposed, combining marks in canonical order.</summary>
    public static string Decompose(string text)
    {
        if (IsAscii(text)) return text;
        var points = new List<int>(text.Length);
        foreach (Rune rune in text.EnumerateRunes()) Append(rune.Value, points);
        Reorder(points);
        return ToText(points);
    }

    /// <summary>Canonical composition (NFC): the decomposition, then each starter composed with the marks it takes.</summary>
    public static string Compose(string text)
    {
        if (IsAscii(text)) return text;
        var points = new List<int>(text.Length);
        foreach (Rune rune in text.EnumerateRunes()) Append(rune.Value, points);
        Reorder(points);
        var composed = new List<int>(points.Count);
        int starter = -1, lastClass = -1;
        foreach (int cp in points)
        {
            int cls = CombiningClass(cp);
            if (starter >= 0 && (lastClass < cls || (lastClass == -1 && cls == 0)) && TryCompose(composed[starter], cp, out int pair))
            {
                composed[starter] = pair;
                continue;
            }

            if (cls == 0)
            {
                starter = composed.Count;
                lastClass = -1;
            }
            else
            {
                lastClass = cls;
            }

            composed.Add(cp);
        }

        return ToText(composed);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        // Hangul: L + V, and LV + T, algorithmically.
        if (first >= LeadBase && first < LeadBase + 19 && second >= VowelBase && second < VowelBase + VowelCount)
        {
            composite = HangulBase + ((first - LeadBase) * VowelCount + (second - VowelBase)) * TrailCount;
            return true;
        }

        if (first >= HangulBase && first < HangulBase + HangulCount && (first - HangulBase) % TrailCount == 0
            && second > TrailBase && second < TrailBase + TrailCount)
        {
            composite = first + (second - TrailBase);
            return true;
        }

        return Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static void Append(int cp, List<int> output)
    {
        if (cp >= HangulBase && cp < HangulBase + HangulCount)
        {
            int s = cp - HangulBase;
            output.Add(LeadBase + s / (VowelCount * TrailCount));
            output.Add(VowelBase + s % (VowelCount * TrailCount) / TrailCount);
            if (s % TrailCount != 0) output.Add(TrailBase + s % TrailCount);
            return;
        }

        if (Decompositions.TryGetValue(cp, out var parts))
        {
            Append(parts.First, output);
            if (parts.Second != 0) Append(parts.Second, output);
            return;
        }

        output.Add(cp);
    }

    /// <summary>Sorts each run of combining marks by class, stably (the canonical ordering algorithm).</summary>
    private static void Reorder(List<int> points)
    {
        for (int i = 1; i < points.Count; i++)
        {
            int cls = CombiningClass(points[i]);
            if (cls == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int before = CombiningClass(points[j - 1]);
                if (before <= cls) break;
                (points[j - 1], points[j]) = (points[j], points[j - 1]);
            }
        }
    }

    private static bool IsAscii(string text)
    {
        foreach (char c in text)
        {
            if (c >= 0x80) return false;
        }

        return true;
    }

    private static string ToText(List<int> points)
    {
        var builder = new StringBuilder(points.Count);
        foreach (int cp in points) builder.Append(char.ConvertFromUtf32(cp));
        return builder.ToString();
    }
}
