using System.Globalization;
using System.Runtime.CompilerServices;

namespace LowBit;

/// <summary>
/// A 16-bit "brain" floating-point number: the upper 16 bits of an IEEE 754 float32
/// (1 sign bit, 8 exponent bits, 7 mantissa bits). Same range as <see cref="float"/>, about
/// three significant decimal digits.
/// </summary>
/// <remarks>
/// Narrowing from <see cref="float"/> rounds to nearest, ties to even; NaN stays a quiet NaN with
/// its sign; infinities and signed zeros are kept. Widening to <see cref="float"/> is exact.
/// <c>==</c> and <c>&lt;</c> follow IEEE 754 (NaN is unequal to everything); <see cref="Equals(BFloat16)"/>,
/// <see cref="GetHashCode"/> and <see cref="CompareTo(BFloat16)"/> behave like <see cref="float"/>'s
/// (NaN equals NaN and sorts first).
/// <code>
/// BFloat16 b = (BFloat16)3.14159f;   // 3.140625
/// float f = b;                       // exact widening
/// </code>
/// </remarks>
public readonly partial struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IComparable, IFormattable
{
    private readonly ushort _bits;

    private BFloat16(ushort bits) => _bits = bits;

    /// <summary>Creates a value from its raw bit pattern (the upper 16 bits of a float32).</summary>
    public static BFloat16 FromBits(ushort bits) => new(bits);

    /// <summary>The raw bit pattern: the upper 16 bits of the equivalent float32.</summary>
    public ushort Bits => _bits;

    /// <summary>Positive zero.</summary>
    public static BFloat16 Zero => new(0x0000);

    /// <summary>One.</summary>
    public static BFloat16 One => new(0x3F80);

    /// <summary>A quiet NaN (0x7FC0).</summary>
    public static BFloat16 NaN => new(0x7FC0);

    /// <summary>Positive infinity.</summary>
    public static BFloat16 PositiveInfinity => new(0x7F80);

    /// <summary>Negative infinity.</summary>
    public static BFloat16 NegativeInfinity => new(0xFF80);

    /// <summary>The largest finite value, about 3.39e38.</summary>
    public static BFloat16 MaxValue => new(0x7F7F);

    /// <summary>The most negative finite value, about -3.39e38.</summary>
    public static BFloat16 MinValue => new(0xFF7F);

    /// <summary>The smallest positive (subnormal) value, about 9.18e-41.</summary>
    public static BFloat16 Epsilon => new(0x0001);

    /// <summary>True when <paramref name="value"/> is NaN.</summary>
    public static bool IsNaN(BFloat16 value) => (value._bits & 0x7FFF) > 0x7F80;

    /// <summary>True when <paramref name="value"/> is positive or negative infinity.</summary>
    public static bool IsInfinity(BFloat16 value) => (value._bits & 0x7FFF) == 0x7F80;

    /// <summary>True when <paramref name="value"/> is neither NaN nor infinite.</summary>
    public static bool IsFinite(BFloat16 value) => (value._bits & 0x7F80) != 0x7F80;

    /// <summary>Rounds a float32 to the nearest BFloat16, ties to even; NaN becomes a quiet NaN with the same sign.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static explicit operator BFloat16(float value) => new(RoundToBFloat16Bits(BitConverter.SingleToUInt32Bits(value)));

    /// <summary>Widens to float32; exact.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator float(BFloat16 value) => BitConverter.UInt32BitsToSingle((uint)value._bits << 16);

    /// <summary>Widens to float64; exact.</summary>
    public static explicit operator double(BFloat16 value) => (float)value;

    /// <summary>Rounds a float64 to float32 and then to BFloat16.</summary>
    public static explicit operator BFloat16(double value) => (BFloat16)(float)value;

    /// <summary>
    /// The scalar rounding rule: add 0x7FFF plus the lowest kept bit, then drop the low 16 bits
    /// (round to nearest, ties to even; overflow carries into the exponent and gives infinity).
    /// NaN keeps its sign and upper payload and gets the quiet bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ushort RoundToBFloat16Bits(uint bits)
    {
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        uint lsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + lsb) >> 16);
    }

    /// <summary>IEEE equality: NaN is unequal to everything, +0 equals -0.</summary>
    public static bool operator ==(BFloat16 left, BFloat16 right) => (float)left == (float)right;

    /// <summary>IEEE inequality.</summary>
    public static bool operator !=(BFloat16 left, BFloat16 right) => (float)left != (float)right;

    /// <summary>IEEE less-than (false when either is NaN).</summary>
    public static bool operator <(BFloat16 left, BFloat16 right) => (float)left < (float)right;

    /// <summary>IEEE greater-than (false when either is NaN).</summary>
    public static bool operator >(BFloat16 left, BFloat16 right) => (float)left > (float)right;

    /// <summary>IEEE less-or-equal (false when either is NaN).</summary>
    public static bool operator <=(BFloat16 left, BFloat16 right) => (float)left <= (float)right;

    /// <summary>IEEE greater-or-equal (false when either is NaN).</summary>
    public static bool operator >=(BFloat16 left, BFloat16 right) => (float)left >= (float)right;

    /// <summary>Equality as <see cref="float.Equals(float)"/>: NaN equals NaN, +0 equals -0.</summary>
    public bool Equals(BFloat16 other) => ((float)this).Equals((float)other);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <summary>Hash consistent with <see cref="Equals(BFloat16)"/>.</summary>
    public override int GetHashCode() => ((float)this).GetHashCode();

    /// <summary>Ordering as <see cref="float.CompareTo(float)"/>: NaN sorts before everything.</summary>
    public int CompareTo(BFloat16 other) => ((float)this).CompareTo((float)other);

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        BFloat16 other => CompareTo(other),
        _ => throw new ArgumentException("Object must be of type BFloat16.", nameof(obj)),
    };

    /// <summary>Formats the value as the float32 it widens to.</summary>
    public override string ToString() => ((float)this).ToString(CultureInfo.CurrentCulture);

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ((float)this).ToString(format, formatProvider);
}
