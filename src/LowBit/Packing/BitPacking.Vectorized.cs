using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LowBit;

// Vector<T> kernels: one portable path that is 256-bit on AVX2 (and on AVX-512 machines,
// where Vector<T> stays 256-bit), 128-bit on SSE/NEON. Each lane of a wider integer type
// holds the values that make up one packed byte, so packing is shifts and ORs inside a lane
// followed by truncating narrows, and unpacking is widening followed by shifts and a mask.
public static partial class BitPacking
{
    /// <summary>Packs whole vector blocks; returns the number of values consumed (a multiple of <c>8 / bits</c>).</summary>
    private static int PackVectorized(ReadOnlySpan<byte> values, int bits, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(values);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        return bits switch
        {
            1 => PackBitsVector(ref src, ref dst, values.Length),
            2 => PackCrumbsVector(ref src, ref dst, values.Length),
            4 => PackNibblesVector(ref src, ref dst, values.Length),
            _ => CopyBytes(values, destination),
        };
    }

    /// <summary>Unpacks whole vector blocks; returns the number of values produced.</summary>
    private static int UnpackVectorized(ReadOnlySpan<byte> packed, int bits, Span<byte> destination)
    {
        ref byte src = ref MemoryMarshal.GetReference(packed);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        return bits switch
        {
            1 => UnpackBitsVector(ref src, ref dst, destination.Length),
            2 => UnpackCrumbsVector(ref src, ref dst, destination.Length),
            4 => UnpackNibblesVector(ref src, ref dst, destination.Length),
            _ => CopyBytes(packed[..destination.Length], destination),
        };
    }

    private static int CopyBytes(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        source.CopyTo(destination);
        return source.Length;
    }

    /// <summary>4-bit: a ushort lane holds v0 | v1 &lt;&lt; 8; the packed byte is (x | x &gt;&gt; 4) &amp; 0xFF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int PackNibblesVector(ref byte src, ref byte dst, int count)
    {
        nuint lanes = (nuint)Vector<ushort>.Count;
        nuint block = (nuint)Vector<byte>.Count * 2;
        nuint end = (nuint)count - (nuint)count % block;
        for (nuint i = 0, o = 0; i < end; i += block, o += block / 2)
        {
            Vector<ushort> a = Vector.LoadUnsafe(ref src, i).As<byte, ushort>();
            Vector<ushort> b = Vector.LoadUnsafe(ref src, i + 2 * lanes).As<byte, ushort>();
            Vector.Narrow(a | (a >> 4), b | (b >> 4)).StoreUnsafe(ref dst, o);
        }

        return (int)end;
    }

    /// <summary>2-bit: a uint lane holds v0..v3 in its bytes; t = x | x &gt;&gt; 6 pairs them, t | t &gt;&gt; 12 gathers all four in the low
    /// byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int PackCrumbsVector(ref byte src, ref byte dst, int count)
    {
        nuint bytesPerVector = (nuint)Vector<byte>.Count;
        nuint block = bytesPerVector * 4;
        nuint end = (nuint)count - (nuint)count % block;
        for (nuint i = 0, o = 0; i < end; i += block, o += block / 4)
        {
            Vector<uint> a = Gather4(Vector.LoadUnsafe(ref src, i).As<byte, uint>());
            Vector<uint> b = Gather4(Vector.LoadUnsafe(ref src, i + bytesPerVector).As<byte, uint>());
            Vector<uint> c = Gather4(Vector.LoadUnsafe(ref src, i + 2 * bytesPerVector).As<byte, uint>());
            Vector<uint> d = Gather4(Vector.LoadUnsafe(ref src, i + 3 * bytesPerVector).As<byte, uint>());
            Vector.Narrow(Vector.Narrow(a, b), Vector.Narrow(c, d)).StoreUnsafe(ref dst, o);
        }

        return (int)end;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<uint> Gather4(Vector<uint> x)
        {
            Vector<uint> t = x | (x >> 6);
            return t | (t >> 12);
        }
    }

    /// <summary>1-bit: a ulong lane holds v0..v7 in its bytes; three shift-ORs (7, 14, 28) gather the eight bits in the low byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int PackBitsVector(ref byte src, ref byte dst, int count)
    {
        nuint bytesPerVector = (nuint)Vector<byte>.Count;
        nuint block = bytesPerVector * 8;
        nuint end = (nuint)count - (nuint)count % block;
        for (nuint i = 0, o = 0; i < end; i += block, o += block / 8)
        {
            Vector<ushort> lo = Vector.Narrow(
                Vector.Narrow(Gather8(ref src, i), Gather8(ref src, i + bytesPerVector)),
                Vector.Narrow(Gather8(ref src, i + 2 * bytesPerVector), Gather8(ref src, i + 3 * bytesPerVector)));
            Vector<ushort> hi = Vector.Narrow(
                Vector.Narrow(Gather8(ref src, i + 4 * bytesPerVector), Gather8(ref src, i + 5 * bytesPerVector)),
                Vector.Narrow(Gather8(ref src, i + 6 * bytesPerVector), Gather8(ref src, i + 7 * bytesPerVector)));
            Vector.Narrow(lo, hi).StoreUnsafe(ref dst, o);
        }

        return (int)end;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<ulong> Gather8(ref byte src, nuint offset)
        {
            Vector<ulong> x = Vector.LoadUnsafe(ref src, offset).As<byte, ulong>();
            x |= x >> 7;
            x |= x >> 14;
            return x | (x >> 28);
        }
    }

