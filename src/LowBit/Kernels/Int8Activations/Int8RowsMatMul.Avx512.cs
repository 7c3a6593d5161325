using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The interleaved-row kernel at 512 bits, over rows interleaved 16 at a time (WeightLayout.Rows16), for AVX-512BW CPUs:
// .NET 10 exposes vpdpbusd at 256 bits only, and two 256-bit dots per 64 bytes leave Zen 5's 512-bit pipes half used.
// vpmaddubsw multiplies one 4-byte unit of 16 weight rows by 4 activation codes broadcast: 64 products per instruction
// into 32 int16 pair sums, two per row. 2/4-bit fields are shifted down and masked, and a whole block of 32 inputs sums
// in int16 (4-bit: 8 pair sums of at most 2 * 15 * 127, 30480; 2-bit: of at most 762) before one vpmaddwd by ones widens
// it to an int32 lane per row: 9 multiplies per 16 rows and 32 inputs where the Rows8 VNNI kernel takes 16. The block
// sums are exact integers and the float operations per row those of the Rows8 kernels (convert, one scaled add per block,
// the zero terms per group), so the outputs are theirs bit for bit. 8-bit groups and per-channel int8 would overflow int16.
internal static unsafe partial class Int8RowsMatMul
{
    /// <summary>Int8 activations, AVX-512BW (vpmaddubsw + vpmaddwd), over <see cref="WeightLayout.Rows16"/>: 2/4-bit groups.</summary>
    internal sealed class Avx512Kernel() : RowsKernel("int8act-rows16-512", KernelIsa.Avx512, WeightFormats.Group4 | WeightFormats.Group2,
                                                      WeightLayout.Rows16)
    {
        public override bool IsSupported => Avx512BW.IsSupported && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format == WeightFormat.Group4
            ? &GroupChunk512<Int8ActivationMatMul.FourBitCodes>
            : &GroupChunk512<Int8ActivationMatMul.TwoBitCodes>;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupChunk512<TCodes>(void* state, int chunk) where TCodes : Int8ActivationMatMul.ICodes
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        const int rows16 = RowInterleave.Rows16;
        int first = chunk * args.RowsPerChunk, end = Math.Min(first + args.RowsPerChunk, args.OutFeatures);
        LayerShape shape = LayerShape.Grouped(TCodes.Bits, args.OutFeatures, args.InFeatures, args.GroupSize);
        int rowBytes = args.InFeatures * TCodes.Bits / 8, groups = shape.Groups;
        nint groupBytes = (nint)RowInterleave.GroupBytes(shape, args.Parameters, rows16);
        var fetch = new GroupFetch(groupBytes, args.InFeatures);
        var scratch = new Scratch(in args);
        // Half scales read by more than one tile: made floats once per 16 rows (on a stack buffer, cache-line aligned), not
        // once per tile (batch 8 and 64: 3-5% of the time); the tiles then read floats (their own copy of the arguments says so).
        bool convertOnce = args.Parameters.HalfScales && args.Batch > TileRows && groups * rows16 * sizeof(float) <= ConvertedScaleBytes;
        byte* convertBuffer = stackalloc byte[convertOnce ? groups * rows16 * sizeof(float) + 63 : 0];
        float* converted = (float*)(((nint)convertBuffer + 63) & ~(nint)63);
        KernelArgs tileArgs = args;
        if (convertOnce) tileArgs.Parameters = args.Parameters with { HalfScales = false };
        for (int o = first; o < end; o += rows16)
        {
            byte* weights = args.Weights + o / rows16 * groupBytes;
            // After the codes: the scales (float or Half), then the zero terms (float, with offsets) or the zero points (bytes,
            // or none: one for the layer).
            byte* scales = weights + rows16 * rowBytes, zeroTerms = scales + rows16 * groups * args.Parameters.ScaleBytes;
            if (convertOnce)
            {
                // 16 at a time (HalvesToSingles' 128-bit steps ran batch 8 7-17% slower here).
                for (int g = 0; g < groups; g++) Halves512((short*)scales + g * rows16).Store(converted + g * rows16);
                scales = (byte*)converted;
            }

            var group = new RowGroup16(weights, scales, zeroTerms);
            for (int b = 0, rows; b < args.Batch; b += rows)
            {
                rows = Int8WeightMatMul.TileInputRows(args.Batch - b, TileRows);
                Vector512<float> y0, y1, y2, y3;
                switch (rows)
                {
                    case 1:
                        GroupTile512<TCodes, OneRow>(in tileArgs, in scratch, in fetch, in group, b, out y0, out y1, out y2, out y3);
                        break;
                    case 2:
                        GroupTile512<TCodes, TwoRows>(in tileArgs, in scratch, in fetch, in group, b, out y0, out y1, out y2, out y3);
                        break;
                    case 3:
                        GroupTile512<TCodes, ThreeRows>(in tileArgs, in scratch, in fetch, in group, b, out y0, out y1, out y2, out y3);
                        break;
                    default:
                        GroupTile512<TCodes, FourRows>(in tileArgs, in scratch, in fetch, in group, b, out y0, out y1, out y2, out y3);
                        break;
                }

                Finish512(in args, o, b, rows, y0, y1, y2, y3);
            }
        }
    }

