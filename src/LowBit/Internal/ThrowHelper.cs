using System.Diagnostics.CodeAnalysis;

namespace LowBit.Internal;

/// <summary>Throw sites kept out of hot methods so the JIT can inline the callers.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowDestinationTooShort(string paramName, long expected, int actual) =>
        throw new ArgumentException(
            $"Destination is too short: expected at least {expected} elements, got {actual}.", paramName);

    [DoesNotReturn]
    public static void ThrowLengthMismatch(string paramName, long expected, int actual) =>
        throw new ArgumentException($"Expected {expected} elements, got {actual}.", paramName);

    [DoesNotReturn]
    public static void ThrowNotPositive(string paramName, int actual) =>
        throw new ArgumentOutOfRangeException(paramName, actual, "Must be greater than zero.");

    [DoesNotReturn]
    public static void ThrowNegative(string paramName, int actual) =>
        throw new ArgumentOutOfRangeException(paramName, actual, "Must not be negative.");

    [DoesNotReturn]
    public static void ThrowProductOverflow(string paramName, long a, long b) =>
        throw new ArgumentOutOfRangeException(paramName,
            $"The product {a} x {b} = {a * b} exceeds the largest span length ({int.MaxValue}).");

    [DoesNotReturn]
    public static void ThrowUnsupportedType(Type type) =>
        throw new NotSupportedException(
            $"Element type {type} is not supported; use float, System.Half or LowBit.BFloat16.");

    /// <summary>Checks that both dimensions are positive and that their product fits in an int.</summary>
    public static int CheckedProduct(int a, string aName, int b, string bName)
    {
        if (a <= 0) ThrowNotPositive(aName, a);
        if (b <= 0) ThrowNotPositive(bName, b);
        long product = (long)a * b;
        if (product > int.MaxValue) ThrowProductOverflow(bName, a, b);
        return (int)product;
    }

    /// <summary>Throws when a span (of length <paramref name="actual"/>) does not have exactly <paramref name="expected"/> elements.</summary>
    public static void CheckLength(int actual, long expected, string paramName)
    {
        if (actual != expected) ThrowLengthMismatch(paramName, expected, actual);
    }

    /// <summary>The batch size of a batch x <paramref name="inFeatures"/> input; throws unless its length is a positive multiple.</summary>
    public static int BatchCount(int inputLength, int inFeatures, string paramName)
    {
        if (inputLength == 0 || inputLength % inFeatures != 0)
        {
            throw new ArgumentException($"Input length {inputLength} is not a positive multiple of inFeatures ({inFeatures}).", paramName);
        }

        return inputLength / inFeatures;
    }

    /// <summary>Throws when a source (input) span holds fewer than <paramref name="expected"/> elements.</summary>
    public static void CheckSource(int actual, long expected, string paramName)
    {
        if (actual < expected)
        {
            throw new ArgumentException($"Input is too short: expected at least {expected} elements, got {actual}.", paramName);
        }
    }

    /// <summary>The length of a new batch x <paramref name="outFeatures"/> output array; throws, naming the input, when it would not fit in an
    /// array.</summary>
    public static int OutputLength(int inputLength, int inFeatures, int outFeatures, string paramName)
    {
        long length = (long)BatchCount(inputLength, inFeatures, paramName) * outFeatures;
        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"The output would hold {length} elements, more than an array can ({Array.MaxLength}); pass a smaller batch.",
                                        paramName);
        }

        return (int)length;
    }

    /// <summary>Throws when a destination holds fewer than <paramref name="expected"/> elements.</summary>
    public static void CheckDestination(int actual, long expected, string paramName)
    {
        if (actual < expected) ThrowDestinationTooShort(paramName, expected, actual);
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for an <see cref="ActivationPrecision"/> that is not one of its named
    /// values.</summary>
    public static void CheckDefined(ActivationPrecision value, string paramName)
    {
        if (value is not (ActivationPrecision.Float or ActivationPrecision.Int8))
        {
            throw new ArgumentOutOfRangeException(paramName, value, "Activations must be ActivationPrecision.Float or ActivationPrecision.Int8.");
        }
    }

    /// <summary>Throws unless <paramref name="row"/> is a row of a matrix of <paramref name="rows"/> rows and <paramref name="destination"/> holds
    /// <paramref name="columns"/> values.</summary>
    public static void CheckRow(int row, int rows, int destination, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, rows);
        CheckDestination(destination, columns, nameof(destination));
    }

    /// <summary>Throws unless a call of <paramref name="batch"/> rows in <paramref name="activations"/> precision can be described.</summary>
    public static void CheckCall(int batch, ActivationPrecision activations)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        CheckDefined(activations, nameof(activations));
    }
}
