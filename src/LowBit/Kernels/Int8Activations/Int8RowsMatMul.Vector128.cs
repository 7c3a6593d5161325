using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The Rows8 kernel at 128 bits, for CPUs with neither AVX2 nor AVX-VNNI: SSSE3 (pmaddubsw + pmaddwd, as the AVX2
// kernel), Arm64 with the dot-product extension (sdot: signed bytes x signed bytes into int32, one instruction per 4
// products) and plain Arm64 NEON (widening multiplies and pairwise adds). A unit of the layout is 32 bytes, 4 bytes of
// each of 8 rows; a 128-bit vector holds half of it (rows 0-3 or 4-7), so each tile runs twice, once per half, and
// the halves meet as one 8-row result. Per half a tile needs one integer and one float sum per input row: 4 input rows
// fit SSE's 16 registers with the weight and code vectors, where both halves at once would spill. The first pass over
// a group of rows (input rows 0-3) fetches the weights ahead, whatever its number of input rows: the half-unit reads
// left the hardware prefetcher behind from DRAM (int8 11008x4096 batch 8: 1.08x int8act-128 without, 1.26x with).
// Exactness as in the AVX2 kernel: int8 restored from q + 128 and multiplied as |q| * sign(x, q) on SSSE3 (sdot takes
// both signs); 2/4-bit fields shifted down and masked, a block of 32 inputs summed in int16 on SSSE3 and widened once
// (sdot and the NEON products widen as they go). 8-bit groups (unsigned codes up to 255) fit neither int16 sums nor
// sdot's signed bytes and stay on the row-major kernels.
internal static unsafe partial class Int8RowsMatMul
{
    /// <summary>Int8 activations at 128 bits (SSSE3, Arm64 sdot, NEON) over <see cref="WeightLayout.Rows8"/>: int8 and 2/4-bit groups.</summary>
    internal sealed class Vector128Kernel() : RowsKernel("int8act-rows8-128", KernelIsa.Vector128,
                                                          WeightFormats.Int8PerChannel | WeightFormats.Group4 | WeightFormats.Group2)
    {
        public override bool IsSupported => Vector128.IsHardwareAccelerated && (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format switch
        {
            WeightFormat.Int8PerChannel => &Int8Chunk<Tiles128>,
            WeightFormat.Group4 => &GroupChunk<Tiles128, Int8ActivationMatMul.FourBitCodes>,
            _ => &GroupChunk<Tiles128, Int8ActivationMatMul.TwoBitCodes>,
        };
    }

    private readonly struct Tiles128 : ITiles
    {
        public static void Int8<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector256<float> y0, out Vector256<float> y1,
                                       out Vector256<float> y2, out Vector256<float> y3) where TRows : IRows
        {
            Int8Half<TRows>(w, n, in scratch, b, out Vector128<float> l0, out Vector128<float> l1, out Vector128<float> l2, out Vector128<float> l3);
            Int8Half<TRows>(w + 16, n, in scratch, b, out Vector128<float> h0, out Vector128<float> h1, out Vector128<float> h2,
                            out Vector128<float> h3);
            y0 = Vector256.Create(l0, h0);
            y1 = Vector256.Create(l1, h1);
            y2 = Vector256.Create(l2, h2);
            y3 = Vector256.Create(l3, h3);
        }

        public static void Group<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
            where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
        {
            GroupHalf<TCodes, TRows>(in args, in scratch, b, w, scales, zeroTerms, 0, out Vector128<float> l0, out Vector128<float> l1,
                                     out Vector128<float> l2, out Vector128<float> l3);
            GroupHalf<TCodes, TRows>(in args, in scratch, b, w, scales, zeroTerms, 1, out Vector128<float> h0, out Vector128<float> h1,
                                     out Vector128<float> h2, out Vector128<float> h3);
            y0 = Vector256.Create(l0, h0);
            y1 = Vector256.Create(l1, h1);
            y2 = Vector256.Create(l2, h2);
            y3 = Vector256.Create(l3, h3);
        }
    }

    /// <summary>
    /// TRows (1-4) input rows from <paramref name="b"/> against 4 int8 weight rows (one half of each unit, from
    /// <paramref name="w"/>). One input row alternates its units between two chains (sdot accumulates in place).
    /// </summary>
    // Compiled optimized at once, as the 256-bit tiles (tier-0 code of a tile runs 10-30x slower for its first ~100 ms).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8Half<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector128<float> y0, out Vector128<float> y1,
                                        out Vector128<float> y2, out Vector128<float> y3)
        where TRows : IRows
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride;
        bool single = TRows.Count == 1, prefetch = b == 0;
        Vector128<byte> flip = Vector128.Create((byte)0x80);
        Vector128<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256;
            if (prefetch) PrefetchAhead(wb, 256);

            Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int u = 0; u < 8; u++)
            {
                Vector128<sbyte> q = (Vector128.Load(wb + u * 32) ^ flip).AsSByte();
                Vector128<byte> magnitude = Dot128.AbsBytes(q.AsByte());
                nint c = (nint)k * 32 + u * 4;
                if (single)
                {
                    if ((u & 1) == 0) a0 = SignedDot(a0, magnitude, q, x0 + c);
                    else a1 = SignedDot(a1, magnitude, q, x0 + c);
                    continue;
                }

                a0 = SignedDot(a0, magnitude, q, x0 + c);
                a1 = SignedDot(a1, magnitude, q, x0 + codeStride + c);
                if (TRows.Count > 2) a2 = SignedDot(a2, magnitude, q, x0 + 2 * codeStride + c);
                if (TRows.Count > 3) a3 = SignedDot(a3, magnitude, q, x0 + 3 * codeStride + c);
            }

            if (single)
            {
                f0 = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(a0 + a1), Vector128.Create(sx0[k]), f0);
                continue;
            }

            f0 = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(a0), Vector128.Create(sx0[k]), f0);
            f1 = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(a1), Vector128.Create(sx0[stride + k]), f1);
            if (TRows.Count > 2) f2 = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(a2), Vector128.Create(sx0[2 * stride + k]), f2);
            if (TRows.Count > 3) f3 = Vector128.MultiplyAddEstimate(Vector128.ConvertToSingle(a3), Vector128.Create(sx0[3 * stride + k]), f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>
    /// TRows (1-4) input rows from <paramref name="b"/> against half <paramref name="half"/> (rows 0-3 or 4-7) of 8 rows of
    /// 2/4-bit groups: each field shifted down and masked once for all the input rows. One input row puts even and odd
    /// fields into two chains.
    /// </summary>
    // Compiled optimized at once, as the 256-bit tiles.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupHalf<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms, int half,
                                                 out Vector128<float> y0, out Vector128<float> y1, out Vector128<float> y2, out Vector128<float> y3)
        where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
    {
        int n = args.InFeatures, groups = n / args.GroupSize, blocksPerGroup = args.GroupSize / ActivationQuantizer.BlockSize;
        int unitWeights = 32 / TCodes.Bits, units = ActivationQuantizer.BlockSize / unitWeights, lane = half * 4;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride, g0 = scratch.GroupSums + b * stride;
        bool single = TRows.Count == 1, offsets = args.Offsets is not null, prefetch = b == 0;
        byte* codes = w + half * 16;
        Vector128<byte> mask = Vector128.Create((byte)((1 << TCodes.Bits) - 1));
        Vector128<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int k = 0;
        for (int g = 0; g < groups; g++)
        {
            Vector128<float> s = args.Parameters.HalfScales ? Halves128(*(long*)((short*)scales + g * RowInterleave.Rows + lane))
                : Vector128.Load(scales + g * RowInterleave.Rows + lane);
            if (prefetch) PrefetchGroupParameters(scales, zeroTerms, g);

            for (int kb = 0; kb < blocksPerGroup; kb++, k++)
            {
                byte* wb = codes + (nint)k * 32 * TCodes.Bits;
                if (prefetch) PrefetchAhead(wb, 32 * TCodes.Bits);

                Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int u = 0; u < units; u++)
                {
                    Vector128<byte> v = Vector128.Load(wb + u * 32);
                    nint c = (nint)k * 32 + u * unitWeights;
                    // Field j of each byte, shifted down and masked, meets the codes arranged at c + 4 j (ActivationQuantizer.Arrange);
                    // with one input row the odd fields go to chain a1.
                    Accumulate<TRows>(v & mask, x0 + c, codeStride, ref a0, ref a1, ref a2, ref a3);
                    if (TCodes.Bits == 4)
                    {
                        Vector128<byte> high = Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
                        if (single) a1 = FieldDot(a1, high, x0 + c + 4);
                        else Accumulate<TRows>(high, x0 + c + 4, codeStride, ref a0, ref a1, ref a2, ref a3);
                        continue;
                    }

                    Vector128<byte> f1w = Vector128.ShiftRightLogical(v.AsUInt16(), 2).AsByte() & mask;
                    Vector128<byte> f2w = Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;
                    Vector128<byte> f3w = Vector128.ShiftRightLogical(v.AsUInt16(), 6).AsByte() & mask;
                    if (single)
                    {
                        a1 = FieldDot(a1, f1w, x0 + c + 4);
                        a0 = FieldDot(a0, f2w, x0 + c + 8);
                        a1 = FieldDot(a1, f3w, x0 + c + 12);
                        continue;
                    }

                    Accumulate<TRows>(f1w, x0 + c + 4, codeStride, ref a0, ref a1, ref a2, ref a3);
                    Accumulate<TRows>(f2w, x0 + c + 8, codeStride, ref a0, ref a1, ref a2, ref a3);
                    Accumulate<TRows>(f3w, x0 + c + 12, codeStride, ref a0, ref a1, ref a2, ref a3);
                }

                if (single)
                {
                    f0 = Vector128.MultiplyAddEstimate(BlockSum(AddFieldSums(a0, a1)), s * Vector128.Create(sx0[k]), f0);
                    continue;
                }

                f0 = Vector128.MultiplyAddEstimate(BlockSum(a0), s * Vector128.Create(sx0[k]), f0);
                f1 = Vector128.MultiplyAddEstimate(BlockSum(a1), s * Vector128.Create(sx0[stride + k]), f1);
                if (TRows.Count > 2) f2 = Vector128.MultiplyAddEstimate(BlockSum(a2), s * Vector128.Create(sx0[2 * stride + k]), f2);
                if (TRows.Count > 3) f3 = Vector128.MultiplyAddEstimate(BlockSum(a3), s * Vector128.Create(sx0[3 * stride + k]), f3);
            }

            // The zero terms: s z + offset (floats), or s times the zero-point bytes, times each input row's code sum of the group.
            Vector128<float> z = offsets ? Vector128.Load(zeroTerms + g * RowInterleave.Rows + lane)
                : args.Parameters.OneZeroPoint ? s * Vector128.Create((float)args.Parameters.ZeroPoint)
                : s * Dot128.LoadBytesAsSingle((byte*)zeroTerms + g * RowInterleave.Rows + lane).AsSingle();
            z = -z;
            f0 = Vector128.MultiplyAddEstimate(z, Vector128.Create(g0[g]), f0);
            if (TRows.Count > 1) f1 = Vector128.MultiplyAddEstimate(z, Vector128.Create(g0[stride + g]), f1);
            if (TRows.Count > 2) f2 = Vector128.MultiplyAddEstimate(z, Vector128.Create(g0[2 * stride + g]), f2);
            if (TRows.Count > 3) f3 = Vector128.MultiplyAddEstimate(z, Vector128.Create(g0[3 * stride + g]), f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>One field of 4 weight rows against the codes at <paramref name="codes"/> of each of TRows input rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate<TRows>(Vector128<byte> field, sbyte* codes, nint codeStride, ref Vector128<int> a0, ref Vector128<int> a1,
                                          ref Vector128<int> a2, ref Vector128<int> a3) where TRows : IRows
    {
        a0 = FieldDot(a0, field, codes);
        if (TRows.Count > 1) a1 = FieldDot(a1, field, codes + codeStride);
        if (TRows.Count > 2) a2 = FieldDot(a2, field, codes + 2 * codeStride);
        if (TRows.Count > 3) a3 = FieldDot(a3, field, codes + 3 * codeStride);
    }

    /// <summary>4 rows' signed codes times 4 activation codes broadcast, added to the rows' int32 lanes (exact):
    /// <see cref="Dot128.DotInt8"/>, |q| given (<see cref="Dot128.AbsBytes"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> SignedDot(Vector128<int> acc, Vector128<byte> magnitude, Vector128<sbyte> q, sbyte* codes) =>
        Dot128.DotInt8(acc.AsByte(), q.AsByte(), magnitude, Vector128.Create(*(int*)codes).AsByte()).AsInt32();

    /// <summary>
    /// 4 rows' unsigned fields (at most 15) times 4 activation codes broadcast, added to the rows' sums: int32 lanes on
    /// Arm64, int16 pair sums on SSSE3 (widened once per block by <see cref="BlockSum"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> FieldDot(Vector128<int> acc, Vector128<byte> field, sbyte* codes)
    {
        Vector128<sbyte> x = Vector128.Create(*(int*)codes).AsSByte();
        if (Dp.IsSupported) return Dp.DotProduct(acc, field.AsSByte(), x);   // fields 0..15 are valid signed bytes
        if (AdvSimd.Arm64.IsSupported) return acc + Dot128.SignedProducts(field.AsSByte(), x);
        return (acc.AsInt16() + Ssse3.MultiplyAddAdjacent(field, x)).AsInt32();
    }

    /// <summary>Two chains of <see cref="FieldDot"/> sums as one (int16 lanes on SSSE3, int32 on Arm64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> AddFieldSums(Vector128<int> a, Vector128<int> b) =>
        Ssse3.IsSupported ? (a.AsInt16() + b.AsInt16()).AsInt32() : a + b;

    /// <summary>A block's <see cref="FieldDot"/> sums as one float per row (int32 first: exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> BlockSum(Vector128<int> sums) =>
        Vector128.ConvertToSingle(Ssse3.IsSupported ? Sse2.MultiplyAddAdjacent(sums.AsInt16(), Vector128<short>.One) : sums);
}
