using LowBit;

namespace LowBit.Tests.Packing;

public class BitPackingTests
{
    private static readonly int[] Widths = [1, 2, 4, 8];

    private static IEnumerable<int> Lengths() => Enumerable.Range(0, 258).Concat([1023, 4097, 100_003]);

    private static byte[] RandomValues(int length, int bits, int seed)
    {
        var random = new Random(seed);
        var values = new byte[length];
        for (int i = 0; i < length; i++) values[i] = (byte)random.Next(0, 1 << bits);
        return values;
    }

    [Test]
    public void Pack_RecipeExamples()
    {
        Assert.That(BitPacking.Pack([1, 0, 3, 2], 2), Is.EqualTo(new byte[] { 177 }));
        Assert.That(BitPacking.Pack([3, 3, 3, 3], 2), Is.EqualTo(new byte[] { 255 }));
        Assert.That(BitPacking.Unpack([177], 2, 4), Is.EqualTo(new byte[] { 1, 0, 3, 2 }));
        Assert.That(BitPacking.Unpack([255], 2, 4), Is.EqualTo(new byte[] { 3, 3, 3, 3 }));
    }

    [Test]
    public void Pack_FirstValueTakesLowestBits_AtEveryWidth()
    {
        Assert.That(BitPacking.Pack([1, 0, 1, 1, 0, 0, 0, 1, 1], 1), Is.EqualTo(new byte[] { 0b1000_1101, 0b1 }));
        Assert.That(BitPacking.Pack([0xA, 0x5, 0xF], 4), Is.EqualTo(new byte[] { 0x5A, 0x0F }));
        Assert.That(BitPacking.Pack([1, 2, 3], 2), Is.EqualTo(new byte[] { 0b00_11_10_01 }));
        Assert.That(BitPacking.Pack([200, 7], 8), Is.EqualTo(new byte[] { 200, 7 }));
    }

    [TestCase(0, 2, 0)]
    [TestCase(1, 2, 1)]
    [TestCase(5, 2, 2)]
    [TestCase(9, 1, 2)]
    [TestCase(3, 4, 2)]
    [TestCase(3, 8, 3)]
    [TestCase(int.MaxValue, 8, int.MaxValue)]
    [TestCase(int.MaxValue, 4, 1_073_741_824)]
    public void GetPackedLength_IsCeilingOfBitsOverEight(int count, int bits, int expected) =>
        Assert.That(BitPacking.GetPackedLength(count, bits), Is.EqualTo(expected));

    [Test]
    public void PackAndUnpack_AllWidthsAndLengths_MatchScalarReference()
    {
        foreach (int bits in Widths)
        {
            foreach (int length in Lengths())
            {
                byte[] values = RandomValues(length, bits, length * 10 + bits);
                int packedLength = BitPacking.GetPackedLength(length, bits);
                var expected = new byte[packedLength];
                BitPacking.PackScalar(values, bits, expected);

                var packed = new byte[packedLength + 1];
                packed[packedLength] = 0xEE;
                BitPacking.Pack(values, bits, packed);
                Assert.That(packed.AsSpan(0, packedLength).SequenceEqual(expected), $"pack bits={bits} length={length}");
                Assert.That(packed[packedLength], Is.EqualTo(0xEE), $"pack sentinel bits={bits} length={length}");

                var unpacked = new byte[length + 1];
                unpacked[length] = 0xEE;
                BitPacking.Unpack(expected, bits, unpacked.AsSpan(0, length));
                Assert.That(unpacked.AsSpan(0, length).SequenceEqual(values), $"unpack bits={bits} length={length}");
                Assert.That(unpacked[length], Is.EqualTo(0xEE), $"unpack sentinel bits={bits} length={length}");
            }
        }
    }

    [Test]
    public void Unpack_IgnoresUnusedHighBitsOfLastByte_AndPackLeavesThemZero()
    {
        Assert.That(BitPacking.Unpack([0xFF], 2, 3), Is.EqualTo(new byte[] { 3, 3, 3 }));
        Assert.That(BitPacking.Pack([3, 3, 3], 2), Is.EqualTo(new byte[] { 0b0011_1111 }));
    }

    [Test]
    public void PackAndUnpack_EdgeValues_AllZerosAndAllMax()
    {
        foreach (int bits in Widths)
        {
            foreach (int length in new[] { 1, 31, 64, 257, 4099 })
            {
                byte max = (byte)((1 << bits) - 1);
                foreach (byte fill in new[] { (byte)0, max })
                {
                    byte[] values = Enumerable.Repeat(fill, length).ToArray();
                    byte[] packed = BitPacking.Pack(values, bits);
                    var expected = new byte[packed.Length];
                    BitPacking.PackScalar(values, bits, expected);
                    Assert.That(packed, Is.EqualTo(expected));
                    Assert.That(BitPacking.Unpack(packed, bits, length), Is.EqualTo(values));
                }
            }
        }
    }

    [Test]
    public void Pack_ValueTooLarge_ThrowsNamingIndexAndValue_AndWritesNothing()
    {
        foreach (int bits in new[] { 1, 2, 4 })
        {
            byte[] values = RandomValues(1000, bits, 3);
            values[777] = (byte)(1 << bits);
            var destination = new byte[BitPacking.GetPackedLength(values.Length, bits)];
            destination.AsSpan().Fill(0x5A);
            var ex = Assert.Throws<ArgumentException>(() => BitPacking.Pack(values, bits, destination));
            Assert.That(ex!.Message, Does.Contain("index 777").And.Contain($"Value {1 << bits}"));
            Assert.That(ex.ParamName, Is.EqualTo("values"));
            Assert.That(destination, Is.All.EqualTo((byte)0x5A));
            Assert.Throws<ArgumentException>(() => BitPacking.Pack(values, bits));
        }
    }

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(5)]
    [TestCase(16)]
    [TestCase(-1)]
    public void InvalidBits_Throw(int bits)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.GetPackedLength(4, bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Pack([1, 0], bits, new byte[8]));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Pack([1, 0], bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Unpack([1], bits, new byte[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Unpack([1], bits, 2));
    }

    [Test]
    public void Pack_DestinationTooShort_ThrowsAndWritesNothing()
    {
        var destination = new byte[] { 9, 9 };
        var ex = Assert.Throws<ArgumentException>(() => BitPacking.Pack(new byte[9], 2, destination));
        Assert.That(ex!.ParamName, Is.EqualTo("destination"));
        Assert.That(destination, Is.EqualTo(new byte[] { 9, 9 }));
    }

    [Test]
    public void Unpack_PackedTooShort_Throws()
    {
        var destination = new byte[9];
        destination.AsSpan().Fill(7);
        var ex = Assert.Throws<ArgumentException>(() => BitPacking.Unpack(new byte[2], 2, destination));
        Assert.That(ex!.ParamName, Is.EqualTo("packed"));
        Assert.That(destination, Is.All.EqualTo((byte)7));
        Assert.Throws<ArgumentException>(() => BitPacking.Unpack(new byte[2], 4, 5));
    }

    [Test]
    public void NegativeCount_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.GetPackedLength(-1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => BitPacking.Unpack([1], 2, -1));
    }
}
