using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The field kernels' 2 x 4 tiles (batch 2 and up), and how a block's scales are spread over its lanes (IBlockScale).
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// Row o, blocks <paramref name="first"/> to <paramref name="last"/>, against 2 or 4 input rows from <paramref name="row"/>
    /// (missing rows repeat the first and are not stored); adds each row's scaled block sums to <paramref name="sums"/>.
    /// Each field is masked and converted once and feeds every input row, so the converts are shared.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsRows<TBits, TScale, TRows>(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        where TBits : IBits where TScale : IBlockScale where TRows : IRows
    {
        int bits = TBits.Bits, block = 512 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, row, valid, (nint)first * block, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
        // The masks live in registers: as constants the JIT folds each into its AND as a broadcast load, 15 extra loads
        // per 64 bytes at 2 bits (measured 2-3% faster with the weights in cache, no change streaming them).
        Vector512<int> m0 = Vector512.Create((1 << args.Bits) - 1), m1 = m0 << bits, m2 = m0 << (2 * bits), m3 = m0 << (3 * bits);
        Vector512<int> m4 = m0 << (4 * bits), m5 = m0 << (5 * bits), m6 = m0 << (6 * bits), m7 = m0 << (7 * bits), m8 = m0 << (8 * bits);
        Vector512<int> m9 = m0 << (9 * bits), m10 = m0 << (10 * bits), m11 = m0 << (11 * bits), m12 = m0 << (12 * bits), m13 = m0 << (13 * bits),
            m14 = m0 << (14 * bits);
        for (int b = first; b < last; b++, x0 += block, x1 += block, x2 += block, x3 += block)
        {
            Vector512<int> v = Vector512.Load(w + b * 16);
            // Two accumulators per input row (even and odd fields) halve the FMA chains of a block.
            Vector512<float> f, a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
            // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
            f = Avx512F.ConvertToVector512Single(v & m0);
            a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 0), a0);
            if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 0), a1);
            if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 0), a2);
            if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 0), a3);
            f = Avx512F.ConvertToVector512Single(v & m1);
            c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 16), c0);
            if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 16), c1);
            if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 16), c2);
            if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 16), c3);
            f = Avx512F.ConvertToVector512Single(v & m2);
            a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 32), a0);
            if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 32), a1);
            if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 32), a2);
            if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 32), a3);
            f = Avx512F.ConvertToVector512Single(v & m3);
            c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 48), c0);
            if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 48), c1);
            if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 48), c2);
            if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 48), c3);
            f = Avx512F.ConvertToVector512Single(v & m4);
            a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 64), a0);
            if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 64), a1);
            if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 64), a2);
            if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 64), a3);
            f = Avx512F.ConvertToVector512Single(v & m5);
            c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 80), c0);
            if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 80), c1);
            if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 80), c2);
            if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 80), c3);
            f = Avx512F.ConvertToVector512Single(v & m6);
            a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 96), a0);
            if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 96), a1);
            if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 96), a2);
            if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 96), a3);
            if (bits == 4)
            {
                f = Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 28));
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 112), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 112), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 112), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 112), c3);
            }
            else
            {
                f = Avx512F.ConvertToVector512Single(v & m7);
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 112), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 112), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 112), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 112), c3);
                f = Avx512F.ConvertToVector512Single(v & m8);
                a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 128), a0);
                if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 128), a1);
                if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 128), a2);
                if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 128), a3);
                f = Avx512F.ConvertToVector512Single(v & m9);
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 144), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 144), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 144), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 144), c3);
                f = Avx512F.ConvertToVector512Single(v & m10);
                a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 160), a0);
                if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 160), a1);
                if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 160), a2);
                if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 160), a3);
                f = Avx512F.ConvertToVector512Single(v & m11);
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 176), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 176), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 176), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 176), c3);
                f = Avx512F.ConvertToVector512Single(v & m12);
                a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 192), a0);
                if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 192), a1);
                if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 192), a2);
                if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 192), a3);
                f = Avx512F.ConvertToVector512Single(v & m13);
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 208), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 208), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 208), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 208), c3);
                f = Avx512F.ConvertToVector512Single(v & m14);
                a0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 224), a0);
                if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 224), a1);
                if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 224), a2);
                if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 224), a3);
                f = Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 30));
                c0 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x0 + 240), c0);
                if (TRows.Count > 1) c1 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x1 + 240), c1);
                if (TRows.Count > 2) c2 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x2 + 240), c2);
                if (TRows.Count > 3) c3 = Avx512F.FusedMultiplyAdd(f, Vector512.Load(x3 + 240), c3);
            }

            Vector512<float> scale = TScale.Load(scales, b, blocksPerGroup);
            t0 = Avx512F.FusedMultiplyAdd(a0 + c0, scale, t0);
            if (TRows.Count > 1) t1 = Avx512F.FusedMultiplyAdd(a1 + c1, scale, t1);
            if (TRows.Count > 2) t2 = Avx512F.FusedMultiplyAdd(a2 + c2, scale, t2);
            if (TRows.Count > 3) t3 = Avx512F.FusedMultiplyAdd(a3 + c3, scale, t3);
        }

        sums[0] += Vector512.Sum(t0);
        if (TRows.Count > 1) sums[1] += Vector512.Sum(t1);
        if (TRows.Count > 2) sums[2] += Vector512.Sum(t2);
        if (TRows.Count > 3) sums[3] += Vector512.Sum(t3);
    }

    /// <summary>The scales of block b, one per lane: lanes that share a group share its scale.</summary>
    private interface IBlockScale
    {
        static abstract Vector512<float> Load(float* scales, int b, int blocksPerGroup);

        /// <summary>
        /// The scales of half block b (8 lanes; b and <paramref name="blocksPerGroup"/> count half blocks): a row whose
        /// length is an odd number of half blocks ends in one, which the 256-bit tile sums (see <see cref="HalfBlockScale{TScale}"/>).
        /// </summary>
        static abstract Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup);
    }

    /// <summary>The half-block scales of an AVX-512 scale layout, as the 256-bit field tiles take them.</summary>
    private readonly struct HalfBlockScale<TScale> : IBlockScale256 where TScale : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) => TScale.LoadHalf(scales, b, blocksPerGroup);
    }

    /// <summary>A group spans one block or more: one scale.</summary>
    private readonly struct ScalePerBlock : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) => Vector512.Create(scales[b / blocksPerGroup]);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup) => Scale256PerBlock.Load(scales, b, blocksPerGroup);
    }

    /// <summary>Two groups per block, 8 lanes each: one 8-byte broadcast and one permute (two 256-bit inserts would chain through the
    /// register).</summary>
    private readonly struct ScalePer8Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx512F.PermuteVar16x32(Vector512.Create(*(double*)(scales + 2 * b)).AsSingle(), Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
                                                                                                              1, 1, 1));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup) => Scale256PerBlock.Load(scales, b, blocksPerGroup);
    }

    /// <summary>Four groups per block, 4 lanes each.</summary>
    private readonly struct ScalePer4Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx512F.PermuteVar16x32(Avx512F.BroadcastVector128ToVector512(scales + 4 * b), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3,
                                                                                                            3, 3));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup) => Scale256Per4Lanes.Load(scales, b, blocksPerGroup);
    }

    /// <summary>Eight groups per block, 2 lanes each.</summary>
    private readonly struct ScalePer2Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx512F.PermuteVar16x32(Vector256.Load(scales + 8 * b).ToVector512Unsafe(), Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7,
                                                                                                         7));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup) => Scale256Per2Lanes.Load(scales, b, blocksPerGroup);
    }

    /// <summary>Sixteen groups per block: a group per lane.</summary>
    private readonly struct ScalePerLane : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) => Vector512.Load(scales + 16 * b);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup) => Scale256PerLane.Load(scales, b, blocksPerGroup);
    }
}
