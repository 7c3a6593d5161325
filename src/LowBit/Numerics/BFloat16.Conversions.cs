using System.Numerics;
using LowBit.Internal;

namespace LowBit;

public readonly partial struct BFloat16
{
    /// <summary>
    /// Narrows each float to BFloat16: <c>destination[i] = (BFloat16)source[i]</c> (round to nearest,
    /// ties to even), vectorized and equal bit for bit to the scalar cast.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="source"/>.</exception>
    public static void ConvertToBFloat16(ReadOnlySpan<float> source, Span<BFloat16> destination)
    {
        ThrowHelper.CheckDestination(destination.Length, source.Length, nameof(destination));
        int done = Vector.IsHardwareAccelerated ? ConvertToBFloat16Vectorized(source, destination) : 0;
        ConvertToBFloat16Scalar(source[done..], destination[done..]);
    }

    /// <summary>
    /// Widens each BFloat16 to float: <c>destination[i] = (float)source[i]</c> (exact), vectorized.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="source"/>.</exception>
    public static void ConvertToSingle(ReadOnlySpan<BFloat16> source, Span<float> destination)
    {
        ThrowHelper.CheckDestination(destination.Length, source.Length, nameof(destination));
        int done = Vector.IsHardwareAccelerated ? ConvertToSingleVectorized(source, destination) : 0;
        ConvertToSingleScalar(source[done..], destination[done..]);
    }

    /// <summary>Scalar reference for <see cref="ConvertToBFloat16"/>; also the tail handler.</summary>
    internal static void ConvertToBFloat16Scalar(ReadOnlySpan<float> source, Span<BFloat16> destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = (BFloat16)source[i];
        }
    }

    /// <summary>Scalar reference for <see cref="ConvertToSingle"/>; also the tail handler.</summary>
    internal static void ConvertToSingleScalar(ReadOnlySpan<BFloat16> source, Span<float> destination)
    {
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = source[i];
        }
    }
}
