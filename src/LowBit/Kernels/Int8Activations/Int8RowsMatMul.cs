using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// Int8 activations over rows interleaved 8 at a time (WeightLayout.Rows8): each 256-bit vpdpbusd multiplies one 4-byte
// unit of 8 weight rows (one row per int32 lane) by the matching 4 activation codes, broadcast. A block of 32 activations
// then costs, per 8 rows, 8 dots (plus the unpacking of 2/4-bit fields), one convert and one scaled add, where the
// row-major kernels pay a dot, a convert and a scaled add per row and per 32 weights: no horizontal sums at the end either
// (lane r is output row r), and 8 outputs go out as one vector.
// Per-channel int8 is stored as q + 128 (vpdpbusd wants unsigned bytes); each block's integer sum starts at
// -128 * sum(xq), so it is the exact sum xq * q the contract asks for. Group-wise codes are unsigned already; field k of
// each packed byte meets the activation codes arranged so that, per unit, the codes of field k come 4 at a time, and the
// zero terms (s z + offset) come out once per group with the dequantized group sums of the codes, as in the row-major kernels.
internal static unsafe partial class Int8RowsMatMul
{
    /// <summary>What the interleaved-row kernels share: the layout (Rows8 or Rows16), its rule, the activation scratch and the row chunks.</summary>
    internal abstract class RowsKernel(string name, KernelIsa isa, WeightFormats formats, WeightLayout layout = WeightLayout.Rows8)
        : MatMulKernel(name, isa, formats,
                       $"columns and groups multiples of 32; weights interleaved {RowInterleave.RowsOf(layout)} rows at a time",
                       ActivationPrecision.Int8)
    {
        public override WeightLayout Layout => layout;

        protected override bool Fits(in LayerShape shape) =>
            shape.InFeatures % ActivationQuantizer.BlockSize == 0 && shape.GroupSize % ActivationQuantizer.BlockSize == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => ScratchFloats(shape.InFeatures, batch);

        public override void Prepare(float* input, ref KernelArgs args) => Quantize(input, ref args);

        public override int RowsPerChunk(in LayerShape shape, int batch) =>
            Math.Max(RowGranularity, LowBitMatMul.PackedRowsPerChunk(shape, 1024) & ~(RowGranularity - 1));

        public override int RowGranularity { get; } = RowInterleave.RowsOf(layout);
    }

    /// <summary>Int8 activations, AVX-VNNI at 256 bits, over <see cref="WeightLayout.Rows8"/>: per-channel int8 and 2/4/8-bit groups.</summary>
    internal sealed class Vnni256Kernel() : RowsKernel("int8act-rows8-vnni-256", KernelIsa.AvxVnni,
                                                        WeightFormats.Int8PerChannel | WeightFormats.Grouped)
    {
        public override bool IsSupported => AvxVnni.IsSupported && Fma.IsSupported;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format switch
        {
            WeightFormat.Int8PerChannel => &Int8PairChunk,
            WeightFormat.Group4 => &GroupChunk<VnniTiles, Int8ActivationMatMul.FourBitCodes>,
            WeightFormat.Group2 => &GroupChunk<VnniTiles, Int8ActivationMatMul.TwoBitCodes>,
            _ => &GroupChunk<VnniTiles, Int8ActivationMatMul.Int8Codes>,   // 8-bit groups: the codes' width is all the chunk asks
        };
    }

    /// <summary>The register tiles of one instruction set: TRows (1-4) input rows from b against one group of 8 weight rows.</summary>
    private interface ITiles
    {
        static abstract void Int8<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector256<float> y0, out Vector256<float> y1,
                                         out Vector256<float> y2, out Vector256<float> y3) where TRows : IRows;

