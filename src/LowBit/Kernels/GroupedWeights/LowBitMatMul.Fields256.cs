using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The field kernel (LowBitMatMul.Fields.cs) on AVX2 + FMA, for 1 to 15 input rows: 32 packed bytes are 8 dword lanes of 8
// (4-bit) or 16 (2-bit) weights each; each field is masked in place and converted, against an input arranged in
// blocks of 8 lanes. Without it, 4-bit batch 1 on AVX2 ran the generic widen-and-FMA kernel at 0.46x of W8A16.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>The field kernel on AVX2 + FMA: 8 dword lanes per 32 packed bytes; one to four input rows per pass.</summary>
    internal sealed class Field256Kernel() : MatMulKernel("field-256", KernelIsa.Avx2, WeightFormats.Group4 | WeightFormats.Group2,
        "columns a multiple of 64 (4-bit) or 128 (2-bit); a group spans whole 32-byte blocks or whole 4-byte lanes")
    {
        public override bool IsSupported => Avx2.IsSupported && Fma.IsSupported && Vector256.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => FieldLayoutFits(shape.InFeatures, shape.Bits, shape.GroupSize, lanes: 8);

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override bool UsesGroupSums => true;

        public override bool UsesLaneSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareFieldRows(input, ref args, lanes: 8);

        public override int RowsPerChunk(in LayerShape shape, int batch) => FieldRowsPerChunk(shape);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkFields256;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields256(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int groupsPerBlock = 256 / args.Bits / args.GroupSize;
        switch (args.Bits * 100 + groupsPerBlock)
        {
            case 400: case 401: ChunkFields256<Bits4, Scale256PerBlock>(in args, chunk); break;
            case 402: ChunkFields256<Bits4, Scale256Per4Lanes>(in args, chunk); break;
            case 404: ChunkFields256<Bits4, Scale256Per2Lanes>(in args, chunk); break;
            case 408: ChunkFields256<Bits4, Scale256PerLane>(in args, chunk); break;
            case 200: case 201: ChunkFields256<Bits2, Scale256PerBlock>(in args, chunk); break;
            case 202: ChunkFields256<Bits2, Scale256Per4Lanes>(in args, chunk); break;
            case 204: ChunkFields256<Bits2, Scale256Per2Lanes>(in args, chunk); break;
            default: ChunkFields256<Bits2, Scale256PerLane>(in args, chunk); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields256<TBits, TScale>(in KernelArgs args, int chunk) where TBits : IBits where TScale : IBlockScale256
    {
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        if (args.Batch > 1)
        {
            FieldsSliced<Rows256<TBits, TScale>>(in args, start, end);
            return;
        }

        FieldsGemv256<TBits, TScale>(in args, start, end);
    }

    /// <summary>
    /// Rows start to end against the one input row, <c>sum_g s_g (sum_(i in g) x_i q_i - z_g sum_(i in g) x_i)</c> each,
    /// results to the output. The loop over the rows is inside and holds no call, so the masks and the per-layer divisions
    /// are set up once per work item (as in the AVX-512 FieldsGemvPairs: 10-20% of a batch-1 call on small layers).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsGemv256<TBits, TScale>(in KernelArgs args, int start, int end) where TBits : IBits where TScale : IBlockScale256
    {
        int bits = TBits.Bits, block = 256 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        bool laneZeros = LaneZeroPoints(in args, lanes: 8);
        float* laneSums = args.LaneSums;
        // Masks in locals: the JIT keeps most in registers (measured 20% faster than constants at one input row).
        Vector256<int> m0 = Mask256(bits, 0), m1 = Mask256(bits, 1), m2 = Mask256(bits, 2);
        Vector256<int> m3 = Mask256(bits, 3), m4 = Mask256(bits, 4), m5 = Mask256(bits, 5);
        Vector256<int> m6 = Mask256(bits, 6), m7 = Mask256(bits, 7), m8 = Mask256(bits, 8);
        Vector256<int> m9 = Mask256(bits, 9), m10 = Mask256(bits, 10), m11 = Mask256(bits, 11);
        Vector256<int> m12 = Mask256(bits, 12), m13 = Mask256(bits, 13), m14 = Mask256(bits, 14);
        for (int o = start; o < end; o++)
        {
            int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
            float* scales = args.Scales + (nint)o * groups;
            float* x = args.Input;
            Vector256<float> t0 = default, t1 = default, k0 = default;
            float* zeroTerms = args.ZeroTerms + (nint)o * groups;
            for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
            {
                Vector256<int> v = Vector256.Load(w + b * 8);
                Vector256<float> a0, a1, a2, a3;
                // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
                a0 = Avx.ConvertToVector256Single(v & m0) * Vector256.Load(x + 0);
                a1 = Avx.ConvertToVector256Single(v & m1) * Vector256.Load(x + 8);
                a2 = Avx.ConvertToVector256Single(v & m2) * Vector256.Load(x + 16);
                a3 = Avx.ConvertToVector256Single(v & m3) * Vector256.Load(x + 24);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m4), Vector256.Load(x + 32), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m5), Vector256.Load(x + 40), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m6), Vector256.Load(x + 48), a2);
                if (bits == 4)
                {
                    a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 28)), Vector256.Load(x + 56), a3);
                }
                else
                {
                    a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m7), Vector256.Load(x + 56), a3);
                    a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m8), Vector256.Load(x + 64), a0);
                    a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m9), Vector256.Load(x + 72), a1);
                    a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m10), Vector256.Load(x + 80), a2);
                    a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m11), Vector256.Load(x + 88), a3);
                    a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m12), Vector256.Load(x + 96), a0);
                    a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m13), Vector256.Load(x + 104), a1);
                    a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & m14), Vector256.Load(x + 112), a2);
                    a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 30)), Vector256.Load(x + 120), a3);
                }

                Vector256<float> scale = TScale.Load(scales, b, blocksPerGroup);
                if ((b & 1) == 0) t0 = Fma.MultiplyAdd((a0 + a1) + (a2 + a3), scale, t0);
                else t1 = Fma.MultiplyAdd((a0 + a1) + (a2 + a3), scale, t1);
                if (laneZeros) k0 = Fma.MultiplyAdd(TScale.Load(zeroTerms, b, blocksPerGroup), Vector256.Load(laneSums + b * 8), k0);
            }

            // The zero points: lane by lane in the loop (few groups, see LaneZeroPoints) or group by group here.
            float y = laneZeros ? Vector256.Sum((t0 + t1) - k0)
                    : args.Offsets is null ? Vector256.Sum(t0 + t1) - ByteZeroTermDot<Lanes256, Vector256<float>>(in args, o, 0)
                    : Vector256.Sum(t0 + t1) - ZeroTermDot<Lanes256, Vector256<float>>(zeroTerms, args.GroupSums, groups);
            y *= args.InputUnscales[0];
            args.Output[o] = args.Bias is null ? y : y + args.Bias[o];
        }
    }

    /// <summary>The AVX2 field kernel for several input rows (8 lanes).</summary>
    private readonly struct Rows256<TBits, TScale> : IFieldRows where TBits : IBits where TScale : IBlockScale256
    {
        public static int BlockBytes => 32;

        /// <summary>1024 at either width: 4 input rows then take 16 KiB, half of Zen 3's L1 data.</summary>
        public static int SliceColumns(int bits) => FieldSliceColumns;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Rows(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        {
            switch (valid)
            {
                case 2: FieldsRows256<TBits, TScale, TwoRows>(in args, o, row, valid, first, last, sums); break;
                case 3: FieldsRows256<TBits, TScale, ThreeRows>(in args, o, row, valid, first, last, sums); break;
                default: FieldsRows256<TBits, TScale, FourRows>(in args, o, row, valid, first, last, sums); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Pairs(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid, float* partial)
        {
            switch (valid)
            {
                case 2: FieldsRowPairs256<TBits, TScale, TwoRows>(in args, in slice, start, end, row, valid, partial); break;
                case 3: FieldsRowPairs256<TBits, TScale, ThreeRows>(in args, in slice, start, end, row, valid, partial); break;
                default: FieldsRowPairs256<TBits, TScale, FourRows>(in args, in slice, start, end, row, valid, partial); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Correction(in KernelArgs args, int o, int row) => ZeroPointCorrection256(in args, o, row);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Corrections(in KernelArgs args, int o, int row, int valid, float* c) => PairCorrections256(in args, o, row, valid, c);
    }

    /// <summary>Row o, blocks first to last, against 2 or 4 input rows (see the AVX-512 FieldsRows); 16 registers, so one accumulator per
    /// row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsRows256<TBits, TScale, TRows>(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        where TBits : IBits where TScale : IBlockScale256 where TRows : IRows
    {
        int bits = TBits.Bits, block = 256 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, row, valid, (nint)first * block, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default;
        for (int b = first; b < last; b++, x0 += block, x1 += block, x2 += block, x3 += block)
        {
            Vector256<int> v = Vector256.Load(w + b * 8);
            Vector256<float> f, a0 = default, a1 = default, a2 = default, a3 = default;
            // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 0));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 0), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 0), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 0), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 0), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 1));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 8), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 8), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 8), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 8), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 2));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 16), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 16), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 16), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 16), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 3));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 24), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 24), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 24), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 24), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 4));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 32), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 32), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 32), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 32), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 5));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 40), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 40), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 40), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 40), a3);
            f = Avx.ConvertToVector256Single(v & Mask256(bits, 6));
            a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 48), a0);
            if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 48), a1);
            if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 48), a2);
            if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 48), a3);
            if (bits == 4)
            {
                f = Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 28));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 56), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 56), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 56), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 56), a3);
            }
            else
            {
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 7));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 56), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 56), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 56), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 56), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 8));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 64), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 64), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 64), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 64), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 9));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 72), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 72), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 72), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 72), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 10));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 80), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 80), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 80), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 80), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 11));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 88), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 88), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 88), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 88), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 12));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 96), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 96), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 96), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 96), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 13));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 104), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 104), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 104), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 104), a3);
                f = Avx.ConvertToVector256Single(v & Mask256(bits, 14));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 112), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 112), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 112), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 112), a3);
                f = Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 30));
                a0 = Fma.MultiplyAdd(f, Vector256.Load(x0 + 120), a0);
                if (TRows.Count > 1) a1 = Fma.MultiplyAdd(f, Vector256.Load(x1 + 120), a1);
                if (TRows.Count > 2) a2 = Fma.MultiplyAdd(f, Vector256.Load(x2 + 120), a2);
                if (TRows.Count > 3) a3 = Fma.MultiplyAdd(f, Vector256.Load(x3 + 120), a3);
            }

            Vector256<float> scale = TScale.Load(scales, b, blocksPerGroup);
            t0 = Fma.MultiplyAdd(a0, scale, t0);
            if (TRows.Count > 1) t1 = Fma.MultiplyAdd(a1, scale, t1);
            if (TRows.Count > 2) t2 = Fma.MultiplyAdd(a2, scale, t2);
            if (TRows.Count > 3) t3 = Fma.MultiplyAdd(a3, scale, t3);
        }

        sums[0] += Vector256.Sum(t0);
        if (TRows.Count > 1) sums[1] += Vector256.Sum(t1);
        if (TRows.Count > 2) sums[2] += Vector256.Sum(t2);
        if (TRows.Count > 3) sums[3] += Vector256.Sum(t3);
    }

    /// <summary><c>sum_g s_g z_g xsum_g</c> for row o and one input row (in the input's scaling), on 256-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroPointCorrection256(in KernelArgs args, int o, int row)
    {
        int groups = args.InFeatures / args.GroupSize;
        return args.Offsets is not null ? FloatZeroTerm(args.ZeroTerms + (nint)o * groups, args.GroupSums + (nint)row * groups, groups)
                                        : ByteZeroTermDot<Lanes256, Vector256<float>>(in args, o, row);
    }

    /// <summary>The scales of block b, one per lane (8 lanes).</summary>
    private interface IBlockScale256
    {
        static abstract Vector256<float> Load(float* scales, int b, int blocksPerGroup);
    }

    private readonly struct Scale256PerBlock : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) => Vector256.Create(scales[b / blocksPerGroup]);
    }

    private readonly struct Scale256Per4Lanes : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) =>
            Vector256.Create(Vector128.Create(scales[2 * b]), Vector128.Create(scales[2 * b + 1]));
    }

    private readonly struct Scale256Per2Lanes : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx2.PermuteVar8x32(Vector128.Load(scales + 4 * b).ToVector256Unsafe(), Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3));
    }

    private readonly struct Scale256PerLane : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) => Vector256.Load(scales + 8 * b);
    }
}
