using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// GEMV (one input row) on AVX-512, arithmetic instead of shuffles. The table-lookup kernel spends three cross-lane
// shuffles per 32 weights (widen the bytes, two vpermps) and tops out near 8 weights per cycle here. This kernel loads
// 64 packed bytes as 16 dword lanes as they are: each lane holds 8 (4-bit) or 16 (2-bit) consecutive weights of one
// row. Field k of every lane is masked in place and converted, which gives q * 2^(bits * k) exactly (one AND, one
// convert; no shift except for the top field, whose mask would set the sign bit). The input was arranged once per
// call so that lane l of its vector k holds x[block + l * fieldsPerLane + k] * 2^-(bits * k), so each FMA forms the
// plain product x * q. The sum of a block's fields is scaled per lane (lanes of one group share a scale, gathered with
// at most one shuffle per 64 bytes), and the zero points are folded out with the input's group sums.
// Measured on Zen 5: shifts and int-to-float converts share two pipes and FMAs use two others, so dropping the seven
// shifts per 64 bytes took 2-bit from 40 to 45 G weights/s; four accumulators per block keep the FMA chains short.
// From two input rows, tiles of 2 weight rows x up to 4 input rows (LowBitMatMul.FieldPairs.cs) share each converted field
// among the input rows and each input load between the weight rows; the prepared inputs of four rows would not fit L1
// together, so the columns go in slices (IFieldRows.SliceColumns).
internal static unsafe partial class LowBitMatMul
{
    /// <summary>Input columns per slice when several input rows share the field kernel: 4 rows x 1024 floats = 16 KiB of L1.</summary>
    private const int FieldSliceColumns = 1024;

    /// <summary>
    /// Packed bytes of each weight row per slice on AVX-512: 1024 columns at 4 bits, 2048 at 2 bits. At 1024 columns the
    /// 2-bit rows came in runs of 256 bytes, too short to stream from memory (11008 x 4096 2-bit g32 at batch 8: 1.37x ->
    /// 1.25x the W8A16 time, Zen 5, 48 KiB of L1 data: the four input rows take 32 KiB).
    /// </summary>
    private const int WideSliceBytes = 512;

    /// <summary>Weight rows per work item of the field kernel, which bounds its buffer of partial sums.</summary>
    private const int FieldChunkRows = 256;

    /// <summary>How many weight rows ahead the sliced field kernel prefetches.</summary>
    private const int FieldPrefetchRows = 4;


    /// <summary>The field kernel on AVX-512: 16 dword lanes per 64 packed bytes; one to four input rows per pass.</summary>
    internal sealed class Field512Kernel() : MatMulKernel("field-512", KernelIsa.Avx512, WeightFormats.Group4 | WeightFormats.Group2,
        "columns a multiple of 64 (4-bit) or 128 (2-bit); a group spans whole 64-byte blocks or whole 4-byte lanes")
    {
        public override bool IsSupported => Avx512F.IsSupported && Avx512DQ.IsSupported && Vector512.IsHardwareAccelerated && Avx2.IsSupported
            && Fma.IsSupported;

        /// <remarks>
        /// Rows may end in half a block (8 lanes: 384 or 896 columns at 2 bits): a pair of rows sums both halves in one
        /// 512-bit vector (<see cref="HalfBlockPair"/>), a single row through the 256-bit tile. Without it those layers ran
        /// field-256 at batch 1 to 3, 1.5-2.4x the W8A16 time.
        /// </remarks>
        protected override bool Fits(in LayerShape shape)
        {
            int block = 16 * 32 / shape.Bits, roundedUp = (shape.InFeatures + block - 1) / block * block;
            return FieldLayoutFits(shape.InFeatures, shape.Bits, shape.GroupSize, lanes: 8)
                && FieldLayoutFits(roundedUp, shape.Bits, shape.GroupSize, lanes: 16);
        }

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override bool UsesGroupSums => true;

        public override bool UsesLaneSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareFieldRows(input, ref args, lanes: 16);

        public override int RowsPerChunk(in LayerShape shape, int batch) => FieldRowsPerChunk(shape);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkFields;
    }

