using LowBit.Internal;

namespace LowBit;

/// <summary>
/// How far dequantized weights are from the originals: the recipe's
/// <c>(w - int8 * scales).abs().mean()</c>, plus the worst element and the signal-to-noise ratio.
/// </summary>
/// <param name="MeanAbsoluteError">mean of |original - dequantized|.</param>
/// <param name="MaxAbsoluteError">max of |original - dequantized|.</param>
/// <param name="SignalToNoiseDb">10 log10(sum original^2 / sum (original - dequantized)^2), in dB;
/// +infinity when the two are equal.</param>
public readonly record struct QuantizationError(double MeanAbsoluteError, double MaxAbsoluteError, double SignalToNoiseDb)
{
    /// <summary>Compares two equally long spans element by element, in float64.</summary>
    /// <exception cref="ArgumentException">The spans differ in length or are empty.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static QuantizationError Compute<T>(ReadOnlySpan<T> original, ReadOnlySpan<T> dequantized)
    {
        Elements<T>.EnsureSupported();
        ThrowHelper.CheckLength(dequantized.Length, original.Length, nameof(dequantized));
        if (original.IsEmpty) throw new ArgumentException("At least one element is needed.", nameof(original));

        double sumAbs = 0, maxAbs = 0, signal = 0, noise = 0;
        for (int i = 0; i < original.Length; i++)
        {
            double w = Elements<T>.ToSingle(original[i]);
            double e = w - Elements<T>.ToSingle(dequantized[i]);
            sumAbs += Math.Abs(e);
            maxAbs = Math.Max(maxAbs, Math.Abs(e));
            signal += w * w;
            noise += e * e;
        }

        double snr = noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
        return new QuantizationError(sumAbs / original.Length, maxAbs, snr);
    }

    /// <summary>Quantizes and dequantizes a row-major matrix with <see cref="Int8Quantizer"/> and reports the error.</summary>
    public static QuantizationError ForInt8PerChannel<T>(ReadOnlySpan<T> weights, int rows, int columns)
    {
        var codes = new sbyte[weights.Length];
        var scales = new T[rows];
        Int8Quantizer.QuantizePerChannel(weights, rows, columns, codes, scales);
        var restored = new T[weights.Length];
        Int8Quantizer.Dequantize<T>(codes, scales, rows, columns, restored);
        return Compute<T>(weights, restored);
    }
}
