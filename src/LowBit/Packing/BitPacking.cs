using System.Numerics;
using LowBit.Internal;

namespace LowBit;

/// <summary>
/// Packs small unsigned values (1, 2, 4 or 8 bits each) into bytes and back. Value <c>i</c> goes
/// into byte <c>i / (8 / bits)</c> at bit offset <c>(i % (8 / bits)) * bits</c>: the first value takes
/// the lowest bits, so <c>Pack([1, 0, 3, 2], 2)</c> is <c>[177]</c> (0b10_11_00_01).
/// </summary>
/// <remarks>
/// Any count is accepted; the unused high bits of the last byte are zero.
/// <code>
/// byte[] packed = BitPacking.Pack([1, 0, 3, 2, 3], bits: 2);      // [177, 3]
/// byte[] values = BitPacking.Unpack(packed, bits: 2, count: 5);   // [1, 0, 3, 2, 3]
/// </code>
/// </remarks>
public static partial class BitPacking
{
    /// <summary>The number of bytes that <paramref name="count"/> values of <paramref name="bits"/> bits pack into: <c>ceil(count * bits /
    /// 8)</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or <paramref name="bits"/> is not 1, 2, 4 or 8.</exception>
    public static int GetPackedLength(int count, int bits)
    {
        CheckBits(bits);
        if (count < 0) ThrowHelper.ThrowNegative(nameof(count), count);
        return PackedLength(count, bits);
    }

    /// <summary>
    /// Packs <paramref name="values"/> (each below <c>2^bits</c>) into the first
    /// <see cref="GetPackedLength"/> bytes of <paramref name="destination"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not 1, 2, 4 or 8.</exception>
    /// <exception cref="ArgumentException">A value does not fit in <paramref name="bits"/> bits (the message names its index),
    /// or <paramref name="destination"/> is too short. Nothing is written then.</exception>
    public static void Pack(ReadOnlySpan<byte> values, int bits, Span<byte> destination)
    {
        CheckBits(bits);
        ThrowHelper.CheckDestination(destination.Length, PackedLength(values.Length, bits), nameof(destination));
        CheckValuesFit(values, bits);
        PackUnchecked(values, bits, destination);
    }

    /// <summary>Packs <paramref name="values"/> into a new array of <see cref="GetPackedLength"/> bytes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not 1, 2, 4 or 8.</exception>
    /// <exception cref="ArgumentException">A value does not fit in <paramref name="bits"/> bits.</exception>
    public static byte[] Pack(ReadOnlySpan<byte> values, int bits)
    {
        CheckBits(bits);
        CheckValuesFit(values, bits);
        byte[] packed = new byte[PackedLength(values.Length, bits)];
        PackUnchecked(values, bits, packed);
        return packed;
    }

    /// <summary>
    /// Unpacks <c>destination.Length</c> values of <paramref name="bits"/> bits from <paramref name="packed"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not 1, 2, 4 or 8.</exception>
    /// <exception cref="ArgumentException"><paramref name="packed"/> holds fewer than <c>GetPackedLength(destination.Length, bits)</c>
    /// bytes.</exception>
    public static void Unpack(ReadOnlySpan<byte> packed, int bits, Span<byte> destination)
    {
        CheckBits(bits);
        ThrowHelper.CheckSource(packed.Length, PackedLength(destination.Length, bits), nameof(packed));
        UnpackUnchecked(packed, bits, destination);
    }

    /// <summary>Unpacks <paramref name="count"/> values of <paramref name="bits"/> bits into a new array.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bits"/> is not 1, 2, 4 or 8, or <paramref name="count"/> is
    /// negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="packed"/> is too short for <paramref name="count"/> values.</exception>
    public static byte[] Unpack(ReadOnlySpan<byte> packed, int bits, int count)
    {
        CheckBits(bits);
        if (count < 0) ThrowHelper.ThrowNegative(nameof(count), count);
        ThrowHelper.CheckSource(packed.Length, PackedLength(count, bits), nameof(packed));
        byte[] values = new byte[count];
        UnpackUnchecked(packed, bits, values);
        return values;
    }

    /// <summary>Packs already-validated values: vector blocks first, the scalar reference for the rest.</summary>
    internal static void PackUnchecked(ReadOnlySpan<byte> values, int bits, Span<byte> destination)
    {
        int done = Vector.IsHardwareAccelerated ? PackVectorized(values, bits, destination) : 0;
        PackScalar(values[done..], bits, destination[(done * bits / 8)..]);
    }

    /// <summary>Unpacks after validation: vector blocks first, the scalar reference for the rest.</summary>
    internal static void UnpackUnchecked(ReadOnlySpan<byte> packed, int bits, Span<byte> destination)
    {
        int done = Vector.IsHardwareAccelerated ? UnpackVectorized(packed, bits, destination) : 0;
        UnpackScalar(packed[(done * bits / 8)..], bits, destination[done..]);
    }

    private static int PackedLength(int count, int bits) => (int)(((long)count * bits + 7) >> 3);

    private static void CheckBits(int bits)
    {
        if (bits is not (1 or 2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bits per value must be 1, 2, 4 or 8.");
        }
    }

    /// <summary>Throws naming the first value that needs more than <paramref name="bits"/> bits.</summary>
    private static void CheckValuesFit(ReadOnlySpan<byte> values, int bits)
    {
        if (bits == 8) return;
        byte tooBig = (byte)~((1 << bits) - 1);
        // A fast OR-reduction says whether any value is too big; only then look for which one.
        if ((OrAll(values) & tooBig) == 0) return;
        int index = values.IndexOfAnyInRange((byte)(1 << bits), byte.MaxValue);
        throw new ArgumentException(
            $"Value {values[index]} at index {index} does not fit in {bits} bits (maximum {(1 << bits) - 1}).", nameof(values));
    }
}
