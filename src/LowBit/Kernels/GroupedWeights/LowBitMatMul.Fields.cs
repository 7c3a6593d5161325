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
    /// 2-bit rows came in runs of 256 bytes, too short to stream from memory (the four input rows' slice takes 32 KiB of a
    /// 48 KiB L1).
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
            // Blocks of 4 lanes (the 128-bit kernel, where 256-bit vectors may not run in hardware) go element by element.
            if (lanes == 4) ArrangeFourLanes(px, x.Length, perLane, factors, scale, pd, pl);
            else for (int start = 0; start < x.Length; start += block)
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

    /// <summary>The 4-lane arrangement of <see cref="PrepareFieldInput"/>, element by element (256-bit vectors may not run in hardware
    /// where the 128-bit kernel does), with the lane sums times <paramref name="scale"/>.</summary>
    private static void ArrangeFourLanes(float* x, int length, int perLane, float* factors, float scale, float* destination, float* laneSums)
    {
        for (int start = 0; start < length; start += 4 * perLane)
        {
            for (int l = 0; l < 4; l++)
            {
                float sum = 0;
                for (int k = 0; k < perLane; k++)
                {
                    float value = x[start + l * perLane + k];
                    sum += value;
                    destination[start + k * 4 + l] = value * factors[k];
                }

                laneSums[start / perLane + l] = sum * scale;
            }
        }
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

        FieldsSliced<Rows512<TBits, TScale>>(in args, start, end);
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
    private readonly struct Rows512<TBits, TScale> : IFieldRows where TBits : IBits where TScale : IBlockScale
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
                    if (full < last) FieldsRows256<TBits, HalfBlockScale<TScale>, TwoRows>(in args, o, row, valid, half, half + 1, sums);
                    break;
                case 3:
                    if (first < full) FieldsRows<TBits, TScale, ThreeRows>(in args, o, row, valid, first, full, sums);
                    if (full < last) FieldsRows256<TBits, HalfBlockScale<TScale>, ThreeRows>(in args, o, row, valid, half, half + 1, sums);
                    break;
                default:
                    if (first < full) FieldsRows<TBits, TScale, FourRows>(in args, o, row, valid, first, full, sums);
                    if (full < last) FieldsRows256<TBits, HalfBlockScale<TScale>, FourRows>(in args, o, row, valid, half, half + 1, sums);
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
            valid = Int8WeightMatMul.TileInputRows(args.Batch - b, 4);
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
}
