using System.Buffers;
using System.Runtime.InteropServices;
using LowBit.Internal;

namespace LowBit;

/// <summary>
/// Absmax int8 quantization with one scale per row (output channel), as in the W8A16 recipe:
/// <c>scale[r] = (T)(max_c |w[r,c]| / 127)</c> and
/// <c>q[r,c] = clamp(RoundToEven(w[r,c] / (float)scale[r]), -127, 127)</c>.
/// </summary>
/// <remarks>
/// Arithmetic is float32; the division is an IEEE division, so the SIMD and scalar paths agree bit for bit.
/// Unlike the PyTorch recipe, codes are clamped (never wrap to -128) and an all-zero row gets scale 0 and codes 0.
/// <code>
/// var q = new sbyte[rows * columns];
/// var scales = new BFloat16[rows];
/// Int8Quantizer.QuantizePerChannel&lt;BFloat16&gt;(weights, rows, columns, q, scales);
/// </code>
/// </remarks>
public static partial class Int8Quantizer
{
    /// <summary>The largest code magnitude; codes lie in [-127, 127].</summary>
    public const int MaxCode = 127;

    /// <summary>
    /// Quantizes a row-major <paramref name="rows"/> x <paramref name="columns"/> matrix to int8 codes with one scale per row.
    /// </summary>
    /// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
    /// <exception cref="ArgumentException">A size does not match, a destination is too short, or a weight is NaN or infinite
    /// (the message names its row and column). Nothing is written then.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> or <paramref name="columns"/> is not positive, or their product
    /// overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not a supported element type.</exception>
    public static void QuantizePerChannel<T>(ReadOnlySpan<T> weights, int rows, int columns, Span<sbyte> quantized, Span<T> scales)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(rows, nameof(rows), columns, nameof(columns));
        ThrowHelper.CheckLength(weights.Length, count, nameof(weights));
        ThrowHelper.CheckDestination(quantized.Length, count, nameof(quantized));
        ThrowHelper.CheckDestination(scales.Length, rows, nameof(scales));

        // Pass 1 reads everything once: per-row absmax, and whether any weight is NaN or infinite,
        // so that nothing is written when the input is invalid.
        float[] absMax = ArrayPool<float>.Shared.Rent(rows);
        float[]? rowScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(columns);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<T> row = weights.Slice(r * columns, columns);
                float m = MaxAbsOrNonFinite(row);
                if (!float.IsFinite(m)) ThrowNonFinite(row, r);
                absMax[r] = m;
            }

            for (int r = 0; r < rows; r++)
            {
                T scale = Elements<T>.FromSingle(absMax[r] / MaxCode);
                scales[r] = scale;
                ReadOnlySpan<T> row = weights.Slice(r * columns, columns);
                ReadOnlySpan<float> rowFloats;
                if (rowScratch is null)
                {
                    rowFloats = SpanCast.As<T, float>(row);
                }
                else
                {
                    Elements<T>.ToSingle(row, rowScratch);
                    rowFloats = rowScratch.AsSpan(0, columns);
                }

                QuantizeRow(rowFloats, Elements<T>.ToSingle(scale), quantized.Slice(r * columns, columns));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(absMax);
            if (rowScratch is not null) ArrayPool<float>.Shared.Return(rowScratch);
        }
    }

    /// <summary>
    /// Dequantizes int8 codes: <c>destination[r,c] = (T)(quantized[r,c] * (float)scales[r])</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A size does not match or <paramref name="destination"/> is too short.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rows"/> or <paramref name="columns"/> is not positive, or their product
    /// overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not a supported element type.</exception>
    public static void Dequantize<T>(ReadOnlySpan<sbyte> quantized, ReadOnlySpan<T> scales, int rows, int columns, Span<T> destination)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(rows, nameof(rows), columns, nameof(columns));
        ThrowHelper.CheckLength(quantized.Length, count, nameof(quantized));
        ThrowHelper.CheckLength(scales.Length, rows, nameof(scales));
        ThrowHelper.CheckDestination(destination.Length, count, nameof(destination));

        float[]? rowScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(columns);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                float scale = Elements<T>.ToSingle(scales[r]);
                ReadOnlySpan<sbyte> codes = quantized.Slice(r * columns, columns);
                Span<T> row = destination.Slice(r * columns, columns);
                if (rowScratch is null)
                {
                    DequantizeRow(codes, scale, SpanCast.As<T, float>(row));
                }
                else
                {
                    Span<float> floats = rowScratch.AsSpan(0, columns);
                    DequantizeRow(codes, scale, floats);
                    Elements<T>.FromSingle(floats, row);
                }
            }
        }
        finally
        {
            if (rowScratch is not null) ArrayPool<float>.Shared.Return(rowScratch);
        }
    }

    private static void ThrowNonFinite<T>(ReadOnlySpan<T> row, int r)
    {
        for (int c = 0; c < row.Length; c++)
        {
            float value = Elements<T>.ToSingle(row[c]);
            if (!float.IsFinite(value))
            {
                throw new ArgumentException($"Weight at row {r}, column {c} is {value}; weights must be finite.", "weights");
            }
        }
    }
}
