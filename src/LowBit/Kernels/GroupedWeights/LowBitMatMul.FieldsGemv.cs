using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The field kernels at batch 1: one row, and pairs of rows sharing each input load, with the row loop inside the kernel.
internal static unsafe partial class LowBitMatMul
{
    /// <summary><c>sum_g s_g (sum_(i in g) x_i q_i - z_g sum_(i in g) x_i)</c> for row o.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FieldsRow<TBits, TScale>(in KernelArgs args, int o, int row) where TBits : IBits where TScale : IBlockScale
    {
        int bits = TBits.Bits, block = 512 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        float* x = args.Input + (nint)row * n;
        Vector512<float> t0 = default, t1 = default, k0 = default;
        bool laneZeros = LaneZeroPoints(in args, lanes: 16);
        float* zeroTerms = args.ZeroTerms + (nint)o * groups, laneSums = args.LaneSums + (nint)row * (n * bits / 32);
        // The masks live in registers: as constants the JIT folds each into its AND as a broadcast load, 15 extra loads
        // per 64 bytes at 2 bits (measured 2-3% faster with the weights in cache, no change streaming them).
        Vector512<int> m0 = Vector512.Create((1 << args.Bits) - 1), m1 = m0 << bits, m2 = m0 << (2 * bits), m3 = m0 << (3 * bits);
        Vector512<int> m4 = m0 << (4 * bits), m5 = m0 << (5 * bits), m6 = m0 << (6 * bits), m7 = m0 << (7 * bits), m8 = m0 << (8 * bits);
        Vector512<int> m9 = m0 << (9 * bits), m10 = m0 << (10 * bits), m11 = m0 << (11 * bits), m12 = m0 << (12 * bits), m13 = m0 << (13 * bits),
            m14 = m0 << (14 * bits);
        for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
        {
            Vector512<int> v = Vector512.Load(w + b * 16);
            Vector512<float> a0, a1, a2, a3;
            // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
            a0 = Avx512F.ConvertToVector512Single(v & m0) * Vector512.Load(x + 0);
            a1 = Avx512F.ConvertToVector512Single(v & m1) * Vector512.Load(x + 16);
            a2 = Avx512F.ConvertToVector512Single(v & m2) * Vector512.Load(x + 32);
            a3 = Avx512F.ConvertToVector512Single(v & m3) * Vector512.Load(x + 48);
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m4), Vector512.Load(x + 64), a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m5), Vector512.Load(x + 80), a1);
            a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m6), Vector512.Load(x + 96), a2);
            if (bits == 4)
            {
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 28)), Vector512.Load(x + 112), a3);
            }
            else
            {
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m7), Vector512.Load(x + 112), a3);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m8), Vector512.Load(x + 128), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m9), Vector512.Load(x + 144), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m10), Vector512.Load(x + 160), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m11), Vector512.Load(x + 176), a3);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m12), Vector512.Load(x + 192), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m13), Vector512.Load(x + 208), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m14), Vector512.Load(x + 224), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 30)), Vector512.Load(x + 240), a3);
            }

            Vector512<float> scale = TScale.Load(scales, b, blocksPerGroup);
            if ((b & 1) == 0) t0 = Avx512F.FusedMultiplyAdd((a0 + a1) + (a2 + a3), scale, t0);
            else t1 = Avx512F.FusedMultiplyAdd((a0 + a1) + (a2 + a3), scale, t1);
            if (laneZeros) k0 = Avx512F.FusedMultiplyAdd(TScale.Load(zeroTerms, b, blocksPerGroup), Vector512.Load(laneSums + b * 16), k0);
        }

        if (n % block != 0)
        {
            // The row ends in half a block (see Field512Kernel.Fits): the 256-bit tile sums it.
            int half = 2 * (n / block), halvesPerGroup = Math.Max(1, args.GroupSize / (block / 2));
            float tail = 0;
            FieldsRows256<TBits, HalfBlockScale<TScale>, OneRow>(in args, o, row, 1, half, half + 1, &tail);
            t0 += Vector512.CreateScalar(tail);
            if (laneZeros) k0 += (TScale.LoadHalf(zeroTerms, half, halvesPerGroup) * Vector256.Load(laneSums + half * 8)).ToVector512();
        }

        // The zero points: minus sum_g (s z)_g * xsum_g, lane by lane in the loop or group by group here.
        return laneZeros ? Vector512.Sum((t0 + t1) - k0) * args.InputUnscales[row] : ZeroPointTerm(in args, o, row, t0 + t1);
    }

    /// <summary>
    /// Rows start to end (pairs; an odd last row is left to the caller) against the one input row, results to the output:
    /// two independent chains of work share each input vector load (measured: +15% with the weights in cache, +5-7%
    /// streaming them from memory). The loop over the pairs is inside and holds no call (a call in the loop made the JIT
    /// keep the masks on the stack and reload all fifteen every block), so the masks and the per-layer divisions are set up
    /// once per work item, not once per pair (10-20% of a batch-1 call on short rows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsGemvPairs<TBits, TScale>(in KernelArgs args, int start, int end) where TBits : IBits where TScale : IBlockScale
    {
        int bits = TBits.Bits, block = 512 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        nint rowInts = n * bits / 32;
        bool laneZeros = LaneZeroPoints(in args, lanes: 16);
        int fullBlocks = Math.Max(1, n / block), zeroLines = args.Offsets is null ? 0 : (2 * groups + 15) / 16, zeroLinesPerBlock = (zeroLines
            + fullBlocks - 1) / fullBlocks;
        // The masks live in registers: as constants the JIT folds each into its AND as a broadcast load, 15 extra loads
        // per 64 bytes at 2 bits (measured 2-3% faster with the weights in cache, no change streaming them).
        Vector512<int> m0 = Vector512.Create((1 << args.Bits) - 1), m1 = m0 << bits, m2 = m0 << (2 * bits), m3 = m0 << (3 * bits);
        Vector512<int> m4 = m0 << (4 * bits), m5 = m0 << (5 * bits), m6 = m0 << (6 * bits), m7 = m0 << (7 * bits), m8 = m0 << (8 * bits);
        Vector512<int> m9 = m0 << (9 * bits), m10 = m0 << (10 * bits), m11 = m0 << (11 * bits), m12 = m0 << (12 * bits), m13 = m0 << (13 * bits),
            m14 = m0 << (14 * bits);
        float* laneSums = args.LaneSums;
        int half = 2 * (n / block), halvesPerGroup = Math.Max(1, args.GroupSize / (block / 2));
        for (int o = start; o + 1 < end; o += 2)
        {
            int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
            float* scales = args.Scales + (nint)o * groups;
            float* x = args.Input;
            Vector512<float> t0 = default, t1 = default, k0 = default, k1 = default;
            float* zeroTerms = args.ZeroTerms + (nint)o * groups;
            for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
            {
                Vector512<int> v = Vector512.Load(w + b * 16), u = Vector512.Load(w + rowInts + b * 16);
                // Two interleaved streams lose the hardware prefetcher (4-bit ran at half speed without this): fetch the
                // next pair's line for this block. Prefetches never fault, so the last pair may point past the weights.
                Sse.Prefetch0(w + 2 * rowInts + b * 16);
                Sse.Prefetch0(w + 3 * rowInts + b * 16);
                // Float zero terms (layers with offsets) are a third stream, 4 bytes per group: the next pair's too.
                for (int line = b * zeroLinesPerBlock, stop = Math.Min(line + zeroLinesPerBlock, zeroLines); line < stop; line++)
                {
                    Sse.Prefetch0(zeroTerms + 2 * groups + line * 16);
                }

                Vector512<float> xk, a0 = default, a1 = default, c0 = default, c1 = default;
                // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
                xk = Vector512.Load(x + 0);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m0), xk, a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m0), xk, a1);
                xk = Vector512.Load(x + 16);
                c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m1), xk, c0);
                c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m1), xk, c1);
                xk = Vector512.Load(x + 32);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m2), xk, a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m2), xk, a1);
                xk = Vector512.Load(x + 48);
                c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m3), xk, c0);
                c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m3), xk, c1);
                xk = Vector512.Load(x + 64);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m4), xk, a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m4), xk, a1);
                xk = Vector512.Load(x + 80);
                c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m5), xk, c0);
                c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m5), xk, c1);
                xk = Vector512.Load(x + 96);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m6), xk, a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m6), xk, a1);
                if (bits == 4)
                {
                    xk = Vector512.Load(x + 112);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 28)), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(u, 28)), xk, c1);
                }
                else
                {
                    xk = Vector512.Load(x + 112);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m7), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m7), xk, c1);
                    xk = Vector512.Load(x + 128);
                    a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m8), xk, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m8), xk, a1);
                    xk = Vector512.Load(x + 144);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m9), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m9), xk, c1);
                    xk = Vector512.Load(x + 160);
                    a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m10), xk, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m10), xk, a1);
                    xk = Vector512.Load(x + 176);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m11), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m11), xk, c1);
                    xk = Vector512.Load(x + 192);
                    a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m12), xk, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m12), xk, a1);
                    xk = Vector512.Load(x + 208);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m13), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m13), xk, c1);
                    xk = Vector512.Load(x + 224);
                    a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & m14), xk, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(u & m14), xk, a1);
                    xk = Vector512.Load(x + 240);
                    c0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 30)), xk, c0);
                    c1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(u, 30)), xk, c1);
                }

                t0 = Avx512F.FusedMultiplyAdd(a0 + c0, TScale.Load(scales, b, blocksPerGroup), t0);
                t1 = Avx512F.FusedMultiplyAdd(a1 + c1, TScale.Load(scales + groups, b, blocksPerGroup), t1);
                if (laneZeros)
                {
                    Vector512<float> laneSum = Vector512.Load(laneSums + b * 16);
                    k0 = Avx512F.FusedMultiplyAdd(TScale.Load(zeroTerms, b, blocksPerGroup), laneSum, k0);
                    k1 = Avx512F.FusedMultiplyAdd(TScale.Load(zeroTerms + groups, b, blocksPerGroup), laneSum, k1);
                }
            }

            if (n % block != 0)
            {
                // The rows end in half a block (see Field512Kernel.Fits).
                HalfBlockPairSums<TBits, TScale, OneRow>(in args, o, 0, 1, groups, out Vector512<float> tail, out _, out _, out _);
                t0 += tail.GetLower().ToVector512();
                t1 += tail.GetUpper().ToVector512();
                if (laneZeros)
                {
                    Vector256<float> laneSum = Vector256.Load(laneSums + half * 8);
                    k0 += (TScale.LoadHalf(zeroTerms, half, halvesPerGroup) * laneSum).ToVector512();
                    k1 += (TScale.LoadHalf(zeroTerms + groups, half, halvesPerGroup) * laneSum).ToVector512();
                }
            }

            float y0, y1;
            if (laneZeros)
            {
                y0 = Vector512.Sum(t0 - k0);
                y1 = Vector512.Sum(t1 - k1);
            }
            else if (args.Offsets is not null)
            {
                y0 = Vector512.Sum(t0) - ZeroTermDot<Lanes512, Vector512<float>>(zeroTerms, args.GroupSums, groups);
                y1 = Vector512.Sum(t1) - ZeroTermDot<Lanes512, Vector512<float>>(zeroTerms + groups, args.GroupSums, groups);
            }
            else
            {
                y0 = Vector512.Sum(t0) - ByteZeroPointCorrection(in args, o, 0);
                y1 = Vector512.Sum(t1) - ByteZeroPointCorrection(in args, o + 1, 0);
            }

            y0 *= args.InputUnscales[0];
            y1 *= args.InputUnscales[0];
            args.Output[o] = args.Bias is null ? y0 : y0 + args.Bias[o];
            args.Output[o + 1] = args.Bias is null ? y1 : y1 + args.Bias[o + 1];
        }
    }
}
