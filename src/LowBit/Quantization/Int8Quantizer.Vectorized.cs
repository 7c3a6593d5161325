using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LowBit.Internal;

namespace LowBit;

public static partial class Int8Quantizer
{
    /// <summary>
    /// max |w| over a row, computed on the raw bits: clearing the sign bit leaves an integer whose
    /// order is the order of |w| for finite values, and every NaN or infinity compares at or above
    /// the all-ones exponent. Returns +infinity when the row holds a non-finite value.
    /// </summary>
    internal static float MaxAbsOrNonFinite<T>(ReadOnlySpan<T> row)
    {
        if (typeof(T) == typeof(float))
        {
            uint bits = MaxMaskedBits(SpanCast.As<T, uint>(row), 0x7FFF_FFFFu);
            return bits >= 0x7F80_0000u ? float.PositiveInfinity : BitConverter.UInt32BitsToSingle(bits);
        }

        if (typeof(T) == typeof(Half))
        {
            ushort bits = MaxMaskedBits(SpanCast.As<T, ushort>(row), (ushort)0x7FFF);
            return bits >= 0x7C00 ? float.PositiveInfinity : (float)BitConverter.UInt16BitsToHalf(bits);
        }

        ushort b = MaxMaskedBits(SpanCast.As<T, ushort>(row), (ushort)0x7FFF);
        return b >= 0x7F80 ? float.PositiveInfinity : BFloat16.FromBits(b);
    }

    /// <summary>max over <c>values[i] &amp; mask</c>, unsigned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    private static TBits MaxMaskedBits<TBits>(ReadOnlySpan<TBits> values, TBits mask)
        where TBits : unmanaged, IBinaryInteger<TBits>, IUnsignedNumber<TBits>
    {
        ref TBits src = ref MemoryMarshal.GetReference(values);
        nuint length = (nuint)values.Length;
        nuint i = 0;
        TBits max = TBits.Zero;
        if (Vector.IsHardwareAccelerated && length >= (nuint)Vector<TBits>.Count)
        {
            nuint step = (nuint)Vector<TBits>.Count;
            Vector<TBits> vmask = new(mask);
            Vector<TBits> m0 = Vector<TBits>.Zero, m1 = Vector<TBits>.Zero;
            for (; i + 2 * step <= length; i += 2 * step)
            {
                m0 = Vector.Max(m0, Vector.LoadUnsafe(ref src, i) & vmask);
                m1 = Vector.Max(m1, Vector.LoadUnsafe(ref src, i + step) & vmask);
            }

            for (; i + step <= length; i += step)
            {
                m0 = Vector.Max(m0, Vector.LoadUnsafe(ref src, i) & vmask);
            }

            // The last (possibly overlapping) vector: max is idempotent, so re-reading is harmless.
            m0 = Vector.Max(m0, Vector.LoadUnsafe(ref src, length - step) & vmask);
            Vector<TBits> m = Vector.Max(m0, m1);
            for (int k = 0; k < Vector<TBits>.Count; k++)
            {
                max = TBits.Max(max, m[k]);
            }

            return max;
        }

        for (; i < length; i++)
        {
            max = TBits.Max(max, Unsafe.Add(ref src, i) & mask);
        }

        return max;
    }

    /// <summary>Quantizes one row of floats with scale <paramref name="s"/> (codes 0 when s is 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    internal static void QuantizeRow(ReadOnlySpan<float> row, float s, Span<sbyte> destination)
    {
        if (s == 0)
        {
            destination[..row.Length].Clear();
            return;
        }

        int done = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref float src = ref MemoryMarshal.GetReference(row);
            ref sbyte dst = ref MemoryMarshal.GetReference(destination);
            nuint lanes = (nuint)Vector<float>.Count;
            nuint block = 4 * lanes;
            nuint end = (nuint)row.Length - (nuint)row.Length % block;
            Vector<float> scale = new(s);
            for (nuint i = 0; i < end; i += block)
            {
                Vector<int> q0 = Code(Vector.LoadUnsafe(ref src, i), scale);
                Vector<int> q1 = Code(Vector.LoadUnsafe(ref src, i + lanes), scale);
                Vector<int> q2 = Code(Vector.LoadUnsafe(ref src, i + 2 * lanes), scale);
                Vector<int> q3 = Code(Vector.LoadUnsafe(ref src, i + 3 * lanes), scale);
                // Codes are already in [-127, 127], so the truncating narrows are exact.
                Vector.Narrow(Vector.Narrow(q0, q1), Vector.Narrow(q2, q3)).StoreUnsafe(ref dst, i);
            }

            done = (int)end;
        }

        for (int i = done; i < row.Length; i++)
        {
            destination[i] = QuantizeScalar(row[i], s);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<int> Code(Vector<float> w, Vector<float> scale)
        {
            // IEEE division (not a multiply by 1/s) so every lane equals the scalar reference.
            Vector<float> q = Vector.Round(w / scale);
            q = Vector.Min(Vector.Max(q, new Vector<float>(-MaxCode)), new Vector<float>(MaxCode));
            return Vector.ConvertToInt32(q);
        }
    }

    /// <summary>One row of <c>q * s</c> in float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // full optimization from the first call: no slow tier-0 loop
    internal static void DequantizeRow(ReadOnlySpan<sbyte> codes, float s, Span<float> destination)
    {
        int done = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref sbyte src = ref MemoryMarshal.GetReference(codes);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            nuint lanes = (nuint)Vector<float>.Count;
            nuint block = (nuint)Vector<sbyte>.Count;
            nuint end = (nuint)codes.Length - (nuint)codes.Length % block;
            Vector<float> scale = new(s);
            for (nuint i = 0; i < end; i += block)
            {
                Vector.Widen(Vector.LoadUnsafe(ref src, i), out Vector<short> lo, out Vector<short> hi);
                Vector.Widen(lo, out Vector<int> a, out Vector<int> b);
                Vector.Widen(hi, out Vector<int> c, out Vector<int> d);
                (Vector.ConvertToSingle(a) * scale).StoreUnsafe(ref dst, i);
                (Vector.ConvertToSingle(b) * scale).StoreUnsafe(ref dst, i + lanes);
                (Vector.ConvertToSingle(c) * scale).StoreUnsafe(ref dst, i + 2 * lanes);
                (Vector.ConvertToSingle(d) * scale).StoreUnsafe(ref dst, i + 3 * lanes);
            }

            done = (int)end;
        }

        for (int i = done; i < codes.Length; i++)
        {
            destination[i] = codes[i] * s;
        }
    }
}
