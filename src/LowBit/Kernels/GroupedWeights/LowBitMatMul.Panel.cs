using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LowBit.Internal;

namespace LowBit.Kernels;

// Batched low-bit path on AVX-512, the layout of optimized BLAS. The row-dot tiles of the other paths read both
// operands as vectors along the input dimension, so every FMA pair needs a weight and an input vector from cache
// and two 128 KiB operands do not both fit in L1: they ran at 0.5-0.6x of W8A16. Here, per 32 output rows and a
// slice of 256 input columns, the packed weights are dequantized into a panel laid out [column][32 rows] (32 KiB,
// L1), and a register tile multiplies it with up to 12 input rows: per column, two panel vectors meet 12 broadcast
// input values, 24 FMAs into 24 accumulators, no horizontal sums. The input is packed once per call into the
// matching [column][12 rows] layout. To build the panel without a float transpose, 16 rows x 16 packed bytes are
// transposed as dwords in registers (each dword lane then holds 8 4-bit or 16 2-bit weights of one row), and each
// field is shifted, masked, converted and dequantized, (q - z) * s, for 16 rows at once. Per-channel int8 goes the same way
// as one group per row with no zero point (each byte sign-extended by two shifts): from 32 input rows the panel outran the
// int8 tiles 1.0-2.0x on a Xeon, since it converts each weight once per call where they convert it once per 4 input rows.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// The panel kernel on AVX-512: 32 output rows x 256 columns dequantized into an L1 panel, a 32 x 12 register tile.
    /// Beats the field kernel from 16 input rows on large layers, from 6 on small ones (measured, see the registry).
    /// </summary>
    internal sealed class Panel512Kernel() : MatMulKernel("panel-512", KernelIsa.Avx512, WeightFormats.Grouped | WeightFormats.Int8PerChannel,
        "columns a multiple of 128 / bits; a group spans whole 4-byte lanes")
    {
        public override bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => shape.InFeatures * shape.Bits % 128 == 0 && shape.GroupSize * shape.Bits % 32 == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override void Prepare(float* input, ref KernelArgs args) => PackInputTiles(input, ref args, TileRows);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PanelChunkRows;

        public override int RowGranularity => PanelRows;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format switch
        {
            WeightFormat.Int8PerChannel => &ChunkPanel<SignedBits8>,
            WeightFormat.Group8 => &ChunkPanel<Bits8>,
            WeightFormat.Group4 => &ChunkPanel<Bits4>,
            _ => &ChunkPanel<Bits2>,
        };
    }

    /// <summary>Output rows per panel (two Vector512 of 16).</summary>
    private const int PanelRows = 32;

    /// <summary>Input columns per panel: 32 rows x 256 floats = 32 KiB, which stays in L1 while every input tile passes.</summary>
    private const int PanelColumns = 256;

    /// <summary>Input rows per register tile: 2 x 12 accumulators plus two panel vectors fit the 32 zmm registers.</summary>
    private const int TileRows = 12;

    /// <summary>Output rows per work item (a multiple of both panel heights): the input slice is reused across them.</summary>
    private const int PanelChunkRows = 256;

    /// <summary>
    /// Rows of the next input tile: <paramref name="tileRows"/> (12, or 6 on AVX2) while there are that many, then 8, 4, 2 and
    /// 1 for the rest. On AVX2, 7 or 8 rows go as 4 + 4 (or 4 + 3): a tile of one or two rows has too few accumulators to
    /// hide the FMA latency, so 6 + 2 rows took longer than 6 + 0 (measured: batch 8 slower than batch 6).
    /// </summary>
    private static int TileWidth(int remaining, int tileRows) =>
        tileRows == TileRows256 && remaining is 7 or 8 ? 4
        : remaining >= tileRows ? tileRows : remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;

    /// <summary>
    /// Packs the input (as float) tile by tile: the tile of <c>w</c> rows starting at row b occupies <c>w * n</c> floats
    /// from <c>b * n</c>, laid out [column][w], so a tile reads one base pointer with constant offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackInputTiles(float* input, ref KernelArgs args, int tileRows)
    {
        int n = args.InFeatures;
        for (int b = 0; b < args.Batch;)
        {
            int w = TileWidth(args.Batch - b, tileRows);
            InputArrangement.Transpose(input + (nint)b * n, args.Input + (nint)b * n, w, n);
            b += w;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkPanel<TBits>(void* state, int chunk) where TBits : IBits
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int n = args.InFeatures, start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        float* buffer = stackalloc float[PanelRows * PanelColumns + 16];
        float* panel = (float*)(((nint)buffer + 63) & ~(nint)63);
        float* sums = stackalloc float[TileRows * PanelRows];
        for (int k0 = 0; k0 < n; k0 += PanelColumns)
        {
            int length = Math.Min(PanelColumns, n - k0);
            for (int r0 = start; r0 < end; r0 += PanelRows)
            {
                int count = Math.Min(PanelRows, end - r0);
                // A panel reads short runs of 32 rows, which the hardware prefetcher does not follow: fetch the next panel's.
                if (r0 + PanelRows < end) PrefetchPanel(in args, r0 + PanelRows, Math.Min(PanelRows, end - r0 - PanelRows), k0, length);
                else if (k0 + PanelColumns < n) PrefetchPanel(in args, start, Math.Min(PanelRows, end - start), k0 + PanelColumns,
                                                              Math.Min(PanelColumns, n - k0 - PanelColumns));
                DequantizePanel<TBits>(in args, r0, count, k0, length, panel);
                for (int b = 0; b < args.Batch;)
                {
                    int w = TileWidth(args.Batch - b, TileRows);
                    float* x = args.Input + (nint)b * n + (nint)k0 * w;
                    float* y = args.Output + (nint)b * args.OutFeatures + r0;
                    switch (w)
                    {
                        case TileRows: PanelTile<TwelveRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        case 8: PanelTile<EightRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        case 4: PanelTile<FourRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        case 2: PanelTile<TwoRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        default: PanelTile<OneRow>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                    }

                    b += w;
                }
            }
        }
    }

    /// <summary>
    /// Dequantizes rows r0..r0+31 (rows past <paramref name="count"/> repeat the last one and are never stored),
    /// columns k0..k0+length, into <c>panel[(c - k0) * 32 + row]</c>: <c>q * s - s z</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DequantizePanel<TBits>(in KernelArgs args, int r0, int count, int k0, int length, float* panel) where TBits : IBits
    {
        int bits = TBits.Bits, perDword = 32 / bits, groupSize = args.GroupSize, groups = args.InFeatures / groupSize;
        nint rowBytes = args.InFeatures * bits / 8;
        Vector512<int>* dwords = stackalloc Vector512<int>[4];
        byte** rows = stackalloc byte*[16];
        int* indices = stackalloc int[16];
        for (int h = 0; h < PanelRows; h += 16)
        {
            for (int l = 0; l < 16; l++)
            {
                int row = r0 + Math.Min(h + l, count - 1);
                rows[l] = args.Weights + row * rowBytes;
                indices[l] = row * groups;
            }

            int* index = indices;
            float* target = panel + h;
            int column = k0, groupEnd = k0;
            Vector512<float> scale = default, offset = default;
            for (nint at = (nint)k0 * bits / 8, stop = (nint)(k0 + length) * bits / 8; at < stop; at += 16)
            {
                // 16 rows x 4 dwords -> 4 vectors of 16 rows. Register e, 128-bit lane L holds row 4L + e, so after the
                // in-lane 4x4 transposes element 4L + e of each result is row 4L + e: rows come out in order.
                Vector512<int> a = Vector512.Create(Vector256.Create(Vector128.Load((int*)(rows[0] + at)), Vector128.Load((int*)(rows[4] + at))),
                                                    Vector256.Create(Vector128.Load((int*)(rows[8] + at)), Vector128.Load((int*)(rows[12] + at))));
                Vector512<int> b = Vector512.Create(Vector256.Create(Vector128.Load((int*)(rows[1] + at)), Vector128.Load((int*)(rows[5] + at))),
                                                    Vector256.Create(Vector128.Load((int*)(rows[9] + at)), Vector128.Load((int*)(rows[13] + at))));
                Vector512<int> c = Vector512.Create(Vector256.Create(Vector128.Load((int*)(rows[2] + at)), Vector128.Load((int*)(rows[6] + at))),
                                                    Vector256.Create(Vector128.Load((int*)(rows[10] + at)), Vector128.Load((int*)(rows[14] + at))));
                Vector512<int> d = Vector512.Create(Vector256.Create(Vector128.Load((int*)(rows[3] + at)), Vector128.Load((int*)(rows[7] + at))),
                                                    Vector256.Create(Vector128.Load((int*)(rows[11] + at)), Vector128.Load((int*)(rows[15] + at))));
                Vector512<long> ab0 = Avx512F.UnpackLow(a, b).AsInt64(), ab1 = Avx512F.UnpackHigh(a, b).AsInt64();
                Vector512<long> cd0 = Avx512F.UnpackLow(c, d).AsInt64(), cd1 = Avx512F.UnpackHigh(c, d).AsInt64();
                dwords[0] = Avx512F.UnpackLow(ab0, cd0).AsInt32();
                dwords[1] = Avx512F.UnpackHigh(ab0, cd0).AsInt32();
                dwords[2] = Avx512F.UnpackLow(ab1, cd1).AsInt32();
                dwords[3] = Avx512F.UnpackHigh(ab1, cd1).AsInt32();
                for (int j = 0; j < 4; j++)
                {
                    // A group spans whole dwords (the layout rule), so its parameters change only at a dword boundary.
                    if (column + j * perDword == groupEnd) NextGroup512<TBits>(in args, index, ref groupEnd, groupSize, out scale, out offset);
                    StoreFields512<TBits>(dwords[j], scale, offset, target + j * perDword * PanelRows);
                }

                column += 4 * perDword;
                target += 4 * perDword * PanelRows;
            }
        }
    }

    /// <summary>Loads the parameters of the group that starts at <paramref name="groupEnd"/> and moves it to that group's end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NextGroup512<TBits>(in KernelArgs args, int* rowStarts, ref int groupEnd, int groupSize, out Vector512<float> scale,
                                            out Vector512<float> offset) where TBits : IBits
    {
        Parameters512<TBits>(in args, rowStarts, groupEnd / groupSize, out scale, out offset);
        groupEnd += groupSize;
    }

    /// <summary>The 16 rows' scales and <c>-s z</c> of group g, from <c>[row * groups + g]</c> (see Parameters256).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Parameters512<TBits>(in KernelArgs args, int* rowStarts, int g, out Vector512<float> scale, out Vector512<float> offset)
        where TBits : IBits
    {
        Parameters256<TBits>(in args, rowStarts, g, out Vector256<float> lowScale, out Vector256<float> lowOffset);
        Parameters256<TBits>(in args, rowStarts + 8, g, out Vector256<float> highScale, out Vector256<float> highOffset);
        scale = Vector512.Create(lowScale, highScale);
        offset = Vector512.Create(lowOffset, highOffset);
    }

    /// <summary>
    /// Dequantizes every field of 16 rows' dwords, <c>q * s - s z</c>, into 32 / bits panel columns (32 floats apart). The
    /// shift counts are literals, so the JIT emits immediate shifts (a count in a register halved the AVX2 panel's speed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFields512<TBits>(Vector512<int> p, Vector512<float> scale, Vector512<float> offset, float* target) where TBits : IBits
    {
        if (typeof(TBits) == typeof(SignedBits8))
        {
            // Each byte moved to the top and shifted back arithmetically: the signed code.
            Put512<TBits>(Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(p, 24), 24), scale, offset, target, 0);
            Put512<TBits>(Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(p, 16), 24), scale, offset, target, 1);
            Put512<TBits>(Avx512F.ShiftRightArithmetic(Avx512F.ShiftLeftLogical(p, 8), 24), scale, offset, target, 2);
            Put512<TBits>(Avx512F.ShiftRightArithmetic(p, 24), scale, offset, target, 3);
        }
        else if (TBits.Bits == 8)
        {
            Vector512<int> m = Vector512.Create(0xFF);
            Put512<TBits>(p & m, scale, offset, target, 0);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 8) & m, scale, offset, target, 1);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 16) & m, scale, offset, target, 2);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 24), scale, offset, target, 3);
        }
        else if (TBits.Bits == 4)
        {
            Vector512<int> m = Vector512.Create(0xF);
            Put512<TBits>(p & m, scale, offset, target, 0);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 4) & m, scale, offset, target, 1);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 8) & m, scale, offset, target, 2);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 12) & m, scale, offset, target, 3);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 16) & m, scale, offset, target, 4);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 20) & m, scale, offset, target, 5);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 24) & m, scale, offset, target, 6);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 28), scale, offset, target, 7);
        }
        else
        {
            Vector512<int> m = Vector512.Create(0x3);
            Put512<TBits>(p & m, scale, offset, target, 0);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 2) & m, scale, offset, target, 1);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 4) & m, scale, offset, target, 2);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 6) & m, scale, offset, target, 3);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 8) & m, scale, offset, target, 4);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 10) & m, scale, offset, target, 5);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 12) & m, scale, offset, target, 6);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 14) & m, scale, offset, target, 7);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 16) & m, scale, offset, target, 8);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 18) & m, scale, offset, target, 9);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 20) & m, scale, offset, target, 10);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 22) & m, scale, offset, target, 11);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 24) & m, scale, offset, target, 12);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 26) & m, scale, offset, target, 13);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 28) & m, scale, offset, target, 14);
            Put512<TBits>(Avx512F.ShiftRightLogical(p, 30), scale, offset, target, 15);
        }

    }

    /// <summary>Converts field k of 16 rows and stores <c>q * s - s z</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put512<TBits>(Vector512<int> q, Vector512<float> scale, Vector512<float> offset, float* target, int k) where TBits : IBits =>
        Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(q), scale, offset).Store(target + k * PanelRows);

    /// <summary>
    /// Output rows r0..r0+31 x TRows input rows over one panel: <c>y[b, r] (+)= sum_c panel[c, r] * x[c, b]</c>, where
    /// x is the packed input tile ([column][TRows]). The first slice stores (adding the bias), later slices add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelTile<TRows>(in KernelArgs args, float* panel, int length, float* x, float* y, int r0, int count, bool first,
                                         float* sums) where TRows : IRows
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default;
        Vector512<float> c100 = default, c101 = default;
        Vector512<float> c110 = default, c111 = default;
        int i = 0;
        if (TRows.Count <= 2)
        {
            // One or two input rows give only two or four FMA chains, too few to hide the FMA latency: take two columns
            // per step into two sets of accumulators (the odd columns go to c2x and c3x, unused by these tiles).
            for (; i + 2 <= length; i += 2, panel += 2 * PanelRows, x += 2 * TRows.Count)
            {
                Vector512<float> p0 = Vector512.Load(panel), p1 = Vector512.Load(panel + 16);
                Vector512<float> q0 = Vector512.Load(panel + PanelRows), q1 = Vector512.Load(panel + PanelRows + 16);
                Vector512<float> xa = Vector512.Create(x[0]), xb = Vector512.Create(x[TRows.Count]);
                c00 = Avx512F.FusedMultiplyAdd(p0, xa, c00);
                c01 = Avx512F.FusedMultiplyAdd(p1, xa, c01);
                c20 = Avx512F.FusedMultiplyAdd(q0, xb, c20);
                c21 = Avx512F.FusedMultiplyAdd(q1, xb, c21);
                if (TRows.Count > 1)
                {
                    xa = Vector512.Create(x[1]);
                    xb = Vector512.Create(x[3]);
                    c10 = Avx512F.FusedMultiplyAdd(p0, xa, c10);
                    c11 = Avx512F.FusedMultiplyAdd(p1, xa, c11);
                    c30 = Avx512F.FusedMultiplyAdd(q0, xb, c30);
                    c31 = Avx512F.FusedMultiplyAdd(q1, xb, c31);
                }
            }
        }

        for (; i < length; i++, panel += PanelRows, x += TRows.Count)
        {
            Vector512<float> p0 = Vector512.Load(panel), p1 = Vector512.Load(panel + 16);
            Vector512<float> x0 = Vector512.Create(x[0]);
            c00 = Avx512F.FusedMultiplyAdd(p0, x0, c00);
            c01 = Avx512F.FusedMultiplyAdd(p1, x0, c01);
            if (TRows.Count > 1)
            {
                Vector512<float> x1 = Vector512.Create(x[1]);
                c10 = Avx512F.FusedMultiplyAdd(p0, x1, c10);
                c11 = Avx512F.FusedMultiplyAdd(p1, x1, c11);
            }

            if (TRows.Count > 2)
            {
                Vector512<float> x2 = Vector512.Create(x[2]);
                c20 = Avx512F.FusedMultiplyAdd(p0, x2, c20);
                c21 = Avx512F.FusedMultiplyAdd(p1, x2, c21);
            }

            if (TRows.Count > 3)
            {
                Vector512<float> x3 = Vector512.Create(x[3]);
                c30 = Avx512F.FusedMultiplyAdd(p0, x3, c30);
                c31 = Avx512F.FusedMultiplyAdd(p1, x3, c31);
            }

            if (TRows.Count > 4)
            {
                Vector512<float> x4 = Vector512.Create(x[4]);
                c40 = Avx512F.FusedMultiplyAdd(p0, x4, c40);
                c41 = Avx512F.FusedMultiplyAdd(p1, x4, c41);
            }

            if (TRows.Count > 5)
            {
                Vector512<float> x5 = Vector512.Create(x[5]);
                c50 = Avx512F.FusedMultiplyAdd(p0, x5, c50);
                c51 = Avx512F.FusedMultiplyAdd(p1, x5, c51);
            }

            if (TRows.Count > 6)
            {
                Vector512<float> x6 = Vector512.Create(x[6]);
                c60 = Avx512F.FusedMultiplyAdd(p0, x6, c60);
                c61 = Avx512F.FusedMultiplyAdd(p1, x6, c61);
            }

            if (TRows.Count > 7)
            {
                Vector512<float> x7 = Vector512.Create(x[7]);
                c70 = Avx512F.FusedMultiplyAdd(p0, x7, c70);
                c71 = Avx512F.FusedMultiplyAdd(p1, x7, c71);
            }

            if (TRows.Count > 8)
            {
                Vector512<float> x8 = Vector512.Create(x[8]);
                c80 = Avx512F.FusedMultiplyAdd(p0, x8, c80);
                c81 = Avx512F.FusedMultiplyAdd(p1, x8, c81);
            }

            if (TRows.Count > 9)
            {
                Vector512<float> x9 = Vector512.Create(x[9]);
                c90 = Avx512F.FusedMultiplyAdd(p0, x9, c90);
                c91 = Avx512F.FusedMultiplyAdd(p1, x9, c91);
            }

            if (TRows.Count > 10)
            {
                Vector512<float> x10 = Vector512.Create(x[10]);
                c100 = Avx512F.FusedMultiplyAdd(p0, x10, c100);
                c101 = Avx512F.FusedMultiplyAdd(p1, x10, c101);
            }

            if (TRows.Count > 11)
            {
                Vector512<float> x11 = Vector512.Create(x[11]);
                c110 = Avx512F.FusedMultiplyAdd(p0, x11, c110);
                c111 = Avx512F.FusedMultiplyAdd(p1, x11, c111);
            }

        }

        if (TRows.Count <= 2)
        {
            c00 += c20;
            c01 += c21;
            c10 += c30;
            c11 += c31;
        }

        // Park the sums first: the stores below may call out, and accumulators live across a call would be spilled inside the loop.
        c00.Store(sums);
        c01.Store(sums + 16);
        if (TRows.Count > 1)
        {
            c10.Store(sums + 32);
            c11.Store(sums + 48);
        }

        if (TRows.Count > 2)
        {
            c20.Store(sums + 64);
            c21.Store(sums + 80);
        }

        if (TRows.Count > 3)
        {
            c30.Store(sums + 96);
            c31.Store(sums + 112);
        }

        if (TRows.Count > 4)
        {
            c40.Store(sums + 128);
            c41.Store(sums + 144);
        }

        if (TRows.Count > 5)
        {
            c50.Store(sums + 160);
            c51.Store(sums + 176);
        }

        if (TRows.Count > 6)
        {
            c60.Store(sums + 192);
            c61.Store(sums + 208);
        }

        if (TRows.Count > 7)
        {
            c70.Store(sums + 224);
            c71.Store(sums + 240);
        }

        if (TRows.Count > 8)
        {
            c80.Store(sums + 256);
            c81.Store(sums + 272);
        }

        if (TRows.Count > 9)
        {
            c90.Store(sums + 288);
            c91.Store(sums + 304);
        }

        if (TRows.Count > 10)
        {
            c100.Store(sums + 320);
            c101.Store(sums + 336);
        }

        if (TRows.Count > 11)
        {
            c110.Store(sums + 352);
            c111.Store(sums + 368);
        }

        float* bias = args.Bias is null ? null : args.Bias + r0;
        for (int b = 0; b < TRows.Count; b++)
        {
            StorePanelRow(Vector512.Load(sums + b * PanelRows), Vector512.Load(sums + b * PanelRows + 16), y + (nint)b * args.OutFeatures, bias,
                          count, first);
        }
    }

    /// <summary>Stores (or adds) the first <paramref name="count"/> of 32 sums to y; the first slice adds the bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StorePanelRow(Vector512<float> low, Vector512<float> high, float* y, float* bias, int count, bool first)
    {
        if (count == PanelRows)
        {
            if (!first)
            {
                low += Vector512.Load(y);
                high += Vector512.Load(y + 16);
            }
            else if (bias is not null)
            {
                low += Vector512.Load(bias);
                high += Vector512.Load(bias + 16);
            }

            low.Store(y);
            high.Store(y + 16);
            return;
        }

        StorePartialPanelRow(low, high, y, bias, count, first);
    }

    /// <summary>The last panel of a layer whose row count is not a multiple of 32: element by element.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StorePartialPanelRow(Vector512<float> low, Vector512<float> high, float* y, float* bias, int count, bool first)
    {
        float* sums = stackalloc float[PanelRows];
        low.Store(sums);
        high.Store(sums + 16);
        for (int r = 0; r < count; r++) y[r] = !first ? y[r] + sums[r] : bias is null ? sums[r] : sums[r] + bias[r];
    }
}
