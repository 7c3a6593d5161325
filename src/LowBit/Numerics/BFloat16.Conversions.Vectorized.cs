using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LowBit;

public readonly partial struct BFloat16
{
    /// <summary>Converts whole blocks of <c>2 * Vector&lt;uint&gt;.Count</c> floats; returns how many were done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int ConvertToBFloat16Vectorized(ReadOnlySpan<float> source, Span<BFloat16> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        ref uint src = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
        ref ushort dst = ref Unsafe.As<BFloat16, ushort>(ref MemoryMarshal.GetReference(destination));
        nuint step = (nuint)Vector<uint>.Count;
        nuint end = (nuint)source.Length - (nuint)source.Length % (2 * step);
        for (nuint i = 0; i < end; i += 2 * step)
        {
            Vector<uint> lo = RoundToBFloat16Bits(Vector.LoadUnsafe(ref src, i));
            Vector<uint> hi = RoundToBFloat16Bits(Vector.LoadUnsafe(ref src, i + step));
            // Narrow keeps the low 16 bits of each lane, which hold the whole result.
            Vector.Narrow(lo, hi).StoreUnsafe(ref dst, i);
        }

        return (int)end;
    }

    /// <summary>Lane-wise <see cref="RoundToBFloat16Bits(uint)"/>; the result is in the low 16 bits of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<uint> RoundToBFloat16Bits(Vector<uint> bits)
    {
        Vector<uint> rounded = (bits + new Vector<uint>(0x7FFF) + ((bits >> 16) & Vector<uint>.One)) >> 16;
        Vector<uint> quietNaN = (bits >> 16) | new Vector<uint>(0x0040);
        Vector<float> asFloat = bits.As<uint, float>();
        Vector<uint> isNaN = ~Vector.Equals(asFloat, asFloat).As<int, uint>();
        return Vector.ConditionalSelect(isNaN, quietNaN, rounded);
    }

    /// <summary>Widens whole blocks of <c>Vector&lt;ushort&gt;.Count</c> values; returns how many were done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static int ConvertToSingleVectorized(ReadOnlySpan<BFloat16> source, Span<float> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        ref ushort src = ref Unsafe.As<BFloat16, ushort>(ref MemoryMarshal.GetReference(source));
        ref uint dst = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
        nuint step = (nuint)Vector<ushort>.Count;
        nuint half = (nuint)Vector<uint>.Count;
        nuint end = (nuint)source.Length - (nuint)source.Length % step;
        for (nuint i = 0; i < end; i += step)
        {
            // float bits = bfloat16 bits << 16.
            Vector.Widen(Vector.LoadUnsafe(ref src, i), out Vector<uint> lo, out Vector<uint> hi);
            (lo << 16).StoreUnsafe(ref dst, i);
            (hi << 16).StoreUnsafe(ref dst, i + half);
        }

        return (int)end;
    }
}