    /// <summary>4-bit: widen each packed byte p to a ushort lane; (p | p &lt;&lt; 4) &amp; 0x0F0F puts the low nibble in byte 0 and the high nibble
    /// in byte 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int UnpackNibblesVector(ref byte src, ref byte dst, int count)
    {
        nuint lanes = (nuint)Vector<ushort>.Count;
        nuint block = (nuint)Vector<byte>.Count * 2;
        nuint end = (nuint)count - (nuint)count % block;
        Vector<ushort> mask = new(0x0F0F);
        for (nuint i = 0, o = 0; o < end; i += block / 2, o += block)
        {
            Vector.Widen(Vector.LoadUnsafe(ref src, i), out Vector<ushort> a, out Vector<ushort> b);
            ((a | (a << 4)) & mask).As<ushort, byte>().StoreUnsafe(ref dst, o);
            ((b | (b << 4)) & mask).As<ushort, byte>().StoreUnsafe(ref dst, o + 2 * lanes);
        }

        return (int)end;
    }

    /// <summary>2-bit: widen each packed byte p to a uint lane; y = p | p &lt;&lt; 12, then (y | y &lt;&lt; 6) &amp; 0x03030303 spreads the four
    /// fields to the four bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int UnpackCrumbsVector(ref byte src, ref byte dst, int count)
    {
        nuint bytesPerVector = (nuint)Vector<byte>.Count;
        nuint block = bytesPerVector * 4;
        nuint end = (nuint)count - (nuint)count % block;
        for (nuint i = 0, o = 0; o < end; i += bytesPerVector, o += block)
        {
            Vector.Widen(Vector.LoadUnsafe(ref src, i), out Vector<ushort> lo, out Vector<ushort> hi);
            Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
            Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
            Spread4(a).StoreUnsafe(ref dst, o);
            Spread4(b).StoreUnsafe(ref dst, o + bytesPerVector);
            Spread4(c).StoreUnsafe(ref dst, o + 2 * bytesPerVector);
            Spread4(d).StoreUnsafe(ref dst, o + 3 * bytesPerVector);
        }

        return (int)end;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<byte> Spread4(Vector<uint> p)
        {
            Vector<uint> y = p | (p << 12);
            return ((y | (y << 6)) & new Vector<uint>(0x0303_0303)).As<uint, byte>();
        }
    }

    /// <summary>1-bit: widen each packed byte to a ulong lane; shift-ORs by 28, 14 and 7 then a 0x01 byte mask put bit i in byte i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int UnpackBitsVector(ref byte src, ref byte dst, int count)
    {
        nuint bytesPerVector = (nuint)Vector<byte>.Count;
        nuint block = bytesPerVector * 8;
        nuint end = (nuint)count - (nuint)count % block;
        for (nuint i = 0, o = 0; o < end; i += bytesPerVector, o += block)
        {
            Vector.Widen(Vector.LoadUnsafe(ref src, i), out Vector<ushort> w0, out Vector<ushort> w1);
            Vector.Widen(w0, out Vector<uint> d0, out Vector<uint> d1);
            Vector.Widen(w1, out Vector<uint> d2, out Vector<uint> d3);
            SpreadPair(d0, ref dst, o);
            SpreadPair(d1, ref dst, o + 2 * bytesPerVector);
            SpreadPair(d2, ref dst, o + 4 * bytesPerVector);
            SpreadPair(d3, ref dst, o + 6 * bytesPerVector);
        }

        return (int)end;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void SpreadPair(Vector<uint> d, ref byte dst, nuint offset)
        {
            Vector.Widen(d, out Vector<ulong> a, out Vector<ulong> b);
            Spread8(a).StoreUnsafe(ref dst, offset);
            Spread8(b).StoreUnsafe(ref dst, offset + (nuint)Vector<byte>.Count);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<byte> Spread8(Vector<ulong> p)
        {
            Vector<ulong> y = p | (p << 28);
            y |= y << 14;
            y |= y << 7;
            return (y & new Vector<ulong>(0x0101_0101_0101_0101)).As<ulong, byte>();
        }
    }

    /// <summary>The bitwise OR of all values: one pass, four independent accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int OrAll(ReadOnlySpan<byte> values)
    {
        ref byte src = ref MemoryMarshal.GetReference(values);
        nuint length = (nuint)values.Length;
        nuint i = 0;
        int result = 0;
        if (Vector.IsHardwareAccelerated)
        {
            nuint step = (nuint)Vector<byte>.Count;
            Vector<byte> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
            for (; i + 4 * step <= length; i += 4 * step)
            {
                acc0 |= Vector.LoadUnsafe(ref src, i);
                acc1 |= Vector.LoadUnsafe(ref src, i + step);
                acc2 |= Vector.LoadUnsafe(ref src, i + 2 * step);
                acc3 |= Vector.LoadUnsafe(ref src, i + 3 * step);
            }

            for (; i + step <= length; i += step)
            {
                acc0 |= Vector.LoadUnsafe(ref src, i);
            }

            Vector<byte> acc = acc0 | acc1 | acc2 | acc3;
            for (int k = 0; k < Vector<byte>.Count; k++)
            {
                result |= acc[k];
            }
        }

        Debug.Assert(i <= length);
        for (; i < length; i++)
        {
            result |= Unsafe.Add(ref src, i);
        }

        return result;
    }
}
