using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The int8-activation kernels (ActivationPrecision.Int8). Each input row is quantized once per call to int8 codes per
// block of 32 (ActivationQuantizer) and arranged so that, per step of weights, the bytes of the unpacked weight fields
// line up with the codes they multiply: int8 weights in natural order; 4-bit: the low nibbles meet the even codes, the
// high nibbles the odd ones; 2-bit: field k of each byte meets codes 4j + k. An integer dot product (IDotLanes) then gives,
// per int32 lane, the exact sum over 4 (int8), 8 (4-bit) or 16 (2-bit) consecutive weights, which all lie in one
// activation block and one weight group. Each lane is converted to float once and scaled by its block's sx (times the
// group's s): the float accumulators never see more than one rounding per lane and step. Zero points come out at the
// end with the dequantized group sums of the codes: sum_g (s z)_g * sum_(blocks b in g) sx_b * sum(xq_b). Per-channel
// int8 leaves its one scale per row to the end too, and multiplies |w| by x carrying w's sign (exact, no offset).
internal static unsafe partial class Int8ActivationMatMul
{
    /// <summary>The integer-dot kernel at one SIMD width: GEMV for one input row, tiles of 2 weight rows x up to 4 input rows above.</summary>
    internal sealed class DotKernel<TLanes, TV>(string name) : MatMulKernel(
        name, TLanes.Isa, WeightFormats.Int8PerChannel | WeightFormats.Group4 | WeightFormats.Group2,
        $"columns a multiple of {TLanes.Bytes} / bits x 8; groups of at least 32 that divide a step or are whole steps", ActivationPrecision.Int8)
        where TLanes : unmanaged, IDotLanes<TV> where TV : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        protected override bool Fits(in LayerShape shape)
        {
            int step = StepWeights(shape.Bits, TLanes.Bytes);
            return shape.InFeatures % step == 0
                && (shape.Format == WeightFormat.Int8PerChannel
                    || (shape.GroupSize % ActivationQuantizer.BlockSize == 0 && (shape.GroupSize % step == 0 || step % shape.GroupSize == 0)));
        }

        public override long PreparedFloats(in LayerShape shape, int batch) => ScratchFloats(shape.InFeatures, batch);

        public override bool UsesGroupSums => true;

        public override void Prepare(float* input, ref KernelArgs args) => QuantizeAndArrange(input, ref args, TLanes.Bytes);

        public override int RowsPerChunk(in LayerShape shape, int batch) => LowBitMatMul.PackedRowsPerChunk(shape, 1024);