    /// <summary>Rows per work item of the field kernels: about 256 KiB of packed weights, at most <see cref="FieldChunkRows"/>.</summary>
    private static int FieldRowsPerChunk(in LayerShape shape) => PackedRowsPerChunk(shape, FieldChunkRows);

    /// <summary>
    /// The layout rule of the field kernels at any width: whole blocks (<paramref name="lanes"/> dwords) per row, and
    /// groups either spanning whole blocks or splitting a block into whole lanes.
    /// </summary>
    private static bool FieldLayoutFits(int inFeatures, int bits, int groupSize, int lanes)
    {
        if (bits is not (2 or 4)) return false;
        int perLane = 32 / bits, block = lanes * perLane;
        return inFeatures % block == 0 && (groupSize % block == 0 || (block % groupSize == 0 && groupSize >= perLane));
    }

    /// <summary>Arranges every input row for a field kernel of <paramref name="lanes"/> lanes (see <see cref="PrepareFieldInput"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PrepareFieldRows(float* input, ref KernelArgs args, int lanes)
    {
        int n = args.InFeatures, groups = n / args.GroupSize;
        for (int b = 0; b < args.Batch; b++)
        {
            int laneCount = n * args.Bits / 32;
            args.InputUnscales[b] = PrepareFieldInput(new ReadOnlySpan<float>(input + (nint)b * n, n), args.Bits, args.GroupSize, lanes,
                                                      new Span<float>(args.Input + (nint)b * n, n), new Span<float>(args.GroupSums + (nint)b * groups,
                                                                                                                    groups),
                                                      new Span<float>(args.LaneSums + (nint)b * laneCount, laneCount));
        }
    }

