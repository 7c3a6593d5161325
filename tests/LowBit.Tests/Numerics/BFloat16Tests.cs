using LowBit;

namespace LowBit.Tests.Numerics;

public class BFloat16Tests
{
    /// <summary>Oracle for float -> BFloat16 written from the definition, independent of the library's bit trick.</summary>
    private static ushort RoundNearestEvenOracle(float value)
    {
        if (float.IsNaN(value)) return (ushort)((BitConverter.SingleToUInt32Bits(value) >> 16) | 0x40);
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint truncated = bits >> 16;
        uint remainder = bits & 0xFFFF;
        if (remainder > 0x8000 || (remainder == 0x8000 && (truncated & 1) == 1)) truncated++;
        return (ushort)truncated;
    }

    [Test]
    public void AllBitPatterns_RoundTripThroughFloat()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            BFloat16 b = BFloat16.FromBits((ushort)bits);
            float f = b;
            Assert.That(BitConverter.SingleToUInt32Bits(f), Is.EqualTo((uint)bits << 16));
            BFloat16 back = (BFloat16)f;
            ushort expected = BFloat16.IsNaN(b) ? (ushort)(bits | 0x40) : (ushort)bits;
            if (back.Bits != expected) Assert.Fail($"0x{bits:X4} came back as 0x{back.Bits:X4}");
        }
    }

    [TestCase(0x3F80_8000u, (ushort)0x3F80)] // tie, even below: stays
    [TestCase(0x3F81_8000u, (ushort)0x3F82)] // tie, odd below: rounds up to even
    [TestCase(0x3F80_8001u, (ushort)0x3F81)] // just above the tie
    [TestCase(0x3F80_7FFFu, (ushort)0x3F80)] // just below the tie
    [TestCase(0xBF81_8000u, (ushort)0xBF82)] // negative tie
    [TestCase(0x7F7F_FFFFu, (ushort)0x7F80)] // float.MaxValue overflows to infinity
    [TestCase(0x7F80_0000u, (ushort)0x7F80)] // +inf
    [TestCase(0xFF80_0000u, (ushort)0xFF80)] // -inf
    [TestCase(0x8000_0000u, (ushort)0x8000)] // -0
    [TestCase(0x7F80_0001u, (ushort)0x7FC0)] // signalling NaN with low payload becomes quiet NaN
    [TestCase(0xFF81_0000u, (ushort)0xFFC1)] // negative NaN keeps sign and payload
    [TestCase(0x0000_8000u, (ushort)0x0000)] // subnormal tie to even
    [TestCase(0x0001_8000u, (ushort)0x0002)]
    public void Narrowing_RoundsToNearestEven(uint floatBits, ushort expected)
    {
        BFloat16 b = (BFloat16)BitConverter.UInt32BitsToSingle(floatBits);
        Assert.That(b.Bits, Is.EqualTo(expected));
    }

    [Test]
    public void Narrowing_MatchesOracleOnRandomBitPatterns()
    {
        var random = new Random(1234);
        for (int i = 0; i < 1_000_000; i++)
        {
            float f = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            ushort actual = ((BFloat16)f).Bits;
            if (actual != RoundNearestEvenOracle(f)) Assert.Fail($"{f} (0x{BitConverter.SingleToUInt32Bits(f):X8}) -> 0x{actual:X4}");
        }
    }

    [Test]
    public void Equality_AndComparison_FollowIeeeAndSingle()
    {
        BFloat16 nan = BFloat16.NaN, otherNaN = BFloat16.FromBits(0x7FC0), one = BFloat16.One, zero = BFloat16.Zero,
            negZero = BFloat16.FromBits(0x8000);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(nan == otherNaN, Is.False);
            Assert.That(nan != otherNaN, Is.True);
            Assert.That(nan.Equals(otherNaN), Is.True);
            Assert.That(zero == negZero, Is.True);
            Assert.That(zero.GetHashCode(), Is.EqualTo(negZero.GetHashCode()));
            Assert.That(zero < one, Is.True);
            Assert.That(nan < one, Is.False);
            Assert.That(nan.CompareTo(BFloat16.NegativeInfinity), Is.LessThan(0));
            Assert.That(BFloat16.MaxValue < BFloat16.PositiveInfinity, Is.True);
            Assert.That((float)BFloat16.MinValue, Is.EqualTo(-(float)BFloat16.MaxValue));
            Assert.That(BFloat16.IsFinite(BFloat16.MaxValue) && !BFloat16.IsFinite(BFloat16.PositiveInfinity), Is.True);
            Assert.That(BFloat16.IsInfinity(BFloat16.NegativeInfinity) && BFloat16.IsNaN(nan), Is.True);
            Assert.That((float)BFloat16.Epsilon, Is.GreaterThan(0f));
            Assert.That(((BFloat16)3.14159f).ToString(), Is.EqualTo(3.140625f.ToString()));
        }
    }

    private static float[] RandomFloats(int length, int seed)
    {
        var random = new Random(seed);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            // Mix ordinary values with raw bit patterns (NaN, inf, subnormals, ties).
            values[i] = (i % 4) switch
            {
                0 => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)),
                1 => BitConverter.UInt32BitsToSingle(((uint)random.Next(0, 1 << 16) << 16) | 0x8000),
                _ => (float)(random.NextDouble() * 200 - 100),
            };
        }

        return values;
    }

    private static IEnumerable<int> Lengths() => Enumerable.Range(0, 258).Concat([1001, 4099, 65_537]);

    [Test]
    public void ConvertToBFloat16_AllLengths_MatchesScalarCastAndLeavesSentinel()
    {
        foreach (int length in Lengths())
        {
            float[] source = RandomFloats(length, length);
            var destination = new BFloat16[length + 1];
            destination[length] = BFloat16.FromBits(0xABCD);
            BFloat16.ConvertToBFloat16(source, destination);
            for (int i = 0; i < length; i++)
            {
                if (destination[i].Bits != ((BFloat16)source[i]).Bits) Assert.Fail($"length {length}, index {i}");
            }

            Assert.That(destination[length].Bits, Is.EqualTo((ushort)0xABCD), $"sentinel overwritten at length {length}");
        }
    }

    [Test]
    public void ConvertToSingle_AllLengths_IsExactAndLeavesSentinel()
    {
        var random = new Random(7);
        foreach (int length in Lengths())
        {
            var source = new BFloat16[length];
            for (int i = 0; i < length; i++) source[i] = BFloat16.FromBits((ushort)random.Next(0, 65536));
            var destination = new float[length + 1];
            destination[length] = 42f;
            BFloat16.ConvertToSingle(source, destination);
            for (int i = 0; i < length; i++)
            {
                if (BitConverter.SingleToUInt32Bits(destination[i]) != (uint)source[i].Bits << 16) Assert.Fail($"length {length}, index {i}");
            }

            Assert.That(destination[length], Is.EqualTo(42f));
        }
    }

    [Test]
    public void Conversions_ThrowForTooShortDestination()
    {
        Assert.Throws<ArgumentException>(() => BFloat16.ConvertToBFloat16(new float[5], new BFloat16[4]));
        Assert.Throws<ArgumentException>(() => BFloat16.ConvertToSingle(new BFloat16[5], new float[4]));
    }
}
