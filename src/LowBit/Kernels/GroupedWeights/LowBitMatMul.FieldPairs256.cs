using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The 2 x 4 field tile (LowBitMatMul.FieldPairs.cs) on AVX2. Sixteen registers cannot hold eight block sums and eight
// scaled totals: the totals wait in L1 (one load, FMA and store per output and block, a ninth of the FMAs at 4 bits),
// and the masks are memory operands. One weight row x four input rows ran four FMA chains of eight dependent FMAs per
// block (latency-bound: 76-83 GFLOP/s of 135 on Zen 5 with AVX-512 off) and loaded an input vector per FMA.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// The pairs of rows from <paramref name="start"/> to <paramref name="end"/>, the blocks of <paramref name="slice"/>,
    /// against 2 to 4 input rows from <paramref name="row"/>, on 256-bit vectors: row o's scaled block sums are added to
    /// <c>partial[(o - start) * 4..][0..valid)</c>, row o + 1's to the next 4 floats.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsRowPairs256<TBits, TScale, TRows>(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid,
                                                                float* partial)
        where TBits : IBits where TScale : IBlockScale256 where TRows : IRows
    {
        int bits = TBits.Bits, block = 256 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        nint rowInts = n * bits / 32;
        // The scaled totals: row o against input rows 0-3, then row o + 1.
        Vector256<float>* totals = stackalloc Vector256<float>[8];
        for (int o = start; o + 1 < end; o += 2)
        {
            PrefetchSliceAhead(in args, in slice, o, end);
            float* sums = partial + (o - start) * 4;
            int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
            float* scales = args.Scales + (nint)o * groups;
            BatchRows(in args, row, valid, (nint)slice.First * block, out float* x0, out float* x1, out float* x2, out float* x3);
            for (int k = 0; k < 8; k++) totals[k] = default;
            for (int b = slice.First; b < slice.Last; b++, x0 += block, x1 += block, x2 += block, x3 += block)
            {
                Vector256<int> v = Vector256.Load(w + b * 8), u = Vector256.Load(w + rowInts + b * 8);
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
                PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 0)), F(u & Mask256(bits, 0)), x0, x1, x2, x3, 0, ref a0, ref a1,
                                                             ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 1)), F(u & Mask256(bits, 1)), x0, x1, x2, x3, 8, ref a0, ref a1,
                                                            ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 2)), F(u & Mask256(bits, 2)), x0, x1, x2, x3, 16, ref a0, ref a1,
                                                             ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 3)), F(u & Mask256(bits, 3)), x0, x1, x2, x3, 24, ref a0, ref a1,
                                                            ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 4)), F(u & Mask256(bits, 4)), x0, x1, x2, x3, 32, ref a0, ref a1,
                                                             ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 5)), F(u & Mask256(bits, 5)), x0, x1, x2, x3, 40, ref a0, ref a1,
                                                            ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 6)), F(u & Mask256(bits, 6)), x0, x1, x2, x3, 48, ref a0, ref a1,
                                                             ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                if (bits == 4)
                {
                    OddField<Lanes256, Vector256<float>, TRows>(F(Avx2.ShiftRightLogical(v, 28)), F(Avx2.ShiftRightLogical(u, 28)), x0, x1, x2, x3,
                                                                56,
                                       ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                }
                else
                {
                    OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 7)), F(u & Mask256(bits, 7)), x0, x1, x2, x3, 56, ref a0, ref a1,
                                                                ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 8)), F(u & Mask256(bits, 8)), x0, x1, x2, x3, 64, ref a0, ref a1,
                                                                 ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 9)), F(u & Mask256(bits, 9)), x0, x1, x2, x3, 72, ref a0, ref a1,
                                                                ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 10)), F(u & Mask256(bits, 10)), x0, x1, x2, x3, 80, ref a0,
                                                                 ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 11)), F(u & Mask256(bits, 11)), x0, x1, x2, x3, 88, ref a0,
                                                                ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 12)), F(u & Mask256(bits, 12)), x0, x1, x2, x3, 96, ref a0,
                                                                 ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    OddField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 13)), F(u & Mask256(bits, 13)), x0, x1, x2, x3, 104, ref a0,
                                                                ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    PairField<Lanes256, Vector256<float>, TRows>(F(v & Mask256(bits, 14)), F(u & Mask256(bits, 14)), x0, x1, x2, x3, 112, ref a0,
                                                                 ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                    OddField<Lanes256, Vector256<float>, TRows>(F(Avx2.ShiftRightLogical(v, 30)), F(Avx2.ShiftRightLogical(u, 30)), x0, x1, x2, x3,
                                                                120,
                                       ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);
                }

                FoldOddFields<Lanes256, Vector256<float>, TRows>(ref a0, ref a1, ref a2, ref a3, ref c0, ref c1, ref c2, ref c3);

                Vector256<float> s = TScale.Load(scales, b, blocksPerGroup), r = TScale.Load(scales + groups, b, blocksPerGroup);
                totals[0] = Fma.MultiplyAdd(a0, s, totals[0]);
                totals[4] = Fma.MultiplyAdd(c0, r, totals[4]);
                if (TRows.Count > 1) { totals[1] = Fma.MultiplyAdd(a1, s, totals[1]); totals[5] = Fma.MultiplyAdd(c1, r, totals[5]); }
                if (TRows.Count > 2) { totals[2] = Fma.MultiplyAdd(a2, s, totals[2]); totals[6] = Fma.MultiplyAdd(c2, r, totals[6]); }
                if (TRows.Count > 3) { totals[3] = Fma.MultiplyAdd(a3, s, totals[3]); totals[7] = Fma.MultiplyAdd(c3, r, totals[7]); }
            }


            // Unused rows summed zeros; the caller ignores their slots.
            (Vector256.Load(sums) + Sum8(totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6], totals[7])).Store(sums);
        }
    }

    /// <summary>The zero-point terms of rows o and o + 1 against 2 to 4 input rows, eight at once (see the 512-bit PairCorrections).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PairCorrections256(in KernelArgs args, int o, int row, int valid, float* c)
    {
        int groups = args.InFeatures / args.GroupSize, g = 0;
        float* z0 = args.ZeroTerms + (nint)o * groups, z1 = z0 + groups;
        float* x0 = args.GroupSums + (nint)row * groups;
        float* x1 = valid > 1 ? x0 + groups : x0, x2 = valid > 2 ? x1 + groups : x0, x3 = valid > 3 ? x2 + groups : x0;
        Vector256<float> k0 = default, k1 = default, k2 = default, k3 = default, l0 = default, l1 = default, l2 = default, l3 = default;
        for (; g + 8 <= groups; g += 8)
        {
            CorrectionStep<Lanes256, Vector256<float>>(Vector256.Load(z0 + g), Vector256.Load(z1 + g), Vector256.Load(x0 + g), Vector256.Load(x1 + g),
                                                       Vector256.Load(x2 + g),
                              Vector256.Load(x3 + g), ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2, ref l3);
        }

        if (g + 4 <= groups)
        {
            CorrectionStep<Lanes256, Vector256<float>>(Load4As256(z0 + g), Load4As256(z1 + g), Load4As256(x0 + g), Load4As256(x1 + g), Load4As256(x2
                + g), Load4As256(x3 + g),
                              ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2, ref l3);
            g += 4;
        }

        for (; g < groups; g++)
        {
            CorrectionStep<Lanes256, Vector256<float>>(Vector256.CreateScalar(z0[g]), Vector256.CreateScalar(z1[g]), Vector256.CreateScalar(x0[g]),
                                                       Vector256.CreateScalar(x1[g]),
                              Vector256.CreateScalar(x2[g]), Vector256.CreateScalar(x3[g]), ref k0, ref k1, ref k2, ref k3, ref l0, ref l1, ref l2,
                                  ref l3);
        }

        Sum8(k0, k1, k2, k3, l0, l1, l2, l3).Store(c);
    }

    /// <summary>Four floats, the upper lanes zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load4As256(float* p) => Vector256.Create(Vector128.Load(p), Vector128<float>.Zero);

    /// <summary>Masked fields as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<int> field) => Avx.ConvertToVector256Single(field);

    /// <summary>Field k's mask at <paramref name="bits"/> bits per field (a constant once the JIT knows both).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Mask256(int bits, int k) => Vector256.Create(((1 << bits) - 1) << (bits * k));

    /// <summary>The sums of eight vectors as one vector, in order (as the 512-bit Sum8 does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sum8(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3,
                                         Vector256<float> v4, Vector256<float> v5, Vector256<float> v6, Vector256<float> v7)
    {
        Vector256<float> low = Avx.HorizontalAdd(Avx.HorizontalAdd(v0, v1), Avx.HorizontalAdd(v2, v3));
        Vector256<float> high = Avx.HorizontalAdd(Avx.HorizontalAdd(v4, v5), Avx.HorizontalAdd(v6, v7));
        return Avx.Permute2x128(low, high, 0x20) + Avx.Permute2x128(low, high, 0x31);
    }
}