        public override delegate*<void*, int, void> Body(in LayerShape shape)
        {
            if (shape.Format == WeightFormat.Int8PerChannel) return &Chunk<TLanes, TV, Int8Codes, OneGroup>;
            int groupsPerStep = Math.Max(1, StepWeights(shape.Bits, TLanes.Bytes) / shape.GroupSize);
            return (shape.Format, groupsPerStep) switch
            {
                (WeightFormat.Group4, 1) => &Chunk<TLanes, TV, FourBitCodes, OneGroup>,
                (WeightFormat.Group4, 2) => &Chunk<TLanes, TV, FourBitCodes, TwoGroups>,
                (WeightFormat.Group4, 4) => &Chunk<TLanes, TV, FourBitCodes, FourGroups>,
                (WeightFormat.Group4, _) => &Chunk<TLanes, TV, FourBitCodes, EightGroups>,
                (_, 1) => &Chunk<TLanes, TV, TwoBitCodes, OneGroup>,
                (_, 2) => &Chunk<TLanes, TV, TwoBitCodes, TwoGroups>,
                (_, 4) => &Chunk<TLanes, TV, TwoBitCodes, FourGroups>,
                _ => &Chunk<TLanes, TV, TwoBitCodes, EightGroups>,
            };
        }
    }

    /// <summary>Weight groups per step (1, 2, 4 or 8), a constant of each instantiation: the scale spreading then has no branch.</summary>
    private interface IGroupsPerStep
    {
        static abstract int Count { get; }
    }

    private readonly struct OneGroup : IGroupsPerStep
    {
        public static int Count => 1;
    }

    private readonly struct TwoGroups : IGroupsPerStep
    {
        public static int Count => 2;
    }

    private readonly struct FourGroups : IGroupsPerStep
    {
        public static int Count => 4;
    }

    private readonly struct EightGroups : IGroupsPerStep
    {
        public static int Count => 8;
    }

    /// <summary>How far ahead (in bytes of whole row pairs) the tiles prefetch their weight rows.</summary>
    private const int PrefetchBytes = 32 * 1024;

    /// <summary>Weights per step of one vector of packed bytes: 1, 2 or 4 per byte.</summary>
    internal static int StepWeights(int bits, int bytes) => bytes * 8 / bits;

    /// <summary>Weights per int32 lane of a dot product: four bytes of codes.</summary>
    internal static int LaneWeights(int bits) => 32 / bits;

    /// <summary>
    /// Scratch per call, in floats: per input row the arranged codes (n bytes), the natural codes (n bytes), the lane scales
    /// (at most n / 4), the block scales and sums (n / 32 each), with room to align each row to 64 bytes.
    /// </summary>
    internal static long ScratchFloats(int inFeatures, int batch)
    {
        long blocks = ActivationQuantizer.Blocks(inFeatures);
        return batch * (RowBytes(inFeatures) / 4 * 2 + (inFeatures / 4 + 16) + 2 * (blocks + 16));
    }

    /// <summary>Bytes per arranged code row: the features rounded up to 64 bytes, so every row starts on a cache line.</summary>
    private static int RowBytes(int inFeatures) => (inFeatures + 63) & ~63;

    /// <summary>The format of the weight codes a chunk walks (Int8RowsMatMul's too).</summary>
    internal interface ICodes
    {
        /// <summary>8 (signed, per channel), 4 or 2 (unsigned, group-wise).</summary>
        static abstract int Bits { get; }
    }

    internal readonly struct Int8Codes : ICodes
    {
        public static int Bits => 8;
    }

    internal readonly struct FourBitCodes : ICodes
    {
        public static int Bits => 4;
    }

    internal readonly struct TwoBitCodes : ICodes
    {
        public static int Bits => 2;
    }

    /// <summary>
    /// Quantizes every input row (ActivationQuantizer) and lays the codes out per step for this width; fills the lane
    /// scales (sx of each int32 lane's block) and the dequantized group sums <c>sum_(blocks in g) sx * sum(xq)</c>
    /// (per-channel int8: one "group", the whole row).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void QuantizeAndArrange(float* input, ref KernelArgs args, int vectorBytes)
    {
        int n = args.InFeatures, bits = args.Bits, rowBytes = RowBytes(n), blocks = ActivationQuantizer.Blocks(n);
        int laneWeights = LaneWeights(bits), lanes = n / laneWeights, groups = n / args.GroupSize;
        int step = StepWeights(bits, vectorBytes), perByte = 8 / bits;
        sbyte* arranged = (sbyte*)args.Input, natural = arranged + (nint)args.Batch * rowBytes;
        float* laneScales = (float*)(natural + (nint)args.Batch * rowBytes);
        float* blockScales = laneScales + (nint)args.Batch * (lanes + 16);
        int* blockSums = (int*)(blockScales + (nint)args.Batch * (blocks + 16));
        for (int b = 0; b < args.Batch; b++)
        {
            sbyte* codes = bits == 8 ? arranged + (nint)b * rowBytes : natural + (nint)b * rowBytes;
            float* sx = blockScales + (nint)b * (blocks + 16);
            int* sums = blockSums + (nint)b * (blocks + 16);
            ActivationQuantizer.QuantizeRow(input + (nint)b * n, n, codes, sx, sums);
            if (bits != 8) ActivationQuantizer.Arrange(codes, arranged + (nint)b * rowBytes, n, step, perByte);

            float* laneScale = laneScales + (nint)b * (lanes + 16);
            for (int l = 0; l < lanes; l++) laneScale[l] = sx[l * laneWeights / ActivationQuantizer.BlockSize];
            ActivationQuantizer.GroupSums(sx, sums, blocks, args.GroupSize, groups, args.GroupSums + (nint)b * groups);
        }

        args.Codes = arranged;
        args.LaneScales = laneScales;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TLanes, TV, TCodes, TGroups>(void* state, int chunk)
        where TLanes : unmanaged, IDotLanes<TV> where TV : unmanaged where TCodes : ICodes where TGroups : IGroupsPerStep
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        float* sums = stackalloc float[8];
        // Up to four input rows per pass (two for 2-bit weights on 16 registers: their four unpacked fields per weight row
        // would spill), the remainder spread so no pass repeats a row.
        int widest = TCodes.Bits == 2 && TLanes.Bytes < 64 ? 2 : 4;
        for (int b = 0, rows; b < args.Batch; b += rows)
        {
            rows = Int8WeightMatMul.TileInputRows(args.Batch - b, widest);
            for (int o = start; o < end; o += 2)
            {
                bool pair = o + 1 < end;
                // Only the first pass over the chunk streams it from memory: fetch the next pair's rows ahead (two
                // interleaved streams lose the hardware prefetcher).
                bool prefetch = b == 0;
                switch (rows)
                {
                    case 1: Tile<TLanes, TV, TCodes, TGroups, OneRow>(in args, o, pair, b, prefetch, sums); break;
                    case 2: Tile<TLanes, TV, TCodes, TGroups, TwoRows>(in args, o, pair, b, prefetch, sums); break;
                    case 3: Tile<TLanes, TV, TCodes, TGroups, ThreeRows>(in args, o, pair, b, prefetch, sums); break;
                    default: Tile<TLanes, TV, TCodes, TGroups, FourRows>(in args, o, pair, b, prefetch, sums); break;
                }

                for (int r = 0; r < (pair ? 2 : 1); r++)
                {
                    for (int i = 0; i < rows; i++) args.Output[(nint)(b + i) * args.OutFeatures + o + r] = Finish<TLanes, TV>(in args, o + r, b + i,
                                                                                                                              sums[r * 4 + i]);
                }
            }
        }
    }

    /// <summary>
    /// Weight rows o and o + 1 (o repeated when <paramref name="pair"/> is false; its second result is then ignored) against
    /// TRows input rows from b: writes the scaled, not yet corrected, sums to <c>sums[r * 4 + i]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TLanes, TV, TCodes, TGroups, TRows>(in KernelArgs args, int o, bool pair, int b, bool prefetch, float* sums)
        where TLanes : unmanaged, IDotLanes<TV> where TV : unmanaged where TCodes : ICodes where TGroups : IGroupsPerStep where TRows : IRows
    {
        int n = args.InFeatures, bits = TCodes.Bits, bytes = TLanes.Bytes, step = StepWeights(bits, bytes), laneCount = bytes / 4;
        int rowBytesPacked = n * bits / 8, groups = n / args.GroupSize, lanes = n / LaneWeights(bits), steps = n / step;
        // The group scales advance by TGroups.Count every stepsPerGroup steps (groups no wider than a step: every step).
        int stepsPerGroup = bits == 8 ? 1 : Math.Max(1, args.GroupSize / step), untilNextGroup = stepsPerGroup;
        byte* w0 = args.Weights + (nint)o * rowBytesPacked, w1 = pair ? w0 + rowBytesPacked : w0;
        // Two interleaved row streams lose the hardware prefetcher: fetch the same columns about 32 KiB of rows ahead
        // (11008 x 4096 at batch 1: about 30% more weights per second than fetching 2 rows ahead).
        nint prefetchAhead = Math.Max(2, PrefetchBytes / rowBytesPacked & ~1) * (nint)rowBytesPacked;
        float* s0 = args.Scales + (nint)o * groups, s1 = pair ? s0 + groups : s0;
        // The scales and zero points of the rows ahead too, one line per weight line until they are covered.
        nint rowsAhead = prefetchAhead / rowBytesPacked, paramAt = 0, scaleBytes = bits == 8 ? 0 : (nint)groups * 4;
        byte* sAhead0 = (byte*)(s0 + rowsAhead * groups), sAhead1 = (byte*)(s1 + rowsAhead * groups);
        // Layers with float offsets read the float zero terms s z + m instead of the zero-point bytes (see Finish).
        bool floatZeros = args.Offsets is not null;
        nint zeroBytes = floatZeros ? scaleBytes : groups, zeroRow = floatZeros ? (nint)groups * 4 : groups;
        byte* zAhead0 = (floatZeros ? (byte*)args.ZeroTerms : args.ZeroPoints) + (o + rowsAhead) * zeroRow, zAhead1 = pair ? zAhead0 + zeroRow
            : zAhead0;
        nint codeStride = RowBytes(n), scaleStride = lanes + 16;
        sbyte* x0 = args.Codes + b * codeStride, x1 = x0 + codeStride, x2 = x1 + codeStride, x3 = x2 + codeStride;
        float* l0 = args.LaneScales + b * scaleStride, l1 = l0 + scaleStride, l2 = l1 + scaleStride, l3 = l2 + scaleStride;
        TV a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        for (int s = 0; s < steps; s++)
        {
            nint at = (nint)s * bytes, codeAt = (nint)s * step, laneAt = (nint)s * laneCount;
            // (No prefetch instruction on Arm64 in .NET 10: there the hardware prefetcher has to do.)
            if (Sse.IsSupported && prefetch && (at & 63) == 0)
            {
                Sse.Prefetch0(w0 + prefetchAhead + at);
                Sse.Prefetch0(w1 + prefetchAhead + at);
                if (paramAt < scaleBytes)
                {
                    Sse.Prefetch0(sAhead0 + paramAt);
                    Sse.Prefetch0(sAhead1 + paramAt);
                    if (paramAt < zeroBytes)
                    {
                        Sse.Prefetch0(zAhead0 + paramAt);
                        Sse.Prefetch0(zAhead1 + paramAt);
                    }

                    paramAt += 64;
                }
            }

            // Row 0's and row 1's fields, and their per-lane weight scales (group-wise formats).
            Row<TLanes, TV, TCodes>(w0 + at, out TV p0, out TV p1, out TV p2, out TV p3);
            Row<TLanes, TV, TCodes>(w1 + at, out TV q0, out TV q1, out TV q2, out TV q3);
            TV ws0 = default, ws1 = default;
            if (bits != 8)
            {
                ws0 = TLanes.SpreadScales(s0, TGroups.Count);
                ws1 = TLanes.SpreadScales(s1, TGroups.Count);
                if (--untilNextGroup == 0)
                {
                    untilNextGroup = stepsPerGroup;
                    s0 += TGroups.Count;
                    s1 += TGroups.Count;
                }
            }

            a00 = Accumulate<TLanes, TV, TCodes>(a00, p0, p1, p2, p3, x0 + codeAt, l0 + laneAt, ws0);
            a10 = Accumulate<TLanes, TV, TCodes>(a10, q0, q1, q2, q3, x0 + codeAt, l0 + laneAt, ws1);
            if (TRows.Count > 1)
            {
                a01 = Accumulate<TLanes, TV, TCodes>(a01, p0, p1, p2, p3, x1 + codeAt, l1 + laneAt, ws0);
                a11 = Accumulate<TLanes, TV, TCodes>(a11, q0, q1, q2, q3, x1 + codeAt, l1 + laneAt, ws1);
            }

            if (TRows.Count > 2)
            {
                a02 = Accumulate<TLanes, TV, TCodes>(a02, p0, p1, p2, p3, x2 + codeAt, l2 + laneAt, ws0);
                a12 = Accumulate<TLanes, TV, TCodes>(a12, q0, q1, q2, q3, x2 + codeAt, l2 + laneAt, ws1);
            }

            if (TRows.Count > 3)
            {
                a03 = Accumulate<TLanes, TV, TCodes>(a03, p0, p1, p2, p3, x3 + codeAt, l3 + laneAt, ws0);
                a13 = Accumulate<TLanes, TV, TCodes>(a13, q0, q1, q2, q3, x3 + codeAt, l3 + laneAt, ws1);
            }
        }

        sums[0] = TLanes.Sum(a00);
        sums[4] = TLanes.Sum(a10);
        if (TRows.Count > 1) { sums[1] = TLanes.Sum(a01); sums[5] = TLanes.Sum(a11); }
        if (TRows.Count > 2) { sums[2] = TLanes.Sum(a02); sums[6] = TLanes.Sum(a12); }
        if (TRows.Count > 3) { sums[3] = TLanes.Sum(a03); sums[7] = TLanes.Sum(a13); }
    }

    /// <summary>Unpacks one step of a weight row into the vectors that meet the arranged code streams.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row<TLanes, TV, TCodes>(byte* packed, out TV f0, out TV f1, out TV f2, out TV f3)
        where TLanes : unmanaged, IDotLanes<TV> where TV : unmanaged where TCodes : ICodes
    {
        TV v = TLanes.Load(packed);
        if (TCodes.Bits == 8)
        {
            f0 = v;
            f1 = TLanes.AbsBytes(v);
            f2 = f3 = default;
        }
        else if (TCodes.Bits == 4)
        {
            f0 = TLanes.LowNibbles(v);
            f1 = TLanes.HighNibbles(v);
            f2 = f3 = default;
        }
        else
        {
            f0 = TLanes.Crumbs(v, 0);
            f1 = TLanes.Crumbs(v, 1);
            f2 = TLanes.Crumbs(v, 2);
            f3 = TLanes.Crumbs(v, 3);
        }
    }

    /// <summary>
    /// One step of one (weight row, input row) pair: the integer dot product of the unpacked fields with the code streams,
    /// converted once per lane and scaled by the lane's sx (times its weight scale, group-wise), into <paramref name="acc"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Accumulate<TLanes, TV, TCodes>(TV acc, TV f0, TV f1, TV f2, TV f3, sbyte* codes, float* laneScales, TV weightScales)
        where TLanes : unmanaged, IDotLanes<TV> where TV : unmanaged where TCodes : ICodes
    {
        int quarter = TLanes.Bytes;
        TV dot = TCodes.Bits == 8 ? TLanes.DotInt8(TLanes.Zero, f0, f1, TLanes.Load(codes))
            : TCodes.Bits == 4 ? TLanes.Dot2(TLanes.Zero, f0, TLanes.Load(codes), f1, TLanes.Load(codes + quarter))
            : TLanes.Dot4(TLanes.Zero, f0, TLanes.Load(codes), f1, TLanes.Load(codes + quarter), f2, TLanes.Load(codes + 2 * quarter), f3,
                          TLanes.Load(codes + 3 * quarter));
        TV scale = TCodes.Bits == 8 ? TLanes.LoadSingle(laneScales) : TLanes.Multiply(TLanes.LoadSingle(laneScales), weightScales);
        return TLanes.MultiplyAdd(TLanes.ToSingle(dot), scale, acc);
    }

    /// <summary>The epilogue of one output: per-channel int8 <c>s_o * sum</c>, group-wise <c>sum - sum_g (s z)_g X_g</c>, plus the bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish<TLanes, TV>(in KernelArgs args, int o, int row, float sum) where TLanes : unmanaged, IDotLanes<TV>
        where TV : unmanaged
    {
        int groups = args.InFeatures / args.GroupSize;
        float* groupSums = args.GroupSums + (nint)row * groups;
        float y = args.Bits == 8 ? args.Scales[o] * sum
            : args.Offsets is not null ? sum - LowBitMatMul.FloatZeroTerm(args.ZeroTerms + (nint)o * groups, groupSums, groups)
            : sum - ZeroCorrection<TLanes, TV>(args.Scales + (nint)o * groups, args.ZeroPoints + (nint)o * groups, groupSums, groups);
        return args.Bias is null ? y : y + args.Bias[o];
    }

    /// <summary>
    /// <c>sum_g (s_g * z_g) * sums[g]</c>, in float lanes, the rest one by one. It reads the one-byte zero points rather
    /// than the layer's float <c>s * z</c> (the same products): at batch 1 the kernel is memory-bound, and at group 32 four
    /// bytes per group are an eighth of the 4-bit weights' traffic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroCorrection<TLanes, TV>(float* scales, byte* zeros, float* sums, int count) where TLanes : unmanaged, IDotLanes<TV>
        where TV : unmanaged
    {
        int lanes = TLanes.Bytes / 4, i = 0;
        TV total = default;
        for (; i + lanes <= count; i += lanes)
        {
            TV zeroTerms = TLanes.Multiply(TLanes.LoadSingle(scales + i), TLanes.LoadBytesAsSingle(zeros + i));
            total = TLanes.MultiplyAdd(zeroTerms, TLanes.LoadSingle(sums + i), total);
        }

        float result = TLanes.Sum(total);
        for (; i < count; i++) result += scales[i] * zeros[i] * sums[i];
        return result;
    }
}
