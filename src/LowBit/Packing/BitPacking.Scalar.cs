namespace LowBit;

public static partial class BitPacking
{
    /// <summary>
    /// Scalar reference: byte <c>j</c> ORs together value <c>j * n + k</c> shifted left by <c>k * bits</c>
    /// for <c>k</c> in <c>0..n</c>, <c>n = 8 / bits</c>. The oracle for tests and the tail of the vector path.
    /// </summary>
    internal static void PackScalar(ReadOnlySpan<byte> values, int bits, Span<byte> destination)
    {
        int perByte = 8 / bits;
        int packedLength = (values.Length * bits + 7) / 8;
        for (int j = 0; j < packedLength; j++)
        {
            int packedByte = 0;
            for (int k = 0; k < perByte; k++)
            {
                int i = j * perByte + k;
                if (i < values.Length)
                {
                    packedByte |= values[i] << (k * bits);
                }
            }

            destination[j] = (byte)packedByte;
        }
    }

    /// <summary>Scalar reference: <c>destination[i] = (packed[i / n] &gt;&gt; ((i % n) * bits)) &amp; (2^bits - 1)</c>.</summary>
    internal static void UnpackScalar(ReadOnlySpan<byte> packed, int bits, Span<byte> destination)
    {
        int perByte = 8 / bits;
        int mask = (1 << bits) - 1;
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)((packed[i / perByte] >> (i % perByte * bits)) & mask);
        }
    }
}
