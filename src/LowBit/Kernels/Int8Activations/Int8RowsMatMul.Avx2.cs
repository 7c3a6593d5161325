using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The Rows8 kernel on CPUs with AVX2 but no AVX-VNNI (AMD Zen 2-4, Intel before Alder Lake): vpmaddubsw (unsigned x
// signed bytes, pairs summed into saturating int16) and vpmaddwd by ones (pairs of int16 into int32) do what one vpdpbusd
// does, so the layout's gain stays: one lane per output row, one convert and one scaled add per block, no horizontal sums.
// Exactness decides how the bytes meet. Per-channel int8 is stored as q + 128, and (q + 128) * x pairs overflow int16,
// so q is restored (xor 0x80) and multiplied as |x| * sign(q, x): pairs of at most 2 * 127 * 127 = 32258, widened to
// int32 after every unit (the block start -128 * sum(xq) of the VNNI kernel is not used). Group-wise fields are unsigned
// and small: each is shifted down and masked (the VNNI kernel's in-place 16 q would overflow here), and a whole block of
// 32 inputs sums in int16 (4-bit: 8 products of at most 2 * 15 * 127, 30480; 2-bit: 8 of at most 762) before one
// vpmaddwd. 8-bit groups (unsigned codes up to 255) would overflow and are left to the row-major kernels.
internal static unsafe partial class Int8RowsMatMul
{
    /// <summary>Int8 activations, AVX2 at 256 bits (vpmaddubsw + vpmaddwd), over <see cref="WeightLayout.Rows8"/>: int8 and 2/4-bit groups.</summary>
    internal sealed class Avx2Kernel() : RowsKernel("int8act-rows8-256", KernelIsa.Avx2,
                                                     WeightFormats.Int8PerChannel | WeightFormats.Group4 | WeightFormats.Group2)
    {
        public override bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format switch
        {
            WeightFormat.Int8PerChannel => &Int8Chunk<Avx2Tiles>,
            WeightFormat.Group4 => &GroupChunk<Avx2Tiles, Int8ActivationMatMul.FourBitCodes>,
            _ => &GroupChunk<Avx2Tiles, Int8ActivationMatMul.TwoBitCodes>,
        };
    }

    private readonly struct Avx2Tiles : ITiles, IBlockSum
    {
        public static void Int8<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector256<float> y0, out Vector256<float> y1,
                                       out Vector256<float> y2, out Vector256<float> y3) where TRows : IRows =>
            Int8TileAvx2<TRows>(w, n, in scratch, b, out y0, out y1, out y2, out y3);

        public static void Group<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
            where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
        {
            if (TRows.Count == 1)
            {
                y0 = GroupGemv<Avx2Tiles, TCodes>(in args, in scratch, b, w, scales, zeroTerms);
                y1 = y2 = y3 = default;
                return;
            }

            GroupTileAvx2<TCodes, TRows>(in args, in scratch, b, w, scales, zeroTerms, out y0, out y1, out y2, out y3);
        }

        /// <summary>
        /// Fields shifted down and masked, in two int16 sums (bounded as the tile's), widened once: the tile's block sum exactly.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sum<TCodes>(byte* w, sbyte* x) where TCodes : Int8ActivationMatMul.ICodes
        {
            Vector256<byte> mask = Vector256.Create((byte)((1 << TCodes.Bits) - 1));
            // Eight fields, field i (shifted down and masked) meeting codes 4i to 4i + 3 (ActivationQuantizer.Arrange).
            Vector256<byte> f0, f1, f2, f3, f4, f5, f6, f7;
            if (TCodes.Bits == 4)
            {
                Vector256<byte> v0 = Vector256.Load(w), v1 = Vector256.Load(w + 32), v2 = Vector256.Load(w + 64), v3 = Vector256.Load(w + 96);
                (f0, f1, f2, f3) = (v0 & mask, High(v0, 4) & mask, v1 & mask, High(v1, 4) & mask);
                (f4, f5, f6, f7) = (v2 & mask, High(v2, 4) & mask, v3 & mask, High(v3, 4) & mask);
            }
            else
            {
                Vector256<byte> v = Vector256.Load(w), u = Vector256.Load(w + 32);
                (f0, f1, f2, f3) = (v & mask, High(v, 2) & mask, High(v, 4) & mask, High(v, 6) & mask);
                (f4, f5, f6, f7) = (u & mask, High(u, 2) & mask, High(u, 4) & mask, High(u, 6) & mask);
            }

            Vector256<short> a0 = (UnsignedDot(f0, x) + UnsignedDot(f2, x + 8)) + (UnsignedDot(f4, x + 16) + UnsignedDot(f6, x + 24));
            Vector256<short> a1 = (UnsignedDot(f1, x + 4) + UnsignedDot(f3, x + 12)) + (UnsignedDot(f5, x + 20) + UnsignedDot(f7, x + 28));
            return Avx2.MultiplyAddAdjacent(a0 + a1, Vector256<short>.One);
        }
    }

    /// <summary>
    /// TRows (1-4) input rows from <paramref name="b"/> against 8 int8 weight rows. One input row alternates its units
    /// between two chains, so two widening sums are in flight.
    /// </summary>
    // Compiled optimized at once, as the VNNI tiles (tier-0 code of a tile runs 10-30x slower for its first ~100 ms).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8TileAvx2<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector256<float> y0, out Vector256<float> y1,
                                            out Vector256<float> y2, out Vector256<float> y3)
        where TRows : IRows
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride;
        bool single = TRows.Count == 1, prefetch = b == 0;
        Vector256<byte> flip = Vector256.Create((byte)0x80);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256;
            if (prefetch) PrefetchAhead(wb, 256);

            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int u = 0; u < 8; u++)
            {
                Vector256<sbyte> q = (Vector256.Load(wb + u * 32) ^ flip).AsSByte();
                nint c = (nint)k * 32 + u * 4;
                if (single)
                {
                    // Two chains: even units into a0, odd into a1.
                    if ((u & 1) == 0) a0 += SignedDot(q, x0 + c);
                    else a1 += SignedDot(q, x0 + c);
                    continue;
                }

                // Several input rows share |q| and give q's sign to their codes: one operation less per row than SignedDot.
                Vector256<byte> magnitude = Avx2.Abs(q);
                a0 += SignedDot(magnitude, q, x0 + c);
                a1 += SignedDot(magnitude, q, x0 + codeStride + c);
                if (TRows.Count > 2) a2 += SignedDot(magnitude, q, x0 + 2 * codeStride + c);
                if (TRows.Count > 3) a3 += SignedDot(magnitude, q, x0 + 3 * codeStride + c);
            }

            if (single)
            {
                f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a0 + a1), Vector256.Create(sx0[k]), f0);
                continue;
            }

            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a0), Vector256.Create(sx0[k]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a1), Vector256.Create(sx0[stride + k]), f1);
            if (TRows.Count > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a2), Vector256.Create(sx0[2 * stride + k]), f2);
            if (TRows.Count > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a3), Vector256.Create(sx0[3 * stride + k]), f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>8 rows' signed codes times 4 activation codes broadcast, as int32 per row: <c>|x| * sign(q, x)</c> keeps each pair in
    /// int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SignedDot(Vector256<sbyte> q, sbyte* codes)
    {
        Vector256<sbyte> x = Vector256.Create(*(int*)codes).AsSByte();
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(q, x)), Vector256<short>.One);
    }

    /// <summary>
    /// TRows (2-4) input rows from <paramref name="b"/> against 8 rows of 2/4-bit groups (one input row:
    /// <see cref="GroupGemv{TSum, TCodes}"/>): per block of 32 inputs each field is shifted down and masked once for all the
    /// input rows, its products summed in int16 and widened once.
    /// </summary>
    // Compiled optimized at once, as the VNNI tiles.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupTileAvx2<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                     out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2,
                                                     out Vector256<float> y3)
        where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
    {
        int n = args.InFeatures, groups = n / args.GroupSize, blocksPerGroup = args.GroupSize / ActivationQuantizer.BlockSize;
        int unitWeights = 32 / TCodes.Bits, units = ActivationQuantizer.BlockSize / unitWeights;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride, g0 = scratch.GroupSums + b * stride;
        bool prefetch = b == 0;
        Vector256<byte> mask = Vector256.Create((byte)((1 << TCodes.Bits) - 1));
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int k = 0;
        for (int g = 0; g < groups; g++)
        {
            Vector256<float> s = GroupScales8(in args, scales, g);
            if (prefetch) PrefetchGroupParameters(scales, zeroTerms, g);

            for (int kb = 0; kb < blocksPerGroup; kb++, k++)
            {
                byte* wb = w + (nint)k * 32 * TCodes.Bits;
                if (prefetch) PrefetchAhead(wb, 32 * TCodes.Bits);

                Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int u = 0; u < units; u++)
                {
                    Vector256<byte> v = Vector256.Load(wb + u * 32);
                    nint c = (nint)k * 32 + u * unitWeights;
                    // Field j of each byte, shifted down and masked, meets the codes arranged at c + 4 j (ActivationQuantizer.Arrange).
                    Accumulate<TRows>(v & mask, x0 + c, codeStride, ref a0, ref a1, ref a2, ref a3);
                    if (TCodes.Bits == 4)
                    {
                        Accumulate<TRows>(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask, x0 + c + 4, codeStride, ref a0, ref a1, ref a2,
                                          ref a3);
                        continue;
                    }

                    Accumulate<TRows>(Avx2.ShiftRightLogical(v.AsUInt16(), 2).AsByte() & mask, x0 + c + 4, codeStride, ref a0, ref a1, ref a2,
                                      ref a3);
                    Accumulate<TRows>(Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask, x0 + c + 8, codeStride, ref a0, ref a1, ref a2,
                                      ref a3);
                    Accumulate<TRows>(Avx2.ShiftRightLogical(v.AsUInt16(), 6).AsByte() & mask, x0 + c + 12, codeStride, ref a0, ref a1, ref a2,
                                      ref a3);
                }

                f0 = Fma.MultiplyAdd(Widen(a0), s * Vector256.Create(sx0[k]), f0);
                if (TRows.Count > 1) f1 = Fma.MultiplyAdd(Widen(a1), s * Vector256.Create(sx0[stride + k]), f1);
                if (TRows.Count > 2) f2 = Fma.MultiplyAdd(Widen(a2), s * Vector256.Create(sx0[2 * stride + k]), f2);
                if (TRows.Count > 3) f3 = Fma.MultiplyAdd(Widen(a3), s * Vector256.Create(sx0[3 * stride + k]), f3);
            }

            SubtractZeroTerms<TRows>(in args, zeroTerms, g, s, g0, stride, ref f0, ref f1, ref f2, ref f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>Each 16-bit lane of <paramref name="v"/> shifted right by <paramref name="bits"/>: the next fields down, to be masked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v, [System.Diagnostics.CodeAnalysis.ConstantExpected] byte bits) =>
        Avx2.ShiftRightLogical(v.AsUInt16(), bits).AsByte();

    /// <summary>One field of 8 weight rows against the codes at <paramref name="codes"/> of each of TRows input rows, into their int16
    /// sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate<TRows>(Vector256<byte> field, sbyte* codes, nint codeStride, ref Vector256<short> a0, ref Vector256<short> a1,
                                          ref Vector256<short> a2, ref Vector256<short> a3) where TRows : IRows
    {
        a0 += UnsignedDot(field, codes);
        if (TRows.Count > 1) a1 += UnsignedDot(field, codes + codeStride);
        if (TRows.Count > 2) a2 += UnsignedDot(field, codes + 2 * codeStride);
        if (TRows.Count > 3) a3 += UnsignedDot(field, codes + 3 * codeStride);
    }

    /// <summary>As <see cref="SignedDot(Vector256{sbyte}, sbyte*)"/> with <c>|q| * sign(x, q)</c>, |q| given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SignedDot(Vector256<byte> magnitude, Vector256<sbyte> q, sbyte* codes)
    {
        Vector256<sbyte> x = Vector256.Create(*(int*)codes).AsSByte();
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(magnitude, Avx2.Sign(x, q)), Vector256<short>.One);
    }

    /// <summary>8 rows' unsigned fields times 4 activation codes broadcast: pairs of products in int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> UnsignedDot(Vector256<byte> field, sbyte* codes) =>
        Avx2.MultiplyAddAdjacent(field, Vector256.Create(*(int*)codes).AsSByte());

    /// <summary>A block's int16 pair sums as one float per row (int32 first: exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<short> pairs) =>
        Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256<short>.One));
}
