using LowBit.Internal;

namespace LowBit;

public static partial class Int8Quantizer
{
    /// <summary>
    /// Scalar reference for <see cref="QuantizePerChannel{T}"/>: the formula, element by element,
    /// with no validation. The oracle for tests and the baseline for benchmarks.
    /// </summary>
    internal static void QuantizePerChannelScalar<T>(ReadOnlySpan<T> weights, int rows, int columns, Span<sbyte> quantized, Span<T> scales)
    {
        for (int r = 0; r < rows; r++)
        {
            float m = 0;
            for (int c = 0; c < columns; c++)
            {
                m = MathF.Max(m, MathF.Abs(Elements<T>.ToSingle(weights[r * columns + c])));
            }

            T scale = Elements<T>.FromSingle(m / MaxCode);
            scales[r] = scale;
            float s = Elements<T>.ToSingle(scale);
            for (int c = 0; c < columns; c++)
            {
                quantized[r * columns + c] = QuantizeScalar(Elements<T>.ToSingle(weights[r * columns + c]), s);
            }
        }
    }

    /// <summary>Scalar reference for <see cref="Dequantize{T}"/>.</summary>
    internal static void DequantizeScalar<T>(ReadOnlySpan<sbyte> quantized, ReadOnlySpan<T> scales, int rows, int columns, Span<T> destination)
    {
        for (int r = 0; r < rows; r++)
        {
            float s = Elements<T>.ToSingle(scales[r]);
            for (int c = 0; c < columns; c++)
            {
                destination[r * columns + c] = Elements<T>.FromSingle(quantized[r * columns + c] * s);
            }
        }
    }

    /// <summary>One code: <c>clamp(RoundToEven(w / s), -127, 127)</c>; a zero scale gives 0.</summary>
    internal static sbyte QuantizeScalar(float w, float s)
    {
        if (s == 0) return 0;
        return (sbyte)Math.Clamp(MathF.Round(w / s, MidpointRounding.ToEven), -MaxCode, MaxCode);
    }
}
