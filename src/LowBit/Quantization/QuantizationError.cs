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

        var accumulator = new QuantizationErrorAccumulator();
        accumulator.Add(original, dequantized);
        return accumulator.Result;
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

/// <summary>
/// Builds a <see cref="QuantizationError"/> piece by piece (for example row block by row block of a
/// tensor too large to dequantize at once).
/// </summary>
public sealed class QuantizationErrorAccumulator
{
    private double _sumAbs, _maxAbs, _signal, _noise;
    private long _count;

    /// <summary>Adds equally long spans of original and dequantized values.</summary>
    /// <exception cref="ArgumentException">The spans differ in length.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public void Add<T>(ReadOnlySpan<T> original, ReadOnlySpan<T> dequantized)
    {
        Elements<T>.EnsureSupported();
        ThrowHelper.CheckLength(dequantized.Length, original.Length, nameof(dequantized));
        for (int i = 0; i < original.Length; i++)
        {
            double w = Elements<T>.ToSingle(original[i]);
            double e = w - Elements<T>.ToSingle(dequantized[i]);
            _sumAbs += Math.Abs(e);
            _maxAbs = Math.Max(_maxAbs, Math.Abs(e));
            _signal += w * w;
            _noise += e * e;
        }

        _count += original.Length;
    }

    /// <summary>The error over everything added so far.</summary>
    /// <exception cref="InvalidOperationException">Nothing was added.</exception>
    public QuantizationError Result => _count == 0
        ? throw new InvalidOperationException("No values were added.")
        : new QuantizationError(_sumAbs / _count, _maxAbs, _noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(_signal / _noise));
}
