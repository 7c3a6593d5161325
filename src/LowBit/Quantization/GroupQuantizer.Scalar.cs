using LowBit.Internal;

namespace LowBit;

public static partial class GroupQuantizer
{
    /// <summary>Scalar reference for <see cref="Quantize{T}"/>: the formula, weight by weight, no validation.</summary>
    internal static void QuantizeScalar<T>(ReadOnlySpan<T> weights, int rows, int columns, int bits, int groupSize,
                                           Span<byte> codes, Span<T> scales, Span<byte> zeroPoints)
    {
        float qmax = (1 << bits) - 1;
        int groupsPerRow = columns / groupSize;
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < groupsPerRow; g++)
            {
                int start = r * columns + g * groupSize;
                float lo = 0, hi = 0;
                for (int k = 0; k < groupSize; k++)
                {
                    float w = Elements<T>.ToSingle(weights[start + k]);
                    lo = MathF.Min(lo, w);
                    hi = MathF.Max(hi, w);
                }

                T scale = Elements<T>.FromSingle((hi - lo) / qmax);
                float s = Elements<T>.ToSingle(scale);
                scales[r * groupsPerRow + g] = scale;
                float z = s == 0 ? 0 : Math.Clamp(MathF.Round(-lo / s, MidpointRounding.ToEven), 0, qmax);
                zeroPoints[r * groupsPerRow + g] = (byte)z;
                for (int k = 0; k < groupSize; k++)
                {
                    float w = Elements<T>.ToSingle(weights[start + k]);
                    codes[start + k] = s == 0 ? (byte)0 : (byte)Math.Clamp(MathF.Round(w / s, MidpointRounding.ToEven) + z, 0, qmax);
                }
            }
        }
    }
}