    /// <summary>
    /// Arranges one input row for the field kernel: per block of <paramref name="lanes"/> (16, or 8 on AVX2) lanes x f fields, element k * lanes + l
    /// holds
    /// <c>x[l * f + k] * 2^(e - bits * k)</c>, the top field <c>x[l * f + f - 1] * 2^e</c>; also the group sums and the lane
    /// sums (the f inputs of each dword lane) times 2^e.
    /// Returns <c>2^-e</c>, the factor that undoes the scaling. The weights are masked in place, not shifted down, so field
    /// k converts to <c>q * 2^(bits * k)</c>, exactly; the input carries the inverse power of two. Powers of two are exact,
    /// so the products are the unscaled ones. e brings the largest input near 1, so no product overflows and only inputs
    /// below 2^-100 of the largest can underflow, far under float32's own resolution of the sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe float PrepareFieldInput(ReadOnlySpan<float> x, int bits, int groupSize, int lanes, Span<float> destination,
                                                  Span<float> groupSums,
                                                  Span<float> laneSums)
    {
        float max = MaxMagnitude(x);
        int e = max == 0 || !float.IsFinite(max) ? 0 : Math.Clamp(-MathF.ILogB(max), -100, 100);
        int perLane = 32 / bits, block = lanes * perLane;
        float* factors = stackalloc float[16];
        for (int k = 0; k < perLane; k++) factors[k] = MathF.ScaleB(1f, k == perLane - 1 ? e : e - bits * k);
        float scale = MathF.ScaleB(1f, e);
        fixed (float* px = x, pd = destination, ps = groupSums, pl = laneSums)
        {
            // Each block is a lanes x perLane matrix (row l: the inputs of lane l) written transposed, in 8 x 8 pieces.
            // A row's last block may be a half block of 8 lanes (see Field512Kernel.Fits), arranged as the 8-lane layout.
            for (int start = 0; start < x.Length; start += block)
            {
                int blockLanes = Math.Min(lanes, (x.Length - start) / perLane);
                for (int l0 = 0; l0 < blockLanes; l0 += 8)
                {
                    Vector256<float> sums = default;
                    for (int k0 = 0; k0 < perLane; k0 += 8)
                    {
                        sums += InputArrangement.Transpose8x8(px + start + l0 * perLane + k0, perLane, pd + start + k0 * blockLanes + l0, blockLanes,
                                                              factors + k0);
                    }

                    (sums * Vector256.Create(scale)).Store(pl + start / perLane + l0);
                }
            }

            InputArrangement.GroupSums(px, x.Length, groupSize, ps, scale);
        }

        return MathF.ScaleB(1f, -e);
    }

    /// <summary>The largest |x| (NaNs may be skipped: they reach the output through the products anyway).</summary>
    /// <remarks>Not TensorPrimitives.MaxMagnitude: in System.Numerics.Tensors 10.0.0 it allocates on every call.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float MaxMagnitude(ReadOnlySpan<float> x)
    {
        Vector256<float> max = default;
        int i = 0;
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count) max = Vector256.Max(max, Vector256.Abs(Vector256.Create(x.Slice(i,
            Vector256<float>.Count))));
        float result = 0;
        for (int k = 0; k < Vector256<float>.Count; k++) result = Math.Max(result, max[k]);
        for (; i < x.Length; i++) result = Math.Max(result, Math.Abs(x[i]));
        return result;
    }

    /// <summary>Prefetches <paramref name="bytes"/> bytes (a multiple of 64) into L1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchRun(byte* start, int bytes)
    {
        for (int offset = 0; offset < bytes; offset += 64) Sse.Prefetch0(start + offset);
    }

    private static void ChunkFields(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int groupsPerBlock = 512 / args.Bits / args.GroupSize;
        switch (args.Bits * 100 + groupsPerBlock)
        {
            case 400: case 401: ChunkFields<Bits4, ScalePerBlock>(in args, chunk); break;
            case 402: ChunkFields<Bits4, ScalePer8Lanes>(in args, chunk); break;
            case 404: ChunkFields<Bits4, ScalePer4Lanes>(in args, chunk); break;
            case 408: ChunkFields<Bits4, ScalePer2Lanes>(in args, chunk); break;
            case 416: ChunkFields<Bits4, ScalePerLane>(in args, chunk); break;
            case 200: case 201: ChunkFields<Bits2, ScalePerBlock>(in args, chunk); break;
            case 202: ChunkFields<Bits2, ScalePer8Lanes>(in args, chunk); break;
            case 204: ChunkFields<Bits2, ScalePer4Lanes>(in args, chunk); break;
            case 208: ChunkFields<Bits2, ScalePer2Lanes>(in args, chunk); break;
            default: ChunkFields<Bits2, ScalePerLane>(in args, chunk); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields<TBits, TScale>(in KernelArgs args, int chunk) where TBits : IBits where TScale : IBlockScale
    {
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        if (args.Batch == 1)
        {
            FieldsGemvPairs<TBits, TScale>(in args, start, end);
            if ((end - start) % 2 != 0)
            {
                float y = FieldsRow<TBits, TScale>(in args, end - 1, 0);
                args.Output[end - 1] = args.Bias is null ? y : y + args.Bias[end - 1];
            }

            return;
        }

        FieldsSliced<Wide<TBits, TScale>>(in args, start, end);
    }

    /// <summary>A field kernel for several input rows at one vector width, for <see cref="FieldsSliced{TKernel}"/>.</summary>
    private interface IFieldRows
    {
        /// <summary>Packed bytes per block (one vector of dword lanes).</summary>
        static abstract int BlockBytes { get; }

        /// <summary>Input columns per slice (a multiple of the block).</summary>
        static abstract int SliceColumns(int bits);

        /// <summary>Adds row o's block sums over blocks first..last for input rows row.. (2 or 4 of them) to sums.</summary>
        static abstract void Rows(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums);

        /// <summary>
        /// As <see cref="Rows"/> for the pairs of rows from <paramref name="start"/> (rows o and o + 1 while o + 1 &lt;
        /// <paramref name="end"/>) over the blocks of <paramref name="slice"/>: row o's sums go to
        /// <c>partial[(o - start) * 4..]</c>, row o + 1's 4 floats further. The loop over the pairs is inside the kernel, so
        /// its masks and divisions are set up once per slice, not once per pair.
        /// </summary>
        static abstract void Pairs(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid, float* partial);

        /// <summary><c>sum_g s_g z_g xsum_g</c> for row o and one input row.</summary>
        static abstract float Correction(in KernelArgs args, int o, int row);

        /// <summary><see cref="Correction"/> for rows o and o + 1 and <paramref name="valid"/> input rows from row: row o + 1's at
        /// <c>c[4..]</c>.</summary>
        static abstract void Corrections(in KernelArgs args, int o, int row, int valid, float* c);
    }

    /// <summary>The AVX-512 field kernel (16 lanes).</summary>
    private readonly struct Wide<TBits, TScale> : IFieldRows where TBits : IBits where TScale : IBlockScale
    {
        public static int BlockBytes => 64;

        public static int SliceColumns(int bits) => WideSliceBytes * 8 / bits;

        /// <remarks>Block <c>last - 1</c> may be a row's closing half block (see Field512Kernel.Fits), summed by the 256-bit tile.</remarks>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Rows(in KernelArgs args, int o, int row, int valid, int first, int last, float* sums)
        {
            int full = Math.Min(last, args.InFeatures / (512 / TBits.Bits)), half = 2 * full;
            switch (valid)
            {
                case 2:
                    if (first < full) FieldsRows<TBits, TScale, TwoRows>(in args, o, row, valid, first, full, sums);
                    if (full < last) FieldsRows256<TBits, Half<TScale>, TwoRows>(in args, o, row, valid, half, half + 1, sums);
                    break;
                case 3:
                    if (first < full) FieldsRows<TBits, TScale, ThreeRows>(in args, o, row, valid, first, full, sums);
                    if (full < last) FieldsRows256<TBits, Half<TScale>, ThreeRows>(in args, o, row, valid, half, half + 1, sums);
                    break;
                default:
                    if (first < full) FieldsRows<TBits, TScale, FourRows>(in args, o, row, valid, first, full, sums);
                    if (full < last) FieldsRows256<TBits, Half<TScale>, FourRows>(in args, o, row, valid, half, half + 1, sums);
                    break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Pairs(in KernelArgs args, in FieldSlice slice, int start, int end, int row, int valid, float* partial)
        {
            switch (valid)
            {
                case 2: FieldsRowPairs<TBits, TScale, TwoRows>(in args, in slice, start, end, row, valid, partial); break;
                case 3: FieldsRowPairs<TBits, TScale, ThreeRows>(in args, in slice, start, end, row, valid, partial); break;
                default: FieldsRowPairs<TBits, TScale, FourRows>(in args, in slice, start, end, row, valid, partial); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Correction(in KernelArgs args, int o, int row) => ZeroPointCorrection(in args, o, row);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Corrections(in KernelArgs args, int o, int row, int valid, float* c) => PairCorrections(in args, o, row, valid, c);
    }

    /// <summary>
    /// Several input rows through a field kernel: their whole prepared input (16 KiB per row at 4096 columns) would not
    /// stay in L1, so the columns go in slices (TKernel.SliceColumns), the inner loop over the chunk's weight rows, and
    /// partial sums wait in a small buffer (at most FieldChunkRows x 4 floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FieldsSliced<TKernel>(in KernelArgs args, int start, int end) where TKernel : IFieldRows
    {
        int blockWeights = TKernel.BlockBytes * 8 / args.Bits;
        // A closing half block counts as a block (TKernel sums it).
        int blocks = (args.InFeatures + blockWeights - 1) / blockWeights, sliceBlocks = TKernel.SliceColumns(args.Bits) / blockWeights;
        FieldSlice slice = default;
        slice.RowBytes = args.InFeatures * args.Bits / 8;
        slice.Groups = args.InFeatures / args.GroupSize;
        slice.BlockBytes = TKernel.BlockBytes;
        slice.ScaleBytes = Math.Max(4, sliceBlocks * blockWeights / args.GroupSize * 4);
        float* partial = stackalloc float[FieldChunkRows * 4], corrections = stackalloc float[8];
        for (int b = 0, valid; b < args.Batch; b += valid)
        {
            // Passes of four input rows, the remainder spread so no pass repeats a row (5 = 3 + 2, 6 = 4 + 2, 9 = 3 + 4 + 2).
            valid = Int8MatMul.TileInputRows(args.Batch - b, 4);
            new Span<float>(partial, FieldChunkRows * 4).Clear();
            for (int first = 0; first < blocks; first += sliceBlocks)
            {
                slice.First = first;
                slice.Last = Math.Min(blocks, first + sliceBlocks);
                slice.FirstScale = first * blockWeights / args.GroupSize;
                TKernel.Pairs(in args, in slice, start, end, b, valid, partial);
                if ((end - start) % 2 != 0) TKernel.Rows(in args, end - 1, b, valid, slice.First, slice.Last, partial + (end - 1 - start) * 4);
            }

            for (int o = start; o < end; o += 2)
            {
                int pair = Math.Min(2, end - o);
                if (pair == 2) TKernel.Corrections(in args, o, b, valid, corrections);
                else for (int k = 0; k < valid; k++) corrections[k] = TKernel.Correction(in args, o, b + k);
                for (int r = 0; r < pair; r++)
                {
                    for (int k = 0; k < valid; k++)
                    {
                        float y = (partial[(o + r - start) * 4 + k] - corrections[r * 4 + k]) * args.InputUnscales[b + k];
                        args.Output[(nint)(b + k) * args.OutFeatures + o + r] = args.Bias is null ? y : y + args.Bias[o + r];
                    }
                }
            }
        }
    }

    /// <summary>One column slice of <see cref="FieldsSliced{TKernel}"/>: its blocks, and what the prefetches ahead need.</summary>
    private struct FieldSlice
    {
        /// <summary>The slice's first block and the block after its last (the last may be a closing half block).</summary>
        public int First, Last;

        /// <summary>The scale index of the slice's first weight.</summary>
        public int FirstScale;

        public int Groups, BlockBytes, ScaleBytes;
        public nint RowBytes;
    }

    /// <summary>
    /// Prefetches the slice of the rows a few rows after o: each row's slice is a short run (512 bytes at 4 bits) after a
    /// jump of a whole row, which the hardware prefetcher does not follow in time. Their scales too (2-bit groups of 32: a
    /// quarter of the weights' bytes), or 11008 x 4096 waits on them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchSliceAhead(in KernelArgs args, in FieldSlice slice, int o, int end)
    {
        for (int ahead = o + FieldPrefetchRows; ahead < Math.Min(o + FieldPrefetchRows + 2, end); ahead++)
        {
            PrefetchRun(args.Weights + ahead * slice.RowBytes + (nint)slice.First * slice.BlockBytes, (slice.Last - slice.First) * slice.BlockBytes);
            PrefetchRun((byte*)(args.Scales + (nint)ahead * slice.Groups + slice.FirstScale), slice.ScaleBytes);
        }
    }

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
        float* scaledZeros = args.ScaledZeros + (nint)o * groups, laneSums = args.LaneSums + (nint)row * (n * bits / 32);
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
            if (laneZeros) k0 = Avx512F.FusedMultiplyAdd(TScale.Load(scaledZeros, b, blocksPerGroup), Vector512.Load(laneSums + b * 16), k0);
        }

        if (n % block != 0)
        {
            // The row ends in half a block (see Field512Kernel.Fits): the 256-bit tile sums it.
            int half = 2 * (n / block), halvesPerGroup = Math.Max(1, args.GroupSize / (block / 2));
            float tail = 0;
            FieldsRows256<TBits, Half<TScale>, OneRow>(in args, o, row, 1, half, half + 1, &tail);
            t0 += Vector512.CreateScalar(tail);
            if (laneZeros) k0 += (TScale.LoadHalf(scaledZeros, half, halvesPerGroup) * Vector256.Load(laneSums + half * 8)).ToVector512();
        }

        // The zero points: minus sum_g (s z)_g * xsum_g, lane by lane in the loop or group by group here.
        return laneZeros ? Vector512.Sum((t0 + t1) - k0) * args.InputUnscales[row] : ZeroPointTerm(in args, o, row, t0 + t1);
    }

    /// <summary>
    /// Rows start to end (pairs; an odd last row is left to the caller) against the one input row, results to the output:
    /// two independent chains of work share each input vector load (measured: +15% with the weights in cache, +5-7%
    /// streaming them from memory). The loop over the pairs is inside and holds no call (a call in the loop made the JIT
    /// keep the masks on the stack and reload all fifteen every block), so the masks and the per-layer divisions are set up
    /// once per work item, not once per pair: batch 1 took 10-20% less time (1536x384 4-bit: 1.25x -> 1.02x the W8A16 time).
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
            float* scaledZeros = args.ScaledZeros + (nint)o * groups;
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
                    Sse.Prefetch0(scaledZeros + 2 * groups + line * 16);
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
                    k0 = Avx512F.FusedMultiplyAdd(TScale.Load(scaledZeros, b, blocksPerGroup), laneSum, k0);
                    k1 = Avx512F.FusedMultiplyAdd(TScale.Load(scaledZeros + groups, b, blocksPerGroup), laneSum, k1);
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
                    k0 += (TScale.LoadHalf(scaledZeros, half, halvesPerGroup) * laneSum).ToVector512();
                    k1 += (TScale.LoadHalf(scaledZeros + groups, half, halvesPerGroup) * laneSum).ToVector512();
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
                y0 = Vector512.Sum(t0) - ZeroTermDot<Lanes512, Vector512<float>>(scaledZeros, args.GroupSums, groups);
                y1 = Vector512.Sum(t1) - ZeroTermDot<Lanes512, Vector512<float>>(scaledZeros + groups, args.GroupSums, groups);
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

    /// <summary>
    /// True when one input row's zero-point term is folded in lane by lane, <c>(s z)_lane * (sum of the lane's inputs)</c>,
    /// one FMA per block: on layers with few groups per row the group-by-group loop after the row (a horizontal sum and a
    /// scalar loop per row) took a third of the call (1536 x 384 4-bit: 20.7 us, 13.9 us without it). When the groups fill
    /// whole vectors of <paramref name="lanes"/> the loop has no scalar tail and costs fewer FMAs than one per block, and at
    /// batch 1 it reads the one-byte zero points where the lanes read s z as floats.
    /// </summary>
    private static bool LaneZeroPoints(in KernelArgs args, int lanes)
    {
        int groups = args.InFeatures / args.GroupSize;
        return groups < lanes || groups % lanes != 0;
    }

    /// <summary>Subtracts the zero points, <c>sum_g (s z)_g * xsum_g</c>, from the block sums of one input row and undoes the input's
    /// scaling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroPointTerm(in KernelArgs args, int o, int row, Vector512<float> total) =>
        (Vector512.Sum(total) - ZeroPointCorrection(in args, o, row)) * args.InputUnscales[row];

    /// <summary>
    /// <c>sum_g s_g z_g xsum_g</c> for row o and one input row (in the input's scaling). Reads the one-byte zero points
    /// rather than the float s z: at batch 1 the kernel streams its bytes from memory, and for 2-bit group 32 this is
    /// 0.41 instead of 0.5 bytes per weight. The scales were just read by the block loop and come from L1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroPointCorrection(in KernelArgs args, int o, int row)
    {
        int groups = args.InFeatures / args.GroupSize;
        return args.Offsets is not null ? FloatZeroTerm(args.ScaledZeros + (nint)o * groups, args.GroupSums + (nint)row * groups, groups)
                                        : ByteZeroPointCorrection(in args, o, row);
    }

    /// <summary><see cref="ZeroPointCorrection"/> of a layer without float offsets: from the one-byte zero points.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ByteZeroPointCorrection(in KernelArgs args, int o, int row)
    {
        int groups = args.InFeatures / args.GroupSize, g = 0;
        float* scales = args.Scales + (nint)o * groups, groupSums = args.GroupSums + (nint)row * groups;
        byte* zeros = args.ZeroPoints + (nint)o * groups;
        Vector512<float> sum = default;
        for (; g + 16 <= groups; g += 16)
        {
            Vector512<float> z = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(zeros + g)));
            sum = Avx512F.FusedMultiplyAdd(Vector512.Load(scales + g) * z, Vector512.Load(groupSums + g), sum);
        }

        float correction = Vector512.Sum(sum);
        for (; g < groups; g++) correction += scales[g] * zeros[g] * groupSums[g];
        return correction;
    }

    /// <summary>
    /// <see cref="FloatZeroTerm"/> at one vector width, inlined where the caller's loop must hold no call (the batch-1
    /// field kernels: a call in their loop over rows made the JIT keep the masks on the stack).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ZeroTermDot<TLanes, TV>(float* zeroTerms, float* groupSums, int groups)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        TV sum = TLanes.Zero;
        int g = 0;
        for (; g + TLanes.Count <= groups; g += TLanes.Count) sum = TLanes.MultiplyAdd(TLanes.Load(zeroTerms + g), TLanes.Load(groupSums + g), sum);
        float total = TLanes.Sum(sum);
        for (; g < groups; g++) total += zeroTerms[g] * groupSums[g];
        return total;
    }

    /// <summary>
    /// <c>sum_g zt_g * xsum_g</c> with float zero terms <c>zt = s z + offset</c>: layers with float offsets (loaded from
    /// formats such as GGUF's Q4_K), where the one-byte zero points do not say the whole term.
    /// </summary>
    /// <remarks>Vector loops of its own, not TensorPrimitives.Dot: at batch 1 a call per output row cost 0.2 ms of 1.4 (11008 x 4096).</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static float FloatZeroTerm(float* zeroTerms, float* groupSums, int groups)
    {
        if (Lanes512.IsSupported && groups >= 16) return ZeroTermDot<Lanes512, Vector512<float>>(zeroTerms, groupSums, groups);
        if (Lanes256.IsSupported && groups >= 8) return ZeroTermDot<Lanes256, Vector256<float>>(zeroTerms, groupSums, groups);
        if (Lanes128.IsSupported && groups >= 4) return ZeroTermDot<Lanes128, Vector128<float>>(zeroTerms, groupSums, groups);
        float total = 0;
        for (int g = 0; g < groups; g++) total += zeroTerms[g] * groupSums[g];
        return total;
    }

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
        /// length is an odd number of half blocks ends in one, which the 256-bit tile sums (see <see cref="Half{TScale}"/>).
        /// </summary>
        static abstract Vector256<float> LoadHalf(float* scales, int b, int blocksPerGroup);
    }

    /// <summary>The half-block scales of an AVX-512 scale layout, as the 256-bit field tiles take them.</summary>
    private readonly struct Half<TScale> : IBlockScale256 where TScale : IBlockScale
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