        static abstract void Group<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                  out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
            where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows;
    }

    private readonly struct VnniTiles : ITiles, IBlockSum
    {
        public static void Int8<TRows>(byte* w, int n, in Scratch scratch, int b, out Vector256<float> y0, out Vector256<float> y1,
                                       out Vector256<float> y2, out Vector256<float> y3) where TRows : IRows
        {
            sbyte* x = scratch.Codes + b * scratch.CodeStride;
            float* sx = scratch.Scales + b * scratch.Stride;
            int* start = scratch.Starts + b * scratch.Stride;
            if (TRows.Count == 1)
            {
                y0 = Int8Gemv(w, n, x, sx, start);
                y1 = y2 = y3 = default;
            }
            else
            {
                Int8Tile<TRows>(w, n, x, scratch.CodeStride, sx, start, scratch.Stride, b == 0, out y0, out y1, out y2, out y3);
            }
        }

        public static void Group<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
            where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
        {
            if (TRows.Count == 1)
            {
                y0 = GroupGemv<VnniTiles, TCodes>(in args, in scratch, b, w, scales, zeroTerms);
                y1 = y2 = y3 = default;
                return;
            }

            GroupTile<TCodes, TRows>(in args, in scratch, b, w, scales, zeroTerms, out y0, out y1, out y2, out y3);
        }

        /// <summary>Fields masked where they lie (4-bit: q and 16 q; 2-bit: 16 q and 64 q), four dot chains of two dots each.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Sum<TCodes>(byte* w, sbyte* x) where TCodes : Int8ActivationMatMul.ICodes
        {
            Vector256<byte> low = Vector256.Create((byte)0x0F), high = Vector256.Create((byte)0xF0);
            Vector256<byte> middle = Vector256.Create((byte)0x30), top = Vector256.Create((byte)0xC0);
            // Eight field vectors, field i meeting codes 4i to 4i + 3; even ones go to chains a (4-bit: q; 2-bit: 16 q), odd
            // ones to chains b (16 q; 64 q), as Combine expects.
            Vector256<byte> f0, f1, f2, f3, f4, f5, f6, f7;
            if (TCodes.Bits == 4)
            {
                Vector256<byte> v0 = Vector256.Load(w), v1 = Vector256.Load(w + 32), v2 = Vector256.Load(w + 64), v3 = Vector256.Load(w + 96);
                (f0, f1, f2, f3) = (v0 & low, v0 & high, v1 & low, v1 & high);
                (f4, f5, f6, f7) = (v2 & low, v2 & high, v3 & low, v3 & high);
            }
            else if (TCodes.Bits == 2)
            {
                Vector256<byte> v = Vector256.Load(w), u = Vector256.Load(w + 32);
                Vector256<byte> vUp = Avx2.ShiftLeftLogical(v.AsUInt16(), 4).AsByte(), uUp = Avx2.ShiftLeftLogical(u.AsUInt16(), 4).AsByte();
                (f0, f1, f2, f3) = (vUp & middle, vUp & top, v & middle, v & top);
                (f4, f5, f6, f7) = (uUp & middle, uUp & top, u & middle, u & top);
            }
            else
            {
                (f0, f1, f2, f3) = (Vector256.Load(w), Vector256.Load(w + 32), Vector256.Load(w + 64), Vector256.Load(w + 96));
                (f4, f5, f6, f7) = (Vector256.Load(w + 128), Vector256.Load(w + 160), Vector256.Load(w + 192), Vector256.Load(w + 224));
            }

            Vector256<int> a0 = Dot(Dot(default, f0, x), f4, x + 16), b0 = Dot(Dot(default, f1, x + 4), f5, x + 20);
            Vector256<int> a1 = Dot(Dot(default, f2, x + 8), f6, x + 24), b1 = Dot(Dot(default, f3, x + 12), f7, x + 28);
            return Combine<TCodes>(a0 + a1, b0 + b1);
        }
    }

    /// <summary>
    /// How far ahead (bytes) the first pass over a group of 8 rows (input rows 0-3, at every batch) fetches its weights; later
    /// passes find them in L1. A group is one stream, but the hardware prefetcher alone left 4-bit GEMV from DRAM at 0.54x
    /// int8act-512 (which fetches ahead) on 2048x5632, and batch 8 on Zen 5 (11008x4096, weights from DRAM) at 0.76x
    /// int8-tiles-512 for int8 and 0.98x field-512 for 4-bit, where fetching ahead gives 1.36-1.42x and 1.73x (layers in
    /// cache: the same, or 4-8% slower for the extra instructions). 16 KiB, the exact GEMV's distance: on Zen 5 (11008x4096
    /// from DRAM, batch 1, in-process) 2 KiB near and 64 KiB far, the Xeon's choice, left 4-bit at 45-48 G weights/s,
    /// 2-bit at 50-52 and a DRAM stream of int8 at 36-38, where 16 KiB and 32 KiB give 58, 80-82 and 56 (in cache the same).
    /// </summary>
    private const int PrefetchBytes = 16 * 1024;

    /// <summary>
    /// How far ahead (bytes) the same pass also fetches its weights into L2: a second run of requests in flight beside the
    /// near one, as a second stream would be (Xeon, 11008 x 4096 from DRAM, ONNX Runtime's harness, with 2 KiB near: 64 KiB
    /// far gave 4-bit 11-15% more weights per second, 2-bit 3-15%; 16 KiB less, 256 KiB as much. Zen 5 with 16 KiB near:
    /// 32 KiB far 2-bit 55-58 G weights/s, 64 KiB 49-51, 4-bit the same; not measured again on the Xeon).
    /// </summary>
    private const int FarPrefetchBytes = 32 * 1024;

    /// <summary>Fetches the <paramref name="bytes"/> (a multiple of 64) at <paramref name="weights"/> + <see cref="PrefetchBytes"/> into L1
    /// and at + <see cref="FarPrefetchBytes"/> into L2 (x64 only: .NET 10 has no prefetch on Arm64). Prefetches never fault, so the
    /// last rows may point past the weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchAhead(byte* weights, int bytes)
    {
        if (!Sse.IsSupported) return;
        for (int line = 0; line < bytes; line += 64)
        {
            Sse.Prefetch0(weights + PrefetchBytes + line);
            Sse.Prefetch1(weights + FarPrefetchBytes + line);
        }
    }

    /// <summary>
    /// How far ahead (bytes) the int8 GEMV (<see cref="Int8Gemv"/>, one input row) fetches its weights into L1, and only there:
    /// its loop reads a block of 256 bytes in 8 dots, few instructions per line, and <see cref="PrefetchAhead"/>'s second run
    /// of requests into L2 cost more than it brought. Zen 5, one thread, int8 weights streamed over many layers (24 of
    /// 4096x4096 or 80 of 2048x2048, as a decoder reads them): 16 KiB into L1 with 32 KiB into L2 29.2-30.9 G weights/s,
    /// 12 KiB L1 only 32.0-34.0, 8 KiB 34.2-35.0, none about 33; one 32768x4096 layer after a read flush 28.3-31.5 against
    /// 31.9-36.2; in cache 1.0-1.2x (4096x4096, 2048x2048, 768x3072), but 0.90-0.96x on 11008x4096 (45 MB: part L3, part DRAM).
    /// On AMD CPUs only (<see cref="KernelRegistry.Amd"/>): Intel's were measured with <see cref="PrefetchAhead"/> and keep it.
    /// </summary>
    private const int GemvPrefetchBytes = 8 * 1024;

    /// <summary>Fetches the 256 bytes of a block ahead of <paramref name="block"/>: into L1 only, <see cref="GemvPrefetchBytes"/>
    /// ahead, on AMD; as <see cref="PrefetchAhead"/> elsewhere (x64 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchGemv(byte* block)
    {
        if (!Sse.IsSupported) return;
        if (!KernelRegistry.Amd)
        {
            PrefetchAhead(block, 256);
            return;
        }

        for (int line = 0; line < 256; line += 64) Sse.Prefetch0(block + GemvPrefetchBytes + line);
    }

    /// <summary>Most bytes of float scales a chunk makes from Half ones once per row group, on its stack (the Rows16 kernel too).</summary>
    private const int ConvertedScaleBytes = 32 * 1024;

    /// <summary>Input rows per register tile: 4 rows x 2 integer chains + 4 float sums + a weight and a code vector fit 16 registers.</summary>
    private const int TileRows = 4;

    /// <summary>Bytes per row of codes: the features rounded up to 64, so every row starts on a cache line.</summary>
    private static int CodeBytes(int inFeatures) => (inFeatures + 63) & ~63;

    /// <summary>
    /// Per input row and block: its scale sx; its integer start -128 * sum(xq) (per-channel int8); per group the dequantized
    /// sum of its codes <c>sum_(blocks in g) sx * sum(xq)</c> (group-wise); each array with 16 spare.
    /// </summary>
    private static int BlockStride(int inFeatures) => inFeatures / ActivationQuantizer.BlockSize + 16;

    /// <summary>Scratch per call, in floats: per input row its codes, block scales, block starts and group sums.</summary>
    internal static long ScratchFloats(int inFeatures, int batch) => (long)batch * (CodeBytes(inFeatures) / 4 * 2 + 3 * BlockStride(inFeatures));

    /// <summary>Where the scratch keeps each part, for one call.</summary>
    private readonly struct Scratch
    {
        public readonly sbyte* Codes;
        public readonly float* Scales, GroupSums;
        public readonly int* Starts;
        public readonly nint CodeStride, Stride;

        public Scratch(in KernelArgs args)
        {
            CodeStride = CodeBytes(args.InFeatures);
            Stride = BlockStride(args.InFeatures);
            Codes = args.Codes;
            Scales = args.LaneScales;
            Starts = (int*)(Scales + args.Batch * Stride);
            GroupSums = (float*)(Starts + args.Batch * Stride);
        }
    }

    /// <summary>
    /// Quantizes every input row per block of 32 (ActivationQuantizer) into the scratch at <c>args.Input</c>, arranges the
    /// codes for 2/4-bit fields, and fills the block starts and group sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quantize(float* input, ref KernelArgs args)
    {
        int n = args.InFeatures, blocks = n / ActivationQuantizer.BlockSize;
        nint codeStride = CodeBytes(n), stride = BlockStride(n);
        sbyte* natural = (sbyte*)args.Input, codes = natural + args.Batch * codeStride;
        args.Codes = args.Bits == 8 ? natural : codes;
        args.LaneScales = (float*)(codes + args.Batch * codeStride);
        var scratch = new Scratch(in args);
        for (int b = 0; b < args.Batch; b++)
        {
            sbyte* row = natural + b * codeStride;
            float* sx = scratch.Scales + b * stride, groupSums = scratch.GroupSums + b * stride;
            int* start = scratch.Starts + b * stride;
            ActivationQuantizer.QuantizeRow(input + (nint)b * n, n, row, sx, start);
            if (args.Bits != 8) ActivationQuantizer.Arrange(row, codes + b * codeStride, n, 32 / args.Bits, 8 / args.Bits);
            ActivationQuantizer.GroupSums(sx, start, blocks, args.GroupSize, n / args.GroupSize, groupSums);

            for (int k = 0; k < blocks; k++) start[k] *= -128;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8Chunk<TTiles>(void* state, int chunk) where TTiles : ITiles
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int first = chunk * args.RowsPerChunk, end = Math.Min(first + args.RowsPerChunk, args.OutFeatures);
        Int8Groups<TTiles>(in args, new Scratch(in args), first, end);
    }

    /// <summary>
    /// Per-channel int8 on AVX-VNNI: from 2 input rows on, two groups of 8 rows at a time (<see cref="Int8PairTile{TRows}"/>),
    /// then a last lone group as <see cref="Int8Chunk{TTiles}"/> runs it; one input row as that does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8PairChunk(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int o = chunk * args.RowsPerChunk, end = Math.Min(o + args.RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        var scratch = new Scratch(in args);
        // The float sums on a cache line of their own: stackalloc aligns to 16 bytes, and sums split across two lines ran the
        // tile at 0.75x in some processes.
        byte* sums = stackalloc byte[2 * TileRows * 32 + 63];
        var f = (Vector256<float>*)(((nint)sums + 63) & ~(nint)63);
        // The first pass fetches the pair of groups a whole number of pairs ahead into L2 (as the Rows16 kernel fetches its
        // row groups: distances within the pair would land in its second group, being read).
        nint ahead = WholeGroups(FarPrefetchBytes, (nint)2 * RowInterleave.Rows * n);
        for (; args.Batch > 1 && o + 2 * RowInterleave.Rows <= end; o += 2 * RowInterleave.Rows)
        {
            byte* weights = args.Weights + (nint)o * n;
            for (int b = 0, rows; b < args.Batch; b += rows)
            {
                rows = Int8WeightMatMul.TileInputRows(args.Batch - b, TileRows);
                switch (rows)
                {
                    case 2: Int8PairTile<TwoRows>(weights, n, ahead, in scratch, b, f); break;
                    case 3: Int8PairTile<ThreeRows>(weights, n, ahead, in scratch, b, f); break;
                    default: Int8PairTile<FourRows>(weights, n, ahead, in scratch, b, f); break;   // (never one row: TileInputRows leaves none)
                }

                Finish(in args, o, b, rows, f[0], f[1], f[2], f[3], args.Scales + o);
                Finish(in args, o + RowInterleave.Rows, b, rows, f[4], f[5], f[6], f[7], args.Scales + o + RowInterleave.Rows);
            }
        }

        Int8Groups<VnniTiles>(in args, in scratch, o, end);
    }

    /// <summary>The groups of 8 int8 weight rows from output row <paramref name="first"/> to <paramref name="end"/>, one at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Int8Groups<TTiles>(in KernelArgs args, in Scratch scratch, int first, int end) where TTiles : ITiles
    {
        int n = args.InFeatures;
        for (int o = first; o < end; o += RowInterleave.Rows)
        {
            // Group o / 8 starts at o / 8 * 8 * n = o * n: chunks start on whole groups.
            byte* weights = args.Weights + (nint)o * n;
            for (int b = 0, rows; b < args.Batch; b += rows)
            {
                rows = Int8WeightMatMul.TileInputRows(args.Batch - b, TileRows);
                Vector256<float> y0, y1, y2, y3;
                switch (rows)
                {
                    case 1: TTiles.Int8<OneRow>(weights, n, in scratch, b, out y0, out y1, out y2, out y3); break;
                    case 2: TTiles.Int8<TwoRows>(weights, n, in scratch, b, out y0, out y1, out y2, out y3); break;
                    case 3: TTiles.Int8<ThreeRows>(weights, n, in scratch, b, out y0, out y1, out y2, out y3); break;
                    default: TTiles.Int8<FourRows>(weights, n, in scratch, b, out y0, out y1, out y2, out y3); break;
                }

                Finish(in args, o, b, rows, y0, y1, y2, y3, args.Scales + o);
            }
        }
    }

    /// <summary>
    /// TRows (2-4) input rows from <paramref name="b"/> against two groups of 8 int8 weight rows (16 output rows), into
    /// <paramref name="f"/> (the first group's TRows vectors at 0-3, the second's at 4-7). Each input row's 4 codes are
    /// broadcast once for two dots, where the one-group tile broadcasts them for one: 2 weight loads and 4 broadcasts per 8
    /// dots instead of 2 and 8. Zen 5, one thread: 1.2-1.3x the one-group tile at batch 8 and 64 (4096x4096, 1536x384,
    /// 384x1536). One integer chain per input row and group (8 chains, as the one-group tile's a and b); the float sums
    /// stay in <paramref name="f"/> (16 vector registers hold the 8 chains and the operands, not 8 float sums more), a
    /// load and a store per block. Each block's sum is one exact integer, so the outputs are the one-group tile's bit for bit.
    /// </summary>
    // Compiled optimized at once, as the one-group tiles.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8PairTile<TRows>(byte* w, int n, nint ahead, in Scratch scratch, int b, Vector256<float>* f) where TRows : IRows
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride, x1 = x0 + codeStride, x2 = x1 + codeStride, x3 = x2 + codeStride;
        float* sx0 = scratch.Scales + b * stride, sx1 = sx0 + stride, sx2 = sx1 + stride, sx3 = sx2 + stride;
        int* start0 = scratch.Starts + b * stride, start1 = start0 + stride, start2 = start1 + stride, start3 = start2 + stride;
        byte* w2 = w + (nint)RowInterleave.Rows * n;   // the second group
        bool prefetch = b == 0;   // the first pass fetches the pair ahead (at ahead, from Int8PairChunk)
        for (int i = 0; i < 2 * TileRows; i++) f[i] = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256, wc = w2 + k * 256;
            if (prefetch)
            {
                for (int line = 0; line < 256; line += 64)
                {
                    Sse.Prefetch1(wb + ahead + line);
                    Sse.Prefetch1(wc + ahead + line);
                }
            }

            nint at = k * 32;
            // a: the first group's chain of each input row, c: the second's; both start at the row's -128 * sum(xq).
            Vector256<int> a0 = Vector256.Create(start0[k]), c0 = a0, a1 = Vector256.Create(start1[k]), c1 = a1, a2 = default, c2 = default,
                a3 = default, c3 = default;
            if (TRows.Count > 2) c2 = a2 = Vector256.Create(start2[k]);
            if (TRows.Count > 3) c3 = a3 = Vector256.Create(start3[k]);
            for (int u = 0; u < 8; u++)
            {
                Vector256<byte> v = Vector256.Load(wb + u * 32), v2 = Vector256.Load(wc + u * 32);
                nint c = at + u * 4;
                PairDots(v, v2, x0 + c, ref a0, ref c0);
                PairDots(v, v2, x1 + c, ref a1, ref c1);
                if (TRows.Count > 2) PairDots(v, v2, x2 + c, ref a2, ref c2);
                if (TRows.Count > 3) PairDots(v, v2, x3 + c, ref a3, ref c3);
            }

            PairSums(a0, c0, sx0[k], f);
            PairSums(a1, c1, sx1[k], f + 1);
            if (TRows.Count > 2) PairSums(a2, c2, sx2[k], f + 2);
            if (TRows.Count > 3) PairSums(a3, c3, sx3[k], f + 3);
        }
    }

    /// <summary>One unit of both groups' 8 rows against one input row's 4 codes, broadcast once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairDots(Vector256<byte> first, Vector256<byte> second, sbyte* codes, ref Vector256<int> a, ref Vector256<int> c)
    {
        Vector256<sbyte> x = Vector256.Create(*(int*)codes).AsSByte();
        a = AvxVnni.MultiplyWideningAndAdd(a, first, x);
        c = AvxVnni.MultiplyWideningAndAdd(c, second, x);
    }

    /// <summary>One input row's block sums of both groups, scaled by the block's <paramref name="sx"/>, into f[0] and f[TileRows].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PairSums(Vector256<int> a, Vector256<int> c, float sx, Vector256<float>* f)
    {
        f[0] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a), Vector256.Create(sx), f[0]);
        f[TileRows] = Fma.MultiplyAdd(Avx.ConvertToVector256Single(c), Vector256.Create(sx), f[TileRows]);
    }

    /// <summary>One input row against 8 int8 weight rows: four independent dot chains per block, so the dots' latency stays hidden.</summary>
    // Compiled optimized at once: a call per tile costs nothing, and tier-0 code of a tile runs 10-30x slower for its first
    // ~100 ms (measured: the first calls of a layer).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Int8Gemv(byte* w, int n, sbyte* x, float* sx, int* start)
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        Vector256<float> f0 = default, f1 = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256;
            sbyte* xb = x + k * 32;
            PrefetchGemv(wb);

            Vector256<int> a0 = Vector256.Create(start[k]), a1 = default, a2 = default, a3 = default;
            a0 = Dot(a0, Vector256.Load(wb), xb);
            a1 = Dot(a1, Vector256.Load(wb + 32), xb + 4);
            a2 = Dot(a2, Vector256.Load(wb + 64), xb + 8);
            a3 = Dot(a3, Vector256.Load(wb + 96), xb + 12);
            a0 = Dot(a0, Vector256.Load(wb + 128), xb + 16);
            a1 = Dot(a1, Vector256.Load(wb + 160), xb + 20);
            a2 = Dot(a2, Vector256.Load(wb + 192), xb + 24);
            a3 = Dot(a3, Vector256.Load(wb + 224), xb + 28);
            Vector256<float> block = Avx.ConvertToVector256Single((a0 + a1) + (a2 + a3));
            // Two float sums, alternating blocks: the scaled adds do not wait on each other either.
            if ((k & 1) == 0) f0 = Fma.MultiplyAdd(block, Vector256.Create(sx[k]), f0);
            else f1 = Fma.MultiplyAdd(block, Vector256.Create(sx[k]), f1);
        }

        return f0 + f1;
    }

    /// <summary>TRows (2-4) input rows against 8 int8 weight rows; each weight vector is loaded once for all of them.</summary>
    // Compiled optimized at once: a call per tile costs nothing, and tier-0 code of a tile runs 10-30x slower for its first
    // ~100 ms (measured: the first calls of a layer).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Int8Tile<TRows>(byte* w, int n, sbyte* x0, nint codeStride, float* sx0, int* start0, nint stride, bool prefetch,
                                        out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
        where TRows : IRows
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        sbyte* x1 = x0 + codeStride, x2 = x1 + codeStride, x3 = x2 + codeStride;
        float* sx1 = sx0 + stride, sx2 = sx1 + stride, sx3 = sx2 + stride;
        int* start1 = start0 + stride, start2 = start1 + stride, start3 = start2 + stride;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256;
            if (prefetch) PrefetchAhead(wb, 256);
            nint at = k * 32;
            // Two integer chains per input row (even and odd 4-column steps).
            Vector256<int> a0 = Vector256.Create(start0[k]), b0 = default, a1 = Vector256.Create(start1[k]), b1 = default, a2 = default,
                b2 = default, a3 = default, b3 = default;
            if (TRows.Count > 2) a2 = Vector256.Create(start2[k]);
            if (TRows.Count > 3) a3 = Vector256.Create(start3[k]);
            for (int q = 0; q < 8; q += 2)
            {
                Vector256<byte> even = Vector256.Load(wb + q * 32), odd = Vector256.Load(wb + q * 32 + 32);
                nint c = at + q * 4;
                a0 = Dot(a0, even, x0 + c);
                b0 = Dot(b0, odd, x0 + c + 4);
                a1 = Dot(a1, even, x1 + c);
                b1 = Dot(b1, odd, x1 + c + 4);
                if (TRows.Count > 2)
                {
                    a2 = Dot(a2, even, x2 + c);
                    b2 = Dot(b2, odd, x2 + c + 4);
                }

                if (TRows.Count > 3)
                {
                    a3 = Dot(a3, even, x3 + c);
                    b3 = Dot(b3, odd, x3 + c + 4);
                }
            }

            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a0 + b0), Vector256.Create(sx0[k]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a1 + b1), Vector256.Create(sx1[k]), f1);
            if (TRows.Count > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a2 + b2), Vector256.Create(sx2[k]), f2);
            if (TRows.Count > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(a3 + b3), Vector256.Create(sx3[k]), f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupChunk<TTiles, TCodes>(void* state, int chunk) where TTiles : ITiles where TCodes : Int8ActivationMatMul.ICodes
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int first = chunk * args.RowsPerChunk, end = Math.Min(first + args.RowsPerChunk, args.OutFeatures);
        LayerShape shape = LayerShape.Grouped(TCodes.Bits, args.OutFeatures, args.InFeatures, args.GroupSize);
        int rowBytes = args.InFeatures * TCodes.Bits / 8, groups = shape.Groups;
        GroupParameters parameters = args.Parameters;
        nint groupBytes = (nint)RowInterleave.GroupBytes(shape, parameters);
        var scratch = new Scratch(in args);
        // Half scales read by more than one tile: made floats once per 8 rows (on a stack buffer, cache-line aligned), not once
        // per tile; the tiles then read floats (their own copy of the arguments says so).
        bool convertOnce = parameters.HalfScales && args.Batch > TileRows && groups * RowInterleave.Rows * sizeof(float) <= ConvertedScaleBytes;
        byte* convertBuffer = stackalloc byte[convertOnce ? groups * RowInterleave.Rows * sizeof(float) + 63 : 0];
        float* converted = (float*)(((nint)convertBuffer + 63) & ~(nint)63);
        KernelArgs tileArgs = args;
        if (convertOnce) tileArgs.Parameters = parameters with { HalfScales = false };
        for (int o = first; o < end; o += RowInterleave.Rows)
        {
            byte* weights = args.Weights + o / RowInterleave.Rows * groupBytes;
            // After the codes: the scales (float, or Half: GroupScales8), then the zero terms (float, with offsets) or the zero
            // points (bytes, or none: one for the layer).
            float* scales = (float*)(weights + RowInterleave.Rows * rowBytes);
            float* zeroTerms = (float*)((byte*)scales + RowInterleave.Rows * groups * parameters.ScaleBytes);
            if (convertOnce) scales = HalvesToSingles((short*)scales, converted, groups * RowInterleave.Rows);

            for (int b = 0, rows; b < args.Batch; b += rows)
            {
                rows = Int8WeightMatMul.TileInputRows(args.Batch - b, TileRows);
                Vector256<float> y0, y1, y2, y3;
                switch (rows)
                {
                    case 1:
                        TTiles.Group<TCodes, OneRow>(in tileArgs, in scratch, b, weights, scales, zeroTerms, out y0, out y1, out y2, out y3);
                        break;
                    case 2:
                        TTiles.Group<TCodes, TwoRows>(in tileArgs, in scratch, b, weights, scales, zeroTerms, out y0, out y1, out y2, out y3);
                        break;
                    case 3:
                        TTiles.Group<TCodes, ThreeRows>(in tileArgs, in scratch, b, weights, scales, zeroTerms, out y0, out y1, out y2,
                                                            out y3); break;
                    default:
                        TTiles.Group<TCodes, FourRows>(in tileArgs, in scratch, b, weights, scales, zeroTerms, out y0, out y1, out y2,
                                                            out y3); break;
                }

                Finish(in args, o, b, rows, y0, y1, y2, y3, null);
            }
        }
    }

    /// <summary>Group g's scales of 8 rows (AVX2): float, or Half made floats exactly as <see cref="Halves128"/> does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> GroupScales8(in KernelArgs args, float* scales, int g) => args.Parameters.HalfScales
        ? ((Avx2.ConvertToVector256Int32(Vector128.Load((short*)scales + g * RowInterleave.Rows)) << 13)
           & Vector256.Create(unchecked((int)0x8FFF_FFFF))).AsSingle() * Vector256.Create(0x7780_0000).AsSingle()   // 2^112
        : Vector256.Load(scales + g * RowInterleave.Rows);

    /// <summary>
    /// <paramref name="count"/> (a multiple of 8) Half scales as floats into <paramref name="singles"/>: a row group's, made
    /// once for all the tiles that read them (Rows8; the 16-row kernel converts 16 at a time).
    /// </summary>
    // Compiled optimized at once, as the tiles: its tier-0 code ran batch 8 at half speed.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float* HalvesToSingles(short* halves, float* singles, int count)
    {
        for (int i = 0; i < count; i += 8)
        {
            (Vector128<int> low, Vector128<int> high) = Vector128.Widen(Vector128.Load(halves + i));
            Singles128(low).Store(singles + i);
            Singles128(high).Store(singles + i + 4);
        }

        return singles;
    }

    /// <summary>
    /// Four Half numbers (the 8 bytes of <paramref name="halves"/>) as floats, exactly, on x64 and Arm64: each sign-extended
    /// to 32 bits and shifted up 13 (exponent and mantissa in a float's places, the sign in bit 31, its copies in bits 28-30
    /// cleared), the exponent re-based by a multiply by 2^112 (subnormals too).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Halves128(long halves) => Singles128(Vector128.WidenLower(Vector128.CreateScalar(halves).AsInt16()));

    /// <summary>Four Half numbers, sign-extended to 32 bits, as floats (<see cref="Halves128"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Singles128(Vector128<int> halves) =>
        ((halves << 13) & Vector128.Create(unchecked((int)0x8FFF_FFFF))).AsSingle() * Vector128.Create(0x7780_0000).AsSingle();   // 2^112

    /// <summary>One block of 32 inputs against 8 group-wise weight rows, in straight-line code: each row's exact sum, a lane per row.</summary>
    private interface IBlockSum
    {
        static abstract Vector256<int> Sum<TCodes>(byte* w, sbyte* x) where TCodes : Int8ActivationMatMul.ICodes;
    }

    /// <summary>
    /// One input row against 8 group-wise weight rows, a block at a time (<typeparamref name="TSum"/>): no loop per unit, no
    /// spills, where the tiles' generic loop ran 1.3-1.8x slower with one row. The sums are the tiles' exactly (exact
    /// integers, then the same float operations).
    /// </summary>
    // Compiled optimized at once, as the tiles.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> GroupGemv<TSum, TCodes>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms)
        where TSum : IBlockSum where TCodes : Int8ActivationMatMul.ICodes
    {
        int groups = args.InFeatures / args.GroupSize, blocksPerGroup = args.GroupSize / ActivationQuantizer.BlockSize;
        sbyte* x = scratch.Codes + b * scratch.CodeStride;
        float* sx = scratch.Scales + b * scratch.Stride, groupSums = scratch.GroupSums + b * scratch.Stride;
        bool prefetch = b == 0;
        Vector256<float> f = default, unused = default;
        for (int g = 0; g < groups; g++)
        {
            Vector256<float> s = GroupScales8(in args, scales, g);
            if (prefetch) PrefetchGroupParameters(scales, zeroTerms, g);
            for (int kb = 0; kb < blocksPerGroup; kb++, w += 32 * TCodes.Bits, x += ActivationQuantizer.BlockSize, sx++)
            {
                if (prefetch) PrefetchAhead(w, 32 * TCodes.Bits);
                f = Fma.MultiplyAdd(Avx.ConvertToVector256Single(TSum.Sum<TCodes>(w, x)), s * Vector256.Create(*sx), f);
            }

            SubtractZeroTerms<OneRow>(in args, zeroTerms, g, s, groupSums, 0, ref f, ref unused, ref unused, ref unused);
        }

        return f;
    }

    /// <summary>
    /// TRows (2-4) input rows from <paramref name="b"/> against 8 group-wise weight rows (one input row: <see cref="GroupGemv{TSum, TCodes}"/>).
    /// Units go in pairs, their fields alternating between two integer chains per input row.
    /// </summary>
    // Compiled optimized at once: a call per tile costs nothing, and tier-0 code of a tile runs 10-30x slower for its first
    // ~100 ms (measured: the first calls of a layer).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupTile<TCodes, TRows>(in KernelArgs args, in Scratch scratch, int b, byte* w, float* scales, float* zeroTerms,
                                                 out Vector256<float> y0, out Vector256<float> y1, out Vector256<float> y2, out Vector256<float> y3)
        where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
    {
        int n = args.InFeatures, groups = n / args.GroupSize, blocksPerGroup = args.GroupSize / ActivationQuantizer.BlockSize;
        int unitWeights = 32 / TCodes.Bits, pairsPerBlock = ActivationQuantizer.BlockSize / unitWeights / 2;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride, sx1 = sx0 + stride, sx2 = sx1 + stride, sx3 = sx2 + stride;
        float* g0 = scratch.GroupSums + b * stride;
        bool prefetch = b == 0;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int k = 0;
        for (int g = 0; g < groups; g++)
        {
            Vector256<float> s = GroupScales8(in args, scales, g);
            if (prefetch) PrefetchGroupParameters(scales, zeroTerms, g);
            for (int kb = 0; kb < blocksPerGroup; kb++, k++)
            {
                byte* wb = w + (nint)k * 32 * TCodes.Bits;   // 32 weights x 8 rows x bits / 8
                if (prefetch) PrefetchAhead(wb, 32 * TCodes.Bits);
                Vector256<int> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
                for (int p = 0; p < pairsPerBlock; p++)
                {
                    // Units v and u: with one input row, u goes to chains a1/b1, so four dots are in flight.
                    nint c = (nint)k * 32 + p * 2 * unitWeights, cu = c + unitWeights;
                    Vector256<byte> v = Vector256.Load(wb + p * 64), u = Vector256.Load(wb + p * 64 + 32);
                    if (TCodes.Bits == 8)
                    {
                        Dots<TRows>(v, u, c, c + 4, x0, codeStride, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3);
                        continue;
                    }

                    // Fields are masked where they lie (4-bit: q and 16 q; 2-bit: 16 q and 64 q, fields 0 and 1 moved up by 4 bits
                    // first), so a and b hold exact multiples of a power of two, shifted out once per block (Combine).
                    if (TCodes.Bits == 4)
                    {
                        Vector256<byte> low = Vector256.Create((byte)0x0F), high = Vector256.Create((byte)0xF0);
                        Vector256<byte> v0 = v & low, v1 = v & high, u0 = u & low, u1 = u & high;
                        Dots<TRows>(v0, v1, c, c + 4, x0, codeStride, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3);
                        Dots<TRows>(u0, u1, cu, cu + 4, x0, codeStride, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3);
                        continue;
                    }

                    // 2-bit: four fields per unit, two at a time (fields 0 and 2 into chain a at 16 q, 1 and 3 into b at 64 q).
                    Vector256<byte> middle = Vector256.Create((byte)0x30), top = Vector256.Create((byte)0xC0);
                    for (int half = 0; half < 2; half++)
                    {
                        Vector256<byte> w0 = half == 0 ? v : u, up = Avx2.ShiftLeftLogical(w0.AsUInt16(), 4).AsByte();
                        nint cw = half == 0 ? c : cu;
                        Vector256<byte> f0w = up & middle, f1w = up & top, f2w = w0 & middle, f3w = w0 & top;
                        Dots<TRows>(f0w, f1w, cw, cw + 4, x0, codeStride, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3);
                        Dots<TRows>(f2w, f3w, cw + 8, cw + 12, x0, codeStride, ref a0, ref b0, ref a1, ref b1, ref a2, ref b2, ref a3, ref b3);
                    }
                }

                f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Combine<TCodes>(a0, b0)), s * Vector256.Create(sx0[k]), f0);
                f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Combine<TCodes>(a1, b1)), s * Vector256.Create(sx1[k]), f1);
                if (TRows.Count > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Combine<TCodes>(a2, b2)), s * Vector256.Create(sx2[k]), f2);
                if (TRows.Count > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Combine<TCodes>(a3, b3)), s * Vector256.Create(sx3[k]), f3);
            }

            SubtractZeroTerms<TRows>(in args, zeroTerms, g, s, g0, stride, ref f0, ref f1, ref f2, ref f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>With one input row (weights streamed from memory): two groups' scales (and zero terms) per line, fetched 8 groups ahead.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchGroupParameters(float* scales, float* zeroTerms, int g)
    {
        if (!Sse.IsSupported || (g & 1) != 0) return;
        Sse.Prefetch0(scales + (g + 16) * RowInterleave.Rows);
        Sse.Prefetch0(zeroTerms + (g + 16) * RowInterleave.Rows);   // (zero points: 8 lines ahead, harmless)
    }

    /// <summary>
    /// Subtracts group g's zero terms (s z + offset, or s times the zero-point bytes) of the 8 rows, times each input row's
    /// dequantized code sum of the group (<paramref name="g0"/>, input rows <paramref name="stride"/> apart).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubtractZeroTerms<TRows>(in KernelArgs args, float* zeroTerms, int g, Vector256<float> s, float* g0, nint stride,
                                                 ref Vector256<float> f0, ref Vector256<float> f1, ref Vector256<float> f2,
                                                 ref Vector256<float> f3) where TRows : IRows
    {
        Vector256<float> z = args.Offsets is not null ? Vector256.Load(zeroTerms + g * RowInterleave.Rows)
            : args.Parameters.OneZeroPoint ? s * Vector256.Create((float)args.Parameters.ZeroPoint)
            : s * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((byte*)zeroTerms + g * RowInterleave.Rows));
        f0 = Fma.MultiplyAddNegated(z, Vector256.Create(g0[g]), f0);
        if (TRows.Count > 1) f1 = Fma.MultiplyAddNegated(z, Vector256.Create(g0[stride + g]), f1);
        if (TRows.Count > 2) f2 = Fma.MultiplyAddNegated(z, Vector256.Create(g0[2 * stride + g]), f2);
        if (TRows.Count > 3) f3 = Fma.MultiplyAddNegated(z, Vector256.Create(g0[3 * stride + g]), f3);
    }

    /// <summary>
    /// A block's exact integer sum from its two chains: 8-bit <c>a + b</c>; 4-bit <c>a + b / 16</c> (b summed 16 q);
    /// 2-bit <c>a / 16 + b / 64</c>. The divisions are exact (arithmetic shifts of exact multiples).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Combine<TCodes>(Vector256<int> a, Vector256<int> b) where TCodes : Int8ActivationMatMul.ICodes => TCodes.Bits switch
    {
        4 => a + Avx2.ShiftRightArithmetic(b, 4),
        2 => Avx2.ShiftRightArithmetic(a, 4) + Avx2.ShiftRightArithmetic(b, 6),
        _ => a + b,
    };

    /// <summary>
    /// Two fields of 8 weight rows (<paramref name="even"/> against the codes at <paramref name="evenAt"/>, <paramref name="odd"/>
    /// at <paramref name="oddAt"/>) into chains a and b of each of TRows input rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dots<TRows>(Vector256<byte> even, Vector256<byte> odd, nint evenAt, nint oddAt, sbyte* x0, nint codeStride,
                                    ref Vector256<int> a0, ref Vector256<int> b0, ref Vector256<int> a1, ref Vector256<int> b1,
                                    ref Vector256<int> a2, ref Vector256<int> b2, ref Vector256<int> a3, ref Vector256<int> b3)
        where TRows : IRows
    {
        a0 = Dot(a0, even, x0 + evenAt);
        b0 = Dot(b0, odd, x0 + oddAt);
        if (TRows.Count > 1)
        {
            a1 = Dot(a1, even, x0 + codeStride + evenAt);
            b1 = Dot(b1, odd, x0 + codeStride + oddAt);
        }

        if (TRows.Count > 2)
        {
            a2 = Dot(a2, even, x0 + 2 * codeStride + evenAt);
            b2 = Dot(b2, odd, x0 + 2 * codeStride + oddAt);
        }

        if (TRows.Count > 3)
        {
            a3 = Dot(a3, even, x0 + 3 * codeStride + evenAt);
            b3 = Dot(b3, odd, x0 + 3 * codeStride + oddAt);
        }
    }

    /// <summary>8 rows' unsigned codes times 4 activation codes broadcast, added to the rows' int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> weights, sbyte* codes) =>
        AvxVnni.MultiplyWideningAndAdd(acc, weights, Vector256.Create(*(int*)codes).AsSByte());

    /// <summary>
    /// Writes the tile's outputs: <c>sum * scale + bias</c> (per-channel int8, <paramref name="scales"/> the rows') or
    /// <c>sum + bias</c> (group-wise, scales applied already); one vector per input row for a whole group of 8 rows, row by
    /// row for the last, partial one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(in KernelArgs args, int o, int b, int rows, Vector256<float> y0, Vector256<float> y1, Vector256<float> y2,
                               Vector256<float> y3, float* scales)
    {
        float* y = args.Output + (nint)b * args.OutFeatures + o;
        for (int i = 0; i < rows; i++, y += args.OutFeatures)
        {
            Vector256<float> sums = i switch { 0 => y0, 1 => y1, 2 => y2, _ => y3 };
            if (o + RowInterleave.Rows <= args.OutFeatures)
            {
                if (scales is not null) sums *= Vector256.Load(scales);
                if (args.Bias is not null) sums += Vector256.Load(args.Bias + o);
                sums.Store(y);
                continue;
            }

            for (int r = 0; r < args.OutFeatures - o; r++)
            {
                float value = sums.GetElement(r);
                if (scales is not null) value *= scales[r];
                y[r] = args.Bias is null ? value : value + args.Bias[o + r];
            }
        }
    }
}
