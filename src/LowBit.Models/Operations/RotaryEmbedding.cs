namespace LowBit.Models;

/// <summary>
/// Rotary position embeddings: element pair (a, b) of a head at position p turns by <c>p * base^(-2i/d)</c>
/// (<c>a' = a cos - b sin</c>, <c>b' = a sin + b cos</c>) over the first d elements of each head, the pairs adjacent
/// (<c>2i, 2i + 1</c>) or split halves (<c>i, i + d/2</c>) as <see cref="RopeStyle"/> says.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly double[] _inverseFrequencies;   // base^(-2i/d), i = 0..d/2-1

    public RotaryEmbedding(int dimensions, double ropeBase, RopeStyle style, int headSize)
    {
        Dimensions = dimensions;
        Style = style;
        HeadSize = headSize;
        _inverseFrequencies = new double[dimensions / 2];
        for (int i = 0; i < _inverseFrequencies.Length; i++) _inverseFrequencies[i] = Math.Pow(ropeBase, -2.0 * i / dimensions);
    }

    public int Dimensions { get; }

    public RopeStyle Style { get; }

    public int HeadSize { get; }

    /// <summary>Fills the cos and sin of every pair's angle for <paramref name="count"/> positions from <paramref name="first"/>: rows of d/2
    /// values.</summary>
    public void Angles(int first, int count, Span<float> cos, Span<float> sin)
    {
        int half = _inverseFrequencies.Length;
        for (int t = 0; t < count; t++)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = (first + t) * _inverseFrequencies[i];
                cos[t * half + i] = (float)Math.Cos(angle);
                sin[t * half + i] = (float)Math.Sin(angle);
            }
        }
    }

    /// <summary>Rotates every head of every row of <paramref name="x"/> (rows of heads x HeadSize values) in place; row t uses angle row t.</summary>
    public void Apply(Span<float> x, int heads, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = _inverseFrequencies.Length, rowLength = heads * HeadSize;
        int pairStride = Style == RopeStyle.Adjacent ? 2 : 1, partner = Style == RopeStyle.Adjacent ? 1 : half;
        for (int t = 0; t < x.Length / rowLength; t++)
        {
            ReadOnlySpan<float> c = cos.Slice(t * half, half), s = sin.Slice(t * half, half);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = x.Slice(t * rowLength + h * HeadSize, HeadSize);
                for (int i = 0; i < half; i++)
                {
                    int a = i * pairStride, b = a + partner;
                    float x0 = head[a], x1 = head[b];
                    head[a] = x0 * c[i] - x1 * s[i];
                    head[b] = x0 * s[i] + x1 * c[i];
                }
            }
        }
    }
}