    /// <summary>
    /// TRows (1-4) input rows from <paramref name="b"/> against 16 rows of 2/4-bit groups, a block of 32 inputs in
    /// straight-line code: each field shifted down and masked once for all the input rows, its products summed in int16
    /// and widened once per block.
    /// </summary>
    // Compiled optimized at once, as the Rows8 tiles (tier-0 code of a tile runs 10-30x slower for its first ~100 ms).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GroupTile512<TCodes, TRows>(in KernelArgs args, in Scratch scratch, in GroupFetch fetch, in RowGroup16 group, int b,
                                                    out Vector512<float> y0, out Vector512<float> y1, out Vector512<float> y2,
                                                    out Vector512<float> y3)
        where TCodes : Int8ActivationMatMul.ICodes where TRows : IRows
    {
        byte* w = group.Codes, scales = group.Scales, zeroTerms = group.ZeroTerms;
        bool halfScales = args.Parameters.HalfScales;
        const int rows16 = RowInterleave.Rows16;
        int groups = args.InFeatures / args.GroupSize, blocksPerGroup = args.GroupSize / ActivationQuantizer.BlockSize;
        nint codeStride = scratch.CodeStride, stride = scratch.Stride;
        sbyte* x0 = scratch.Codes + b * codeStride;
        float* sx0 = scratch.Scales + b * stride, g0 = scratch.GroupSums + b * stride;
        bool prefetch = b == 0;
        long fetched = 0;
        Vector512<byte> mask = Vector512.Create((byte)((1 << TCodes.Bits) - 1));
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int k = 0;
        for (int g = 0; g < groups; g++)
        {
            Vector512<float> s = halfScales ? Halves512((short*)scales + g * rows16) : Vector512.Load((float*)scales + g * rows16);

            for (int kb = 0; kb < blocksPerGroup; kb++, k++)
            {
                // 32 weights x 16 rows x bits / 8 bytes: four 64-byte units at 4 bits, two at 2 bits.
                byte* wb = w + (nint)k * 64 * TCodes.Bits;
                if (prefetch)
                {
                    // A fixed count of lines per block (a loop the branch predictor learns), from where the even rate has got to:
                    // consecutive blocks' runs overlap a little, and a prefetch of a line already asked for costs next to nothing.
                    byte* at = w + fetch.Ahead + ((nint)(fetched >> 16) & ~63);
                    fetched += fetch.Step;
                    for (int line = 0; line < fetch.Lines; line++) Sse.Prefetch0(at + line * 64);
                }

                sbyte* xb = x0 + (nint)k * 32;

                Vector512<short> a0 = default, a1 = default, a2 = default, a3 = default;
                if (TCodes.Bits == 4)
                {
                    // Unit u holds 8 weights per row: the low fields meet codes 8u to 8u + 3, the high ones 8u + 4 to 8u + 7.
                    FourBitUnit<TRows>(Vector512.Load(wb), mask, xb, codeStride, ref a0, ref a1, ref a2, ref a3);
                    FourBitUnit<TRows>(Vector512.Load(wb + 64), mask, xb + 8, codeStride, ref a0, ref a1, ref a2, ref a3);
                    FourBitUnit<TRows>(Vector512.Load(wb + 128), mask, xb + 16, codeStride, ref a0, ref a1, ref a2, ref a3);
                    FourBitUnit<TRows>(Vector512.Load(wb + 192), mask, xb + 24, codeStride, ref a0, ref a1, ref a2, ref a3);
                }
                else
                {
                    // Unit u holds 16 weights per row: field j meets codes 16u + 4j to 16u + 4j + 3.
                    TwoBitUnit<TRows>(Vector512.Load(wb), mask, xb, codeStride, ref a0, ref a1, ref a2, ref a3);
                    TwoBitUnit<TRows>(Vector512.Load(wb + 64), mask, xb + 16, codeStride, ref a0, ref a1, ref a2, ref a3);
                }

                f0 = Avx512F.FusedMultiplyAdd(Widen512(a0), s * Vector512.Create(sx0[k]), f0);
                if (TRows.Count > 1) f1 = Avx512F.FusedMultiplyAdd(Widen512(a1), s * Vector512.Create(sx0[stride + k]), f1);
                if (TRows.Count > 2) f2 = Avx512F.FusedMultiplyAdd(Widen512(a2), s * Vector512.Create(sx0[2 * stride + k]), f2);
                if (TRows.Count > 3) f3 = Avx512F.FusedMultiplyAdd(Widen512(a3), s * Vector512.Create(sx0[3 * stride + k]), f3);
            }

            SubtractZeroTerms512<TRows>(in args, zeroTerms, g, s, g0, stride, ref f0, ref f1, ref f2, ref f3);
        }

        y0 = f0;
        y1 = f1;
        y2 = f2;
        y3 = f3;
    }

    /// <summary>One 4-bit unit of 16 weight rows (low and high fields) against the codes at <paramref name="codes"/> and + 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourBitUnit<TRows>(Vector512<byte> v, Vector512<byte> mask, sbyte* codes, nint codeStride, ref Vector512<short> a0,
                                           ref Vector512<short> a1, ref Vector512<short> a2, ref Vector512<short> a3) where TRows : IRows
    {
        Accumulate512<TRows>(v & mask, codes, codeStride, ref a0, ref a1, ref a2, ref a3);
        Accumulate512<TRows>(Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask, codes + 4, codeStride, ref a0, ref a1, ref a2, ref a3);
    }

    /// <summary>One 2-bit unit of 16 weight rows (fields 0-3) against the codes at <paramref name="codes"/>, + 4, + 8 and + 12.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TwoBitUnit<TRows>(Vector512<byte> v, Vector512<byte> mask, sbyte* codes, nint codeStride, ref Vector512<short> a0,
                                          ref Vector512<short> a1, ref Vector512<short> a2, ref Vector512<short> a3) where TRows : IRows
    {
        Accumulate512<TRows>(v & mask, codes, codeStride, ref a0, ref a1, ref a2, ref a3);
        Accumulate512<TRows>(Avx512BW.ShiftRightLogical(v.AsUInt16(), 2).AsByte() & mask, codes + 4, codeStride, ref a0, ref a1, ref a2, ref a3);
        Accumulate512<TRows>(Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask, codes + 8, codeStride, ref a0, ref a1, ref a2, ref a3);
        Accumulate512<TRows>(Avx512BW.ShiftRightLogical(v.AsUInt16(), 6).AsByte() & mask, codes + 12, codeStride, ref a0, ref a1, ref a2, ref a3);
    }

    /// <summary>One field of 16 weight rows against 4 codes of each of TRows input rows (<paramref name="codeStride"/> apart),
    /// broadcast, into their int16 pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate512<TRows>(Vector512<byte> field, sbyte* codes, nint codeStride, ref Vector512<short> a0,
                                             ref Vector512<short> a1, ref Vector512<short> a2, ref Vector512<short> a3) where TRows : IRows
    {
        a0 += Avx512BW.MultiplyAddAdjacent(field, Vector512.Create(*(int*)codes).AsSByte());
        if (TRows.Count > 1) a1 += Avx512BW.MultiplyAddAdjacent(field, Vector512.Create(*(int*)(codes + codeStride)).AsSByte());
        if (TRows.Count > 2) a2 += Avx512BW.MultiplyAddAdjacent(field, Vector512.Create(*(int*)(codes + 2 * codeStride)).AsSByte());
        if (TRows.Count > 3) a3 += Avx512BW.MultiplyAddAdjacent(field, Vector512.Create(*(int*)(codes + 3 * codeStride)).AsSByte());
    }

    /// <summary>
    /// 16 Half scales as floats, exactly, in four instructions: each sign-extended to 32 bits and shifted up 13, so its
    /// exponent and mantissa sit in a float's places and its sign in bit 31 (bits 28-30, copies of the sign, cleared); then
    /// the exponent re-based by a multiply by 2^112 (exact, subnormal halves too).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halves512(short* halves)
    {
        Vector512<int> bits = Avx512F.ConvertToVector512Int32(Vector256.Load(halves)) << 13;
        return (bits & Vector512.Create(unchecked((int)0x8FFF_FFFF))).AsSingle() * Vector512.Create(0x7780_0000).AsSingle();   // 2^112
    }

    /// <summary>A block's int16 pair sums as one float per row (int32 first: exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen512(Vector512<short> pairs) =>
        Avx512F.ConvertToVector512Single(Avx512BW.MultiplyAddAdjacent(pairs, Vector512<short>.One));

    /// <summary>Where a group of 16 rows keeps its codes, its scales and its zero terms or zero points, for its tiles.</summary>
    private readonly struct RowGroup16(byte* codes, byte* scales, byte* zeroTerms)
    {
        public readonly byte* Codes = codes, Scales = scales, ZeroTerms = zeroTerms;
    }

    /// <summary>
    /// <paramref name="bytes"/> rounded up to whole row groups of <paramref name="groupBytes"/> (16 rows here, a pair of Rows8
    /// groups in <see cref="Int8PairTile{TRows}"/>): the first pass over a group fetches the same place of the group that far
    /// ahead, as it reads its own (codes, then scales and zero terms, at one rate), so every line of the next groups is asked
    /// for in time. Fetching at fixed distances ahead of the codes, as the Rows8 kernels do, lands in a group's scales and
    /// zero terms at some distances and skips others (Zen 5, 2-bit 11008x4096 from DRAM: 37-75 G weights/s by how they met
    /// the groups, whole groups 78-85). The 16-row kernel fetches into L1 (<see cref="GroupFetch"/>).
    /// </summary>
    private static nint WholeGroups(int bytes, nint groupBytes) => (bytes + groupBytes - 1) / groupBytes * groupBytes;

    /// <summary>
    /// How the 16-row kernel's first pass fetches ahead over groups of <c>groupBytes</c>, worked out once per chunk: the
    /// distance (whole groups, <see cref="WholeGroups"/>), the bytes per block of 32 inputs (in 1/65536 bytes) and the lines
    /// per block, a fixed count that leaves no line out (blocks' starts, rounded down to a line, are at most that many lines
    /// apart). Into L1, a fixed count, against into L2 a variable one (Zen 5, one thread, separate processes): weights from
    /// DRAM (65536x4096 batch 1, caches evicted by reading 256 MB) 4-bit g64 49-54 -> 60-65 G weights/s, g32 42-44 -> 53-55,
    /// 2-bit 80-91 -> 95-96; in cache batch 8 1.0-1.14x, batch 64 the same, batch 1 0.87-0.99x (4-bit 4096x4096 and
    /// 3072x768 ~0.9x: the prefetches' own cost, where the hardware prefetcher alone keeps up from L3). Into L2 with a fixed
    /// count: from DRAM halfway, in cache the same. Decoding TinyLlama Q4_0 (layers from DRAM): +5%.
    /// </summary>
    private readonly struct GroupFetch
    {
        public readonly nint Ahead;
        public readonly long Step;
        public readonly int Lines;

        public GroupFetch(nint groupBytes, int inFeatures)
        {
            Ahead = WholeGroups(FarPrefetchBytes, groupBytes);
            Step = ((long)groupBytes << 16) / (inFeatures / ActivationQuantizer.BlockSize);
            Lines = (int)((Step + (64L << 16) - 1) >> 22);   // the step in lines, rounded up
        }
    }

    /// <summary>
    /// Subtracts group g's zero terms (s z + offset, or s times the zero-point bytes) of the 16 rows, times each input row's
    /// dequantized code sum of the group (<paramref name="g0"/>, input rows <paramref name="stride"/> apart).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubtractZeroTerms512<TRows>(in KernelArgs args, byte* zeroTerms, int g, Vector512<float> s, float* g0, nint stride,
                                                    ref Vector512<float> f0, ref Vector512<float> f1, ref Vector512<float> f2,
                                                    ref Vector512<float> f3) where TRows : IRows
    {
        Vector512<float> z = args.Offsets is not null ? Vector512.Load((float*)zeroTerms + g * RowInterleave.Rows16)
            : args.Parameters.OneZeroPoint ? s * Vector512.Create((float)args.Parameters.ZeroPoint)
            : s * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(zeroTerms + g * RowInterleave.Rows16)));
        f0 = Avx512F.FusedMultiplyAddNegated(z, Vector512.Create(g0[g]), f0);
        if (TRows.Count > 1) f1 = Avx512F.FusedMultiplyAddNegated(z, Vector512.Create(g0[stride + g]), f1);
        if (TRows.Count > 2) f2 = Avx512F.FusedMultiplyAddNegated(z, Vector512.Create(g0[2 * stride + g]), f2);
        if (TRows.Count > 3) f3 = Avx512F.FusedMultiplyAddNegated(z, Vector512.Create(g0[3 * stride + g]), f3);
    }

    /// <summary>
    /// Writes the tile's outputs, <c>sum + bias</c> (the scales are applied already): one vector per input row for a whole
    /// group of 16 rows, row by row for the last, partial one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish512(in KernelArgs args, int o, int b, int rows, Vector512<float> y0, Vector512<float> y1, Vector512<float> y2,
                                  Vector512<float> y3)
    {
        float* y = args.Output + (nint)b * args.OutFeatures + o;
        for (int i = 0; i < rows; i++, y += args.OutFeatures)
        {
            Vector512<float> sums = i switch { 0 => y0, 1 => y1, 2 => y2, _ => y3 };
            if (o + RowInterleave.Rows16 <= args.OutFeatures)
            {
                if (args.Bias is not null) sums += Vector512.Load(args.Bias + o);
                sums.Store(y);
                continue;
            }

            for (int r = 0; r < args.OutFeatures - o; r++) y[r] = args.Bias is null ? sums.GetElement(r) : sums.GetElement(r) + args.Bias[o + r];
        }
    }
}
