using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The field kernel (LowBitMatMul.Fields.cs) on 128-bit vectors, for CPUs without AVX2: Arm64 NEON, x64 SSE4.1. 16 packed
// bytes are 4 dword lanes of 8 (4-bit) or 16 (2-bit) weights each; each field is masked in place and converted, against
// an input arranged in blocks of 4 lanes. Per 4 weights: one AND, one convert, one input load and one multiply-add,
// about what the 128-bit W8A16 GEMV spends (sign-extending load, convert, multiply-add) on half the bytes. Without it
// the exact path of 2/4-bit layers ran the generic widen-and-multiply kernel (streams-128).
internal static unsafe partial class LowBitMatMul
{
    /// <summary>The field kernel on 128-bit vectors: 4 dword lanes per 16 packed bytes; one to four input rows per pass.</summary>
    internal sealed class Field128Kernel() : MatMulKernel("field-128", KernelIsa.Vector128, WeightFormats.Group4 | WeightFormats.Group2,
        "columns a multiple of 32 (4-bit) or 64 (2-bit); a group spans whole 16-byte blocks or whole 4-byte lanes")
    {
        public override bool IsSupported => Vector128.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => FieldLayoutFits(shape.InFeatures, shape.Bits, shape.GroupSize, lanes: 4);

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override bool UsesGroupSums => true;

        public override bool UsesLaneSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareFieldRows(input, ref args, lanes: 4);

        public override int RowsPerChunk(in LayerShape shape, int batch) => FieldRowsPerChunk(shape);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkFields128;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields128(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int groupsPerBlock = 128 / args.Bits / args.GroupSize;
        switch (args.Bits * 100 + groupsPerBlock)
        {
            case 400: case 401: ChunkFields128<Bits4, Scale128PerBlock>(in args, chunk); break;
            case 402: ChunkFields128<Bits4, Scale128Per2Lanes>(in args, chunk); break;
            case 404: ChunkFields128<Bits4, Scale128PerLane>(in args, chunk); break;
            case 200: case 201: ChunkFields128<Bits2, Scale128PerBlock>(in args, chunk); break;
            case 202: ChunkFields128<Bits2, Scale128Per2Lanes>(in args, chunk); break;
            default: ChunkFields128<Bits2, Scale128PerLane>(in args, chunk); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields128<TBits, TScale>(in KernelArgs args, int chunk) where TBits : IBits where TScale : IBlockScale128
    {
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        if (args.Batch > 1)
        {
            FieldsSliced<Rows128<TBits, TScale>>(in args, start, end);
            return;
        }

        FieldsGemv128<TBits, TScale>(in args, start, end);
    }

    /// <summary>
    /// Rows start to end against the one input row, <c>sum_g s_g (sum_(i in g) x_i q_i - z_g sum_(i in g) x_i)</c> each,
    /// results to the output. Fields go round four accumulators, so no multiply-add waits on the one before; the masks
    /// are locals set up once per work item (Arm64's 32 registers hold all of them; SSE reads the rest as memory operands).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsGemv128<TBits, TScale>(in KernelArgs args, int start, int end) where TBits : IBits where TScale : IBlockScale128
    {
        int bits = TBits.Bits, block = 128 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        bool laneZeros = LaneZeroPoints(in args, lanes: 4);
        float* laneSums = args.LaneSums;
        Vector128<int> m0 = Mask128(bits, 0), m1 = Mask128(bits, 1), m2 = Mask128(bits, 2);
        Vector128<int> m3 = Mask128(bits, 3), m4 = Mask128(bits, 4), m5 = Mask128(bits, 5);
        Vector128<int> m6 = Mask128(bits, 6), m7 = Mask128(bits, 7), m8 = Mask128(bits, 8);
        Vector128<int> m9 = Mask128(bits, 9), m10 = Mask128(bits, 10), m11 = Mask128(bits, 11);
        Vector128<int> m12 = Mask128(bits, 12), m13 = Mask128(bits, 13), m14 = Mask128(bits, 14);
        for (int o = start; o < end; o++)
        {
            int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
            float* scales = args.Scales + (nint)o * groups, zeroTerms = args.ZeroTerms + (nint)o * groups;
            float* x = args.Input;
            Vector128<float> t0 = default, t1 = default, k0 = default;
            for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
            {
                Vector128<int> v = Vector128.Load(w + b * 4);
                // Fields 0 to 6 are the same code for 4 and 2 bits: mask k is m0 << (bits * k).
                Vector128<float> a0 = F128(v & m0) * Vector128.Load(x + 0);
                Vector128<float> a1 = F128(v & m1) * Vector128.Load(x + 4);
                Vector128<float> a2 = F128(v & m2) * Vector128.Load(x + 8);
                Vector128<float> a3 = F128(v & m3) * Vector128.Load(x + 12);
                a0 = Vector128.MultiplyAddEstimate(F128(v & m4), Vector128.Load(x + 16), a0);
                a1 = Vector128.MultiplyAddEstimate(F128(v & m5), Vector128.Load(x + 20), a1);
                a2 = Vector128.MultiplyAddEstimate(F128(v & m6), Vector128.Load(x + 24), a2);
                if (bits == 4)
                {
                    a3 = Vector128.MultiplyAddEstimate(F128(Vector128.ShiftRightLogical(v, 28)), Vector128.Load(x + 28), a3);
                }
                else
                {
                    a3 = Vector128.MultiplyAddEstimate(F128(v & m7), Vector128.Load(x + 28), a3);
                    a0 = Vector128.MultiplyAddEstimate(F128(v & m8), Vector128.Load(x + 32), a0);
                    a1 = Vector128.MultiplyAddEstimate(F128(v & m9), Vector128.Load(x + 36), a1);
                    a2 = Vector128.MultiplyAddEstimate(F128(v & m10), Vector128.Load(x + 40), a2);
                    a3 = Vector128.MultiplyAddEstimate(F128(v & m11), Vector128.Load(x + 44), a3);
                    a0 = Vector128.MultiplyAddEstimate(F128(v & m12), Vector128.Load(x + 48), a0);
                    a1 = Vector128.MultiplyAddEstimate(F128(v & m13), Vector128.Load(x + 52), a1);
                    a2 = Vector128.MultiplyAddEstimate(F128(v & m14), Vector128.Load(x + 56), a2);
                    a3 = Vector128.MultiplyAddEstimate(F128(Vector128.ShiftRightLogical(v, 30)), Vector128.Load(x + 60), a3);
                }

                Vector128<float> scale = TScale.Load(scales, b, blocksPerGroup);
                if ((b & 1) == 0) t0 = Vector128.MultiplyAddEstimate((a0 + a1) + (a2 + a3), scale, t0);
                else t1 = Vector128.MultiplyAddEstimate((a0 + a1) + (a2 + a3), scale, t1);
                if (laneZeros) k0 = Vector128.MultiplyAddEstimate(TScale.Load(zeroTerms, b, blocksPerGroup), Vector128.Load(laneSums + b * 4), k0);
            }

            // The zero points: lane by lane in the loop (few groups, see LaneZeroPoints) or group by group here.
            float y = laneZeros ? Vector128.Sum((t0 + t1) - k0) : Vector128.Sum(t0 + t1) - Correction128(in args, o, 0);
            y *= args.InputUnscales[0];
            args.Output[o] = args.Bias is null ? y : y + args.Bias[o];
        }
    }

    /// <summary>The 128-bit field kernel for several input rows (4 lanes).</summary>
    private readonly struct Rows128<TBits, TScale> : IFieldRows where TBits : IBits where TScale : IBlockScale128
    {
        public static int BlockBytes => 16;

        public static int SliceColumns(int bits) => FieldSliceColumns;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Rows(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        {
            switch (valid)
            {
                case 2: FieldsRows128<TBits, TScale, TwoRows>(in args, o, row, valid, first, last, sums); break;
                case 3: FieldsRows128<TBits, TScale, ThreeRows>(in args, o, row, valid, first, last, sums); break;
                default: FieldsRows128<TBits, TScale, FourRows>(in args, o, row, valid, first, last, sums); break;
            }
        }

        /// <summary>One row at a time: a pair tile's eight accumulators and the fields of two rows would not fit SSE's 16
        /// registers; the slice's inputs come from L1 for both rows.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Pairs(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid, float* partial)
        {
            for (int o = start; o + 1 < end; o += 2)
            {
                if (Sse.IsSupported) PrefetchSliceAhead(in args, in slice, o, end);
                Rows(in args, o, row, valid, slice.First, slice.Last, partial + (o - start) * 4);
                Rows(in args, o + 1, row, valid, slice.First, slice.Last, partial + (o + 1 - start) * 4);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Correction(in KernelArgs args, int o, int row) => Correction128(in args, o, row);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Corrections(in KernelArgs args, int o, int row, int valid, float* c)
        {
            for (int k = 0; k < valid; k++)
            {
                c[k] = Correction128(in args, o, row + k);
                c[4 + k] = Correction128(in args, o + 1, row + k);
            }
        }
    }

    /// <summary>
    /// Row o, blocks first to last, against 2 to 4 input rows: each converted field feeds every input row; two accumulators
    /// per input row and block, scaled into the row's total at the block's end. Adds the totals to <c>sums[0..valid)</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsRows128<TBits, TScale, TRows>(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        where TBits : IBits where TScale : IBlockScale128 where TRows : IRows
    {
        int bits = TBits.Bits, block = 128 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Weights + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, row, valid, (nint)first * block, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector128<float> t0 = default, t1 = default, t2 = default, t3 = default;
        for (int b = first; b < last; b++, x0 += block, x1 += block, x2 += block, x3 += block)
        {
            Vector128<int> v = Vector128.Load(w + b * 4);
            // Even fields into a, odd into c: eight add chains, so a field does not wait on the one before (four chains ran
            // at the add latency: 1.0-1.1x streams-128 at batch 8). Fields 0 to 6 are the same code for 4 and 2 bits; the top
            // field is shifted down (its mask would set the sign).
            Vector128<float> a0 = default, a1 = default, a2 = default, a3 = default, c0 = default, c1 = default, c2 = default, c3 = default;
            RowsField<TRows>(F128(v & Mask128(bits, 0)), x0, x1, x2, x3, 0, ref a0, ref a1, ref a2, ref a3);
            RowsField<TRows>(F128(v & Mask128(bits, 1)), x0, x1, x2, x3, 4, ref c0, ref c1, ref c2, ref c3);
            RowsField<TRows>(F128(v & Mask128(bits, 2)), x0, x1, x2, x3, 8, ref a0, ref a1, ref a2, ref a3);
            RowsField<TRows>(F128(v & Mask128(bits, 3)), x0, x1, x2, x3, 12, ref c0, ref c1, ref c2, ref c3);
            RowsField<TRows>(F128(v & Mask128(bits, 4)), x0, x1, x2, x3, 16, ref a0, ref a1, ref a2, ref a3);
            RowsField<TRows>(F128(v & Mask128(bits, 5)), x0, x1, x2, x3, 20, ref c0, ref c1, ref c2, ref c3);
            RowsField<TRows>(F128(v & Mask128(bits, 6)), x0, x1, x2, x3, 24, ref a0, ref a1, ref a2, ref a3);
            if (bits == 4)
            {
                RowsField<TRows>(F128(Vector128.ShiftRightLogical(v, 28)), x0, x1, x2, x3, 28, ref c0, ref c1, ref c2, ref c3);
            }
            else
            {
                RowsField<TRows>(F128(v & Mask128(bits, 7)), x0, x1, x2, x3, 28, ref c0, ref c1, ref c2, ref c3);
                RowsField<TRows>(F128(v & Mask128(bits, 8)), x0, x1, x2, x3, 32, ref a0, ref a1, ref a2, ref a3);
                RowsField<TRows>(F128(v & Mask128(bits, 9)), x0, x1, x2, x3, 36, ref c0, ref c1, ref c2, ref c3);
                RowsField<TRows>(F128(v & Mask128(bits, 10)), x0, x1, x2, x3, 40, ref a0, ref a1, ref a2, ref a3);
                RowsField<TRows>(F128(v & Mask128(bits, 11)), x0, x1, x2, x3, 44, ref c0, ref c1, ref c2, ref c3);
                RowsField<TRows>(F128(v & Mask128(bits, 12)), x0, x1, x2, x3, 48, ref a0, ref a1, ref a2, ref a3);
                RowsField<TRows>(F128(v & Mask128(bits, 13)), x0, x1, x2, x3, 52, ref c0, ref c1, ref c2, ref c3);
                RowsField<TRows>(F128(v & Mask128(bits, 14)), x0, x1, x2, x3, 56, ref a0, ref a1, ref a2, ref a3);
                RowsField<TRows>(F128(Vector128.ShiftRightLogical(v, 30)), x0, x1, x2, x3, 60, ref c0, ref c1, ref c2, ref c3);
            }

            Vector128<float> scale = TScale.Load(scales, b, blocksPerGroup);
            t0 = Vector128.MultiplyAddEstimate(a0 + c0, scale, t0);
            if (TRows.Count > 1) t1 = Vector128.MultiplyAddEstimate(a1 + c1, scale, t1);
            if (TRows.Count > 2) t2 = Vector128.MultiplyAddEstimate(a2 + c2, scale, t2);
            if (TRows.Count > 3) t3 = Vector128.MultiplyAddEstimate(a3 + c3, scale, t3);
        }

        sums[0] += Vector128.Sum(t0);
        if (TRows.Count > 1) sums[1] += Vector128.Sum(t1);
        if (TRows.Count > 2) sums[2] += Vector128.Sum(t2);
        if (TRows.Count > 3) sums[3] += Vector128.Sum(t3);
    }

    /// <summary>One converted field <paramref name="f"/> against the inputs at <paramref name="at"/> of each input row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowsField<TRows>(Vector128<float> f, float* x0, float* x1, float* x2, float* x3, int at,
                                         ref Vector128<float> a0, ref Vector128<float> a1, ref Vector128<float> a2, ref Vector128<float> a3)
        where TRows : IRows
    {
        a0 = Vector128.MultiplyAddEstimate(f, Vector128.Load(x0 + at), a0);
        if (TRows.Count > 1) a1 = Vector128.MultiplyAddEstimate(f, Vector128.Load(x1 + at), a1);
        if (TRows.Count > 2) a2 = Vector128.MultiplyAddEstimate(f, Vector128.Load(x2 + at), a2);
        if (TRows.Count > 3) a3 = Vector128.MultiplyAddEstimate(f, Vector128.Load(x3 + at), a3);
    }

    /// <summary>Masked fields as floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> F128(Vector128<int> field) => Vector128.ConvertToSingle(field);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> Mask128(int bits, int k) => Vector128.Create(((1 << bits) - 1) << (bits * k));

    /// <summary><c>sum_g s_g z_g xsum_g</c> for row o and one input row (in the input's scaling), on 128-bit vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Correction128(in KernelArgs args, int o, int row)
    {
        int groups = args.InFeatures / args.GroupSize;
        float* groupSums = args.GroupSums + (nint)row * groups;
        return args.Offsets is not null ? ZeroTermDot<Lanes128, Vector128<float>>(args.ZeroTerms + (nint)o * groups, groupSums, groups)
                                        : ByteZeroTermDot<Lanes128, Vector128<float>>(in args, o, row);
    }

    /// <summary>The scales of block b, one per lane (4 lanes).</summary>
    private interface IBlockScale128
    {
        static abstract Vector128<float> Load(float* scales, int b, int blocksPerGroup);
    }

    private readonly struct Scale128PerBlock : IBlockScale128
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load(float* scales, int b, int blocksPerGroup) => Vector128.Create(scales[b / blocksPerGroup]);
    }

    private readonly struct Scale128Per2Lanes : IBlockScale128
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load(float* scales, int b, int blocksPerGroup) =>
            Vector128.Shuffle(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<double>(scales + 2 * b)).AsSingle(), Vector128.Create(0, 0, 1, 1));
    }

    private readonly struct Scale128PerLane : IBlockScale128
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load(float* scales, int b, int blocksPerGroup) => Vector128.Load(scales + 4 * b);
    }
}
