using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// Two weight rows x up to four input rows through the AVX-512 field layout (see LowBitMatMul.Fields.cs), for batches of
// 2 and more. With one weight row per tile every FMA needs its own input load, so loads and FMAs both ran at two per
// cycle and the kernel reached 0.55 of the FMA peak (4096 x 4096 4-bit g64 at batch 8: 148 GFLOP/s, W8A16's tiles
// 206). Two weight rows share each input load: per field two masks and two converts feed eight FMAs from four loads.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// The pairs of rows from <paramref name="start"/> to <paramref name="end"/>, the blocks of <paramref name="slice"/>,
    /// against 2 to 4 input rows from <paramref name="row"/> (missing rows repeat the first and are not stored): adds row
    /// o's scaled block sums to <c>partial[(o - start) * 4..][0..valid)</c> and row o + 1's to the next 4 floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsRowPairs<TBits, TScale, TRows>(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid,
                                                             float* partial)
        where TBits : IBits where TScale : IBlockScale where TRows : IRows
    {
        int bits = TBits.Bits, block = 512 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        nint rowInts = n * bits / 32;
        // Masks in registers (as constants the JIT folds each into its AND as a broadcast load); at 2 bits the register
        // file cannot hold all fifteen beside the sixteen accumulators, and the JIT keeps the rest on the stack.
        Vector512<int> m0 = Vector512.Create((1 << bits) - 1), m1 = m0 << bits, m2 = m0 << (2 * bits), m3 = m0 << (3 * bits);
        Vector512<int> m4 = m0 << (4 * bits), m5 = m0 << (5 * bits), m6 = m0 << (6 * bits), m7 = m0 << (7 * bits), m8 = m0 << (8 * bits);
        Vector512<int> m9 = m0 << (9 * bits), m10 = m0 << (10 * bits), m11 = m0 << (11 * bits), m12 = m0 << (12 * bits), m13 = m0 << (13 * bits),
            m14 = m0 << (14 * bits);
        int full = Math.Min(slice.Last, n / block);
        for (int o = start; o + 1 < end; o += 2)
        {
            PrefetchSliceAhead(in args, in slice, o, end);
            float* sums = partial + (o - start) * 4;
            int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
            float* scales = args.Scales + (nint)o * groups;
            BatchRows(in args, row, valid, (nint)slice.First * block, out float* x0, out float* x1, out float* x2, out float* x3);
            Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default, u0 = default, u1 = default, u2 = default, u3 = default;
            for (int b = slice.First; b < full; b++, x0 += block, x1 += block, x2 += block, x3 += block)
            {
                Vector512<int> v = Vector512.Load(w + b * 16), u = Vector512.Load(w + rowInts + b * 16);
                // The block sums of row o (a) and row o + 1 (c) per input row: eight independent FMA chains.
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
                PairField<Lanes512, Vector512<float>, TRows>(F(v & m0), F(u & m0), x0, x1, x2, x3, 0, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                             ref c2, ref c3);
                OddField<Lanes512, Vector512<float>, TRows>(F(v & m1), F(u & m1), x0, x1, x2, x3, 16, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                            ref c2, ref c3);
                PairField<Lanes512, Vector512<float>, TRows>(F(v & m2), F(u & m2), x0, x1, x2, x3, 32, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                             ref c2, ref c3);
                OddField<Lanes512, Vector512<float>, TRows>(F(v & m3), F(u & m3), x0, x1, x2, x3, 48, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                            ref c2, ref c3);
                PairField<Lanes512, Vector512<float>, TRows>(F(v & m4), F(u & m4), x0, x1, x2, x3, 64, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                             ref c2, ref c3);
                OddField<Lanes512, Vector512<float>, TRows>(F(v & m5), F(u & m5), x0, x1, x2, x3, 80, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                            ref c2, ref c3);
                PairField<Lanes512, Vector512<float>, TRows>(F(v & m6), F(u & m6), x0, x1, x2, x3, 96, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1,
                                                             ref c2, ref c3);
                if (bits == 4)
                {
                    OddField<Lanes512, Vector512<float>, TRows>(F(Avx512F.ShiftRightLogical(v, 28)), F(Avx512F.ShiftRightLogical(u, 28)), x0, x1, x2,
                                                                x3, 112,
                                     ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                }
                else
                {
                    OddField<Lanes512, Vector512<float>, TRows>(F(v & m7), F(u & m7), x0, x1, x2, x3, 112, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                ref c1, ref c2, ref c3);
                    PairField<Lanes512, Vector512<float>, TRows>(F(v & m8), F(u & m8), x0, x1, x2, x3, 128, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                 ref c1, ref c2, ref c3);
                    OddField<Lanes512, Vector512<float>, TRows>(F(v & m9), F(u & m9), x0, x1, x2, x3, 144, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                ref c1, ref c2, ref c3);
                    PairField<Lanes512, Vector512<float>, TRows>(F(v & m10), F(u & m10), x0, x1, x2, x3, 160, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                 ref c1, ref c2, ref c3);
                    OddField<Lanes512, Vector512<float>, TRows>(F(v & m11), F(u & m11), x0, x1, x2, x3, 176, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                ref c1, ref c2, ref c3);
                    PairField<Lanes512, Vector512<float>, TRows>(F(v & m12), F(u & m12), x0, x1, x2, x3, 192, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                 ref c1, ref c2, ref c3);
                    OddField<Lanes512, Vector512<float>, TRows>(F(v & m13), F(u & m13), x0, x1, x2, x3, 208, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                ref c1, ref c2, ref c3);
                    PairField<Lanes512, Vector512<float>, TRows>(F(v & m14), F(u & m14), x0, x1, x2, x3, 224, ref a0, ref a1, ref a2, ref a3, ref c0,
                                                                 ref c1, ref c2, ref c3);
                    OddField<Lanes512, Vector512<float>, TRows>(F(Avx512F.ShiftRightLogical(v, 30)), F(Avx512F.ShiftRightLogical(u, 30)), x0, x1, x2,
                                                                x3, 240,
                                     ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                }

                FoldOddFields<Lanes512, Vector512<float>, TRows>(ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);

                Vector512<float> s = TScale.Load(scales, b, blocksPerGroup), r = TScale.Load(scales + groups, b, blocksPerGroup);
                t0 = Avx512F.FusedMultiplyAdd(a0, s, t0);
                u0 = Avx512F.FusedMultiplyAdd(c0, r, u0);
                if (TRows.Count > 1) { t1 = Avx512F.FusedMultiplyAdd(a1, s, t1); u1 = Avx512F.FusedMultiplyAdd(c1, r, u1); }
                if (TRows.Count > 2) { t2 = Avx512F.FusedMultiplyAdd(a2, s, t2); u2 = Avx512F.FusedMultiplyAdd(c2, r, u2); }
                if (TRows.Count > 3) { t3 = Avx512F.FusedMultiplyAdd(a3, s, t3); u3 = Avx512F.FusedMultiplyAdd(c3, r, u3); }
            }


            // Unused rows summed zeros; the caller ignores their slots.
            (Vector256.Load(sums) + Sum8(t0, t1, t2, t3, u0, u1, u2, u3)).Store(sums);

            // A row's closing half block (see Field512Kernel.Fits): both rows' lanes in one vector.
            if (full < slice.Last) HalfBlockPair<TBits, TScale, TRows>(in args, o, row, valid, groups, sums);
        }
    }

    /// <summary>Masked fields as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> F(Vector512<int> field) => Avx512F.ConvertToVector512Single(field);

    /// <summary>
    /// The closing half blocks (8 lanes, see Field512Kernel.Fits) of rows o and o + 1 against 1 to 4 input rows from
    /// <paramref name="row"/>, both in one 512-bit vector: row o's lanes below, row o + 1's above, each input vector (in
    /// the 8-lane layout) broadcast to both halves. Adds row o's scaled sums to <c>sums[0..valid)</c>, row o + 1's to
    /// <c>sums[4..4 + valid)</c>. Through the 256-bit pair tile a half block cost as many instructions as a whole one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HalfBlockPair<TBits, TScale, TRows>(in KernelArgs args, int o, int row, int valid, int groups, float* sums)
        where TBits : IBits where TScale : IBlockScale where TRows : IRows
    {
        HalfBlockPairSums<TBits, TScale, TRows>(in args, o, row, valid, groups, out Vector512<float> t0, out Vector512<float> t1,
                                                out Vector512<float> t2, out Vector512<float> t3);
        // Unused rows summed zeros; the caller ignores their slots.
        (Vector256.Load(sums) + Sum8(t0.GetLower(), t1.GetLower(), t2.GetLower(), t3.GetLower(), t0.GetUpper(), t1.GetUpper(), t2.GetUpper(),
                                     t3.GetUpper())).Store(sums);
    }

    /// <summary>
    /// The scaled lane sums of <see cref="HalfBlockPair"/>, per input row: row o's in the lower 8 lanes, row o + 1's in the
    /// upper (the one-row GEMV adds them to its totals as they are, without a horizontal sum).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HalfBlockPairSums<TBits, TScale, TRows>(in KernelArgs args, int o, int row, int valid, int groups,
                                                                out Vector512<float> t0, out Vector512<float> t1, out Vector512<float> t2,
                                                                    out Vector512<float> t3)
        where TBits : IBits where TScale : IBlockScale where TRows : IRows
    {
        int bits = TBits.Bits, halfBlock = 256 / bits, n = args.InFeatures, half = n / halfBlock - 1;
        int halvesPerGroup = Math.Max(1, args.GroupSize / halfBlock);
        nint rowBytes = n * bits / 8;
        byte* w = args.Weights + o * rowBytes + half * 32;
        float* scales = args.Scales + (nint)o * groups;
        Vector512<int> v = Vector512.Create(Vector256.Load((int*)w), Vector256.Load((int*)(w + rowBytes)));
        BatchRows(in args, row, valid, (nint)half * halfBlock, out float* x0, out float* x1, out float* x2, out float* x3);
        // Even fields into a, odd into c: eight FMA chains, not four.
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
        HalfField<TRows>(F(v & Mask512(bits, 0)), x0, x1, x2, x3, 0, ref a0, ref a1, ref a2, ref a3);
        HalfField<TRows>(F(v & Mask512(bits, 1)), x0, x1, x2, x3, 8, ref c0, ref c1, ref c2, ref c3);
        SpreadHalfField<TRows>(F(v & Mask512(bits, 2)), x0, x1, x2, x3, 16, ref a0, ref a1, ref a2, ref a3);
        SpreadHalfField<TRows>(F(v & Mask512(bits, 3)), x0, x1, x2, x3, 24, ref c0, ref c1, ref c2, ref c3);
        HalfField<TRows>(F(v & Mask512(bits, 4)), x0, x1, x2, x3, 32, ref a0, ref a1, ref a2, ref a3);
        HalfField<TRows>(F(v & Mask512(bits, 5)), x0, x1, x2, x3, 40, ref c0, ref c1, ref c2, ref c3);
        SpreadHalfField<TRows>(F(v & Mask512(bits, 6)), x0, x1, x2, x3, 48, ref a0, ref a1, ref a2, ref a3);
        if (bits == 4)
        {
            SpreadHalfField<TRows>(F(Avx512F.ShiftRightLogical(v, 28)), x0, x1, x2, x3, 56, ref c0, ref c1, ref c2, ref c3);
        }
        else
        {
            SpreadHalfField<TRows>(F(v & Mask512(bits, 7)), x0, x1, x2, x3, 56, ref c0, ref c1, ref c2, ref c3);
            HalfField<TRows>(F(v & Mask512(bits, 8)), x0, x1, x2, x3, 64, ref a0, ref a1, ref a2, ref a3);
            HalfField<TRows>(F(v & Mask512(bits, 9)), x0, x1, x2, x3, 72, ref c0, ref c1, ref c2, ref c3);
            SpreadHalfField<TRows>(F(v & Mask512(bits, 10)), x0, x1, x2, x3, 80, ref a0, ref a1, ref a2, ref a3);
            SpreadHalfField<TRows>(F(v & Mask512(bits, 11)), x0, x1, x2, x3, 88, ref c0, ref c1, ref c2, ref c3);
            HalfField<TRows>(F(v & Mask512(bits, 12)), x0, x1, x2, x3, 96, ref a0, ref a1, ref a2, ref a3);
            HalfField<TRows>(F(v & Mask512(bits, 13)), x0, x1, x2, x3, 104, ref c0, ref c1, ref c2, ref c3);
            SpreadHalfField<TRows>(F(v & Mask512(bits, 14)), x0, x1, x2, x3, 112, ref a0, ref a1, ref a2, ref a3);
            SpreadHalfField<TRows>(F(Avx512F.ShiftRightLogical(v, 30)), x0, x1, x2, x3, 120, ref c0, ref c1, ref c2, ref c3);
        }

        FoldOddFields<Lanes512, Vector512<float>, TRows>(ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);

        Vector512<float> s = Vector512.Create(TScale.LoadHalf(scales, half, halvesPerGroup), TScale.LoadHalf(scales + groups, half, halvesPerGroup));
        t0 = (a0 + c0) * s;
        t1 = (a1 + c1) * s;
        t2 = (a2 + c2) * s;
        t3 = (a3 + c3) * s;
    }

    /// <summary>
    /// As <see cref="HalfField"/>; with up to two input rows into the accumulators of rows 2 and 3 (added in at the end),
    /// so that even one input row runs four FMA chains: a 384-column row is one block and a half, too short to hide latency.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SpreadHalfField<TRows>(Vector512<float> f, float* x0, float* x1, float* x2, float* x3, int at,
                                               ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
                                                   where TRows : IRows
    {
        if (TRows.Count <= 2) HalfField<TRows>(f, x0, x1, x2, x3, at, ref a2, ref a3, ref a0, ref a1);
        else HalfField<TRows>(f, x0, x1, x2, x3, at, ref a0, ref a1, ref a2, ref a3);
    }

    /// <summary>Field k's mask at <paramref name="bits"/> bits per field (a constant once the JIT knows both).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Mask512(int bits, int k) => Vector512.Create(((1 << bits) - 1) << (bits * k));

    /// <summary>One field of <see cref="HalfBlockPair"/> into the sums of every input row.</summary>
    /// <remarks>
    /// vbroadcastf32x8 (AVX512DQ): .NET 10.0.12 encodes Avx512F.BroadcastVector256ToVector512(double*) with a displacement
    /// at the wrong address (its 8-bit displacement scaled as for 16 bytes, not 32), so fields 1 and up read the wrong inputs.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HalfField<TRows>(Vector512<float> f, float* x0, float* x1, float* x2, float* x3, int at,
                                         ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
                                             where TRows : IRows
    {
        a0 = Avx512F.FusedMultiplyAdd(f, Avx512DQ.BroadcastVector256ToVector512(x0 + at), a0);
        if (TRows.Count > 1) a1 = Avx512F.FusedMultiplyAdd(f, Avx512DQ.BroadcastVector256ToVector512(x1 + at), a1);
        if (TRows.Count > 2) a2 = Avx512F.FusedMultiplyAdd(f, Avx512DQ.BroadcastVector256ToVector512(x2 + at), a2);
        if (TRows.Count > 3) a3 = Avx512F.FusedMultiplyAdd(f, Avx512DQ.BroadcastVector256ToVector512(x3 + at), a3);
    }

    /// <summary>
    /// The zero-point terms <c>sum_g zt_g xsum_g</c> (zt = s z, plus the offset when the layer has offsets) of rows o and
    /// o + 1 against 2 to 4 input rows from <paramref name="row"/>: row o's in <c>c[0..4)</c>, row o + 1's in <c>c[4..8)</c>.
    /// Eight at once, in vectors over the groups: one at a time, a short loop and a horizontal sum each, they took a
    /// tenth of a batch-8 call on 4096 x 4096 and a fifth on 768 x 3072.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PairCorrections(in KernelArgs args, int o, int row, int valid, float* c)
    {
        int groups = args.InFeatures / args.GroupSize, g = 0;
        float* z0 = args.ZeroTerms + (nint)o * groups, z1 = z0 + groups;
        float* x0 = args.GroupSums + (nint)row * groups;
        float* x1 = valid > 1 ? x0 + groups : x0, x2 = valid > 2 ? x1 + groups : x0, x3 = valid > 3 ? x2 + groups : x0;
        Vector512<float> k0 = default, k1 = default, k2 = default, k3 = default, l0 = default, l1 = default, l2 = default, l3 = default;
        // Whole vectors, then the rest as one 8- and one 4-wide piece widened with zeros (groups need not fill a vector:
        // 768 columns in groups of 64 are 12), then at most three one by one. A scalar loop over the rest into c[] ran
        // through memory and took a third of a batch-2 call on 3072 x 768.
        for (; g + 16 <= groups; g += 16)
        {
            CorrectionStep<Lanes512, Vector512<float>>(Vector512.Load(z0 + g), Vector512.Load(z1 + g), Vector512.Load(x0 + g), Vector512.Load(x1 + g),
                                                       Vector512.Load(x2 + g),
                           Vector512.Load(x3 + g), ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2, ref l3);
        }

        if (g + 8 <= groups)
        {
            CorrectionStep<Lanes512, Vector512<float>>(Load8(z0 + g), Load8(z1 + g), Load8(x0 + g),
                           Load8(x1 + g), Load8(x2 + g), Load8(x3 + g),
                           ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2, ref l3);
            g += 8;
        }

        if (g + 4 <= groups)
        {
            CorrectionStep<Lanes512, Vector512<float>>(Load4(z0 + g), Load4(z1 + g), Load4(x0 + g),
                           Load4(x1 + g), Load4(x2 + g), Load4(x3 + g),
                           ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2, ref l3);
            g += 4;
        }

        for (; g < groups; g++)
        {
            CorrectionStep<Lanes512, Vector512<float>>(Vector512.CreateScalar(z0[g]), Vector512.CreateScalar(z1[g]), Vector512.CreateScalar(x0[g]),
                                                       Vector512.CreateScalar(x1[g]),
                           Vector512.CreateScalar(x2[g]), Vector512.CreateScalar(x3[g]), ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2,
                               ref l3);
        }

        Sum8(k0, k1, k2, k3, l0, l1, l2, l3).Store(c);
    }

    /// <summary>Eight floats, the upper lanes zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load8(float* p) => Vector512.Create(Vector256.Load(p), Vector256<float>.Zero);

    /// <summary>Four floats, the upper lanes zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load4(float* p) => Vector512.Create(Vector256.Create(Vector128.Load(p), Vector128<float>.Zero),
                                                                        Vector256<float>.Zero);

    /// <summary>One vector of groups of <see cref="PairCorrections"/>: both rows' zero terms against four input rows' group sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CorrectionStep<TLanes, TV>(TV p, TV q, TV x0, TV x1, TV x2, TV x3,
                                                   ref TV k0, ref TV k1, ref TV k2, ref TV k3, ref TV l0, ref TV l1, ref TV l2, ref TV l3)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        k0 = TLanes.MultiplyAdd(p, x0, k0);
        l0 = TLanes.MultiplyAdd(q, x0, l0);
        k1 = TLanes.MultiplyAdd(p, x1, k1);
        l1 = TLanes.MultiplyAdd(q, x1, l1);
        k2 = TLanes.MultiplyAdd(p, x2, k2);
        l2 = TLanes.MultiplyAdd(q, x2, l2);
        k3 = TLanes.MultiplyAdd(p, x3, k3);
        l3 = TLanes.MultiplyAdd(q, x3, l3);
    }

    /// <summary>
    /// The sums of eight vectors as one vector, in order: a transposing reduction of about 30 instructions where eight
    /// Vector512.Sum calls took about 200, as many as the FMAs of a 1024-column slice at 4 bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sum8(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
                                         Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7)
    {
        // Per 128-bit lane, HorizontalAdd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]; twice over four vectors leaves each
        // vector's partial sums in its own slot of both lanes.
        Vector256<float> s01 = Avx.HorizontalAdd(Halves(v0), Halves(v1)), s23 = Avx.HorizontalAdd(Halves(v2), Halves(v3));
        Vector256<float> s45 = Avx.HorizontalAdd(Halves(v4), Halves(v5)), s67 = Avx.HorizontalAdd(Halves(v6), Halves(v7));
        Vector256<float> low = Avx.HorizontalAdd(s01, s23), high = Avx.HorizontalAdd(s45, s67);
        return Avx.Permute2x128(low, high, 0x20) + Avx.Permute2x128(low, high, 0x31);
    }

    /// <summary>The two 256-bit halves of a vector, added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Halves(Vector512<float> v) => v.GetLower() + v.GetUpper();

    /// <summary>
    /// An odd field: with up to two input rows it goes to the accumulators of rows 2 and 3 (added in at the end of the
    /// block), so that eight FMA chains run, not four: four chains of eight dependent FMAs a block ran at half the FMA rate.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OddField<TLanes, TV, TRows>(TV f, TV g, float* x0, float* x1, float* x2, float* x3, int at,
                                                    ref TV a0, ref TV a1, ref TV a2, ref TV a3, ref TV c0, ref TV c1, ref TV c2, ref TV c3)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged where TRows : IRows
    {
        if (TRows.Count <= 2) PairField<TLanes, TV, TRows>(f, g, x0, x1, x2, x3, at, ref a2, ref a3, ref a0, ref a1, ref c2, ref c3, ref c0, ref c1);
        else PairField<TLanes, TV, TRows>(f, g, x0, x1, x2, x3, at, ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
    }

    /// <summary>
    /// Adds back what <see cref="OddField{TLanes, TV, TRows}"/> (and <see cref="SpreadHalfField{TRows}"/>) put in the
    /// accumulators of rows 2 and 3 when there are at most two input rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FoldOddFields<TLanes, TV, TRows>(ref TV a0, ref TV a1, ref TV a2, ref TV a3, ref TV c0, ref TV c1, ref TV c2, ref TV c3)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged where TRows : IRows
    {
        if (TRows.Count > 2) return;
        a0 = TLanes.Add(a0, a2);
        a1 = TLanes.Add(a1, a3);
        c0 = TLanes.Add(c0, c2);
        c1 = TLanes.Add(c1, c3);
    }

    /// <summary>One field of both weight rows (masked in place and converted: <paramref name="f"/>, <paramref name="g"/>) into the block sums of
    /// every input row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairField<TLanes, TV, TRows>(TV f, TV g, float* x0, float* x1, float* x2, float* x3, int at,
                                                     ref TV a0, ref TV a1, ref TV a2, ref TV a3, ref TV c0, ref TV c1, ref TV c2, ref TV c3)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged where TRows : IRows
    {
        TV x = TLanes.Load(x0 + at);
        a0 = TLanes.MultiplyAdd(f, x, a0);
        c0 = TLanes.MultiplyAdd(g, x, c0);
        if (TRows.Count > 1)
        {
            x = TLanes.Load(x1 + at);
            a1 = TLanes.MultiplyAdd(f, x, a1);
            c1 = TLanes.MultiplyAdd(g, x, c1);
        }

        if (TRows.Count > 2)
        {
            x = TLanes.Load(x2 + at);
            a2 = TLanes.MultiplyAdd(f, x, a2);
            c2 = TLanes.MultiplyAdd(g, x, c2);
        }

        if (TRows.Count > 3)
        {
            x = TLanes.Load(x3 + at);
            a3 = TLanes.MultiplyAdd(f, x, a3);
            c3 = TLanes.MultiplyAdd(g, x, c3);
        }
    }
}
