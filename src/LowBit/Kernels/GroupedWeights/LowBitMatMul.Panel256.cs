using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The panel kernel (LowBitMatMul.Panel.cs) on AVX2 + FMA, for batched calls on 16-register machines such as AMD Zen 3.
// Its inner loop is the one MLAS's and BLIS's sgemm run on AVX2: per panel column, two vectors of 8 weight rows meet 6
// broadcast inputs, 12 FMAs into 12 accumulators, with 2 loads and 6 broadcasts (load-port operations on AMD and Intel
// alike) and no conversion or shuffle. The field kernel it takes over from unpacks and converts every field again for
// each pass of up to four input rows. Here a weight is unpacked once per call: 8 rows x 16 packed bytes are transposed
// as dwords (two 4x4 transposes in the 128-bit lanes: each dword lane then holds 8 or 16 weights of one row), and each
// field is shifted, masked, converted and dequantized with one FMA, q * s - s z, for 8 rows at once.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// The panel kernel on AVX2: 16 output rows x 256 columns dequantized into an L1 panel (16 KiB), a 16 x 6 register tile.
    /// </summary>
    internal sealed class Panel256Kernel() : MatMulKernel("panel-256", KernelIsa.Avx2, WeightFormats.Grouped | WeightFormats.Int8PerChannel,
        "columns a multiple of 128 / bits; a group spans whole 4-byte lanes")
    {
        public override bool IsSupported => Avx2.IsSupported && Fma.IsSupported && Vector256.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => shape.InFeatures * shape.Bits % 128 == 0 && shape.GroupSize * shape.Bits % 32 == 0;

        public override void Prepare(float* input, ref KernelArgs args) => PackInputTiles(input, ref args, TileRows256);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PanelChunkRows;

        public override int RowGranularity => PanelRows256;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => shape.Format switch
        {
            WeightFormat.Int8PerChannel => &ChunkPanel256<SignedBits8>,
            WeightFormat.Group8 => &ChunkPanel256<Bits8>,
            WeightFormat.Group4 => &ChunkPanel256<Bits4>,
            _ => &ChunkPanel256<Bits2>,
        };
    }

    /// <summary>Output rows per AVX2 panel (two Vector256 of 8).</summary>
    private const int PanelRows256 = 16;

    /// <summary>Input rows per AVX2 register tile: 2 x 6 accumulators, two panel vectors and a broadcast fill 15 of the 16 ymm registers.</summary>
    private const int TileRows256 = 6;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkPanel256<TBits>(void* state, int chunk) where TBits : IBits
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int n = args.InFeatures, start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        float* buffer = stackalloc float[PanelRows256 * PanelColumns + 16];
        float* panel = (float*)(((nint)buffer + 63) & ~(nint)63);
        float* sums = stackalloc float[TileRows256 * PanelRows256];
        for (int k0 = 0; k0 < n; k0 += PanelColumns)
        {
            int length = Math.Min(PanelColumns, n - k0);
            for (int r0 = start; r0 < end; r0 += PanelRows256)
            {
                int count = Math.Min(PanelRows256, end - r0);
                // A panel reads short runs (length * bits / 8 bytes) of 16 rows, which the hardware prefetcher does not
                // follow: fetch the next panel's runs while this one is dequantized and multiplied.
                if (r0 + PanelRows256 < end) PrefetchPanel(in args, r0 + PanelRows256, Math.Min(PanelRows256, end - r0 - PanelRows256), k0, length);
                else if (k0 + PanelColumns < n) PrefetchPanel(in args, start, Math.Min(PanelRows256, end - start), k0 + PanelColumns,
                                                              Math.Min(PanelColumns, n - k0 - PanelColumns));
                DequantizePanel256<TBits>(in args, r0, count, k0, length, panel);
                for (int b = 0; b < args.Batch;)
                {
                    int w = TileWidth(args.Batch - b, TileRows256);
                    float* x = args.Input + (nint)b * n + (nint)k0 * w;
                    float* y = args.Output + (nint)b * args.OutFeatures + r0;
                    switch (w)
                    {
                        case TileRows256: PanelTile256<SixRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        case 4: PanelTile256<FourRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        case 2: PanelTile256<TwoRows>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                        default: PanelTile256<OneRow>(in args, panel, length, x, y, r0, count, k0 == 0, sums); break;
                    }

                    b += w;
                }
            }
        }
    }

    /// <summary>Prefetches columns k0..k0+length of <paramref name="count"/> rows from r0 into L1.</summary>
    /// <remarks>
    /// Optimized from the first call, as every per-call loop of the kernels is: a tiered method runs unoptimized for its
    /// first 30 calls and until the runtime's tiering delay has passed, and this one ran once per panel (3072 x 768 4-bit
    /// at batch 10: panel-512 1.5x the W8A16 time for those calls, 1.15x once optimized).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PrefetchPanel(in KernelArgs args, int r0, int count, int k0, int length)
    {
        nint rowBytes = (nint)args.InFeatures * args.Bits / 8, first = (nint)k0 * args.Bits / 8, bytes = ((nint)length * args.Bits / 8 + 63) & ~63;
        for (int r = 0; r < count; r++)
        {
            byte* run = args.Weights + (r0 + r) * rowBytes + first;
            for (nint offset = 0; offset < bytes; offset += 64) Sse.Prefetch0(run + offset);
        }
    }

    /// <summary>
    /// Dequantizes rows r0..r0+15 (rows past <paramref name="count"/> repeat the last one and are never stored), columns
    /// k0..k0+length, into <c>panel[(c - k0) * 16 + row]</c>: <c>q * s - s z</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DequantizePanel256<TBits>(in KernelArgs args, int r0, int count, int k0, int length, float* panel) where TBits : IBits
    {
        int bits = TBits.Bits, perDword = 32 / bits, groupSize = args.GroupSize, groups = args.InFeatures / groupSize;
        nint rowBytes = args.InFeatures * bits / 8;
        Vector256<int>* dwords = stackalloc Vector256<int>[4];
        byte** rows = stackalloc byte*[8];
        int* indices = stackalloc int[8];
        for (int h = 0; h < PanelRows256; h += 8)
        {
            for (int l = 0; l < 8; l++)
            {
                int row = r0 + Math.Min(h + l, count - 1);
                rows[l] = args.Weights + row * rowBytes;
                indices[l] = row * groups;
            }

            byte* w0 = rows[0], w1 = rows[1], w2 = rows[2], w3 = rows[3], w4 = rows[4], w5 = rows[5], w6 = rows[6], w7 = rows[7];
            int* index = indices;
            float* target = panel + h;
            int column = k0, groupEnd = k0;
            Vector256<float> scale = default, offset = default;
            for (nint at = (nint)k0 * bits / 8, stop = (nint)(k0 + length) * bits / 8; at < stop; at += 16)
            {
                // 8 rows x 4 dwords -> 4 vectors of 8 rows. Register e, 128-bit lane L holds row 4L + e, so after the
                // in-lane 4x4 transposes element 4L + e of each result is row 4L + e: rows come out in order.
                Vector256<int> a = Vector256.Create(Vector128.Load((int*)(w0 + at)), Vector128.Load((int*)(w4 + at)));
                Vector256<int> b = Vector256.Create(Vector128.Load((int*)(w1 + at)), Vector128.Load((int*)(w5 + at)));
                Vector256<int> c = Vector256.Create(Vector128.Load((int*)(w2 + at)), Vector128.Load((int*)(w6 + at)));
                Vector256<int> d = Vector256.Create(Vector128.Load((int*)(w3 + at)), Vector128.Load((int*)(w7 + at)));
                Vector256<long> ab0 = Avx2.UnpackLow(a, b).AsInt64(), ab1 = Avx2.UnpackHigh(a, b).AsInt64();
                Vector256<long> cd0 = Avx2.UnpackLow(c, d).AsInt64(), cd1 = Avx2.UnpackHigh(c, d).AsInt64();
                dwords[0] = Avx2.UnpackLow(ab0, cd0).AsInt32();
                dwords[1] = Avx2.UnpackHigh(ab0, cd0).AsInt32();
                dwords[2] = Avx2.UnpackLow(ab1, cd1).AsInt32();
                dwords[3] = Avx2.UnpackHigh(ab1, cd1).AsInt32();
                for (int j = 0; j < 4; j++)
                {
                    // A group spans whole dwords (the layout rule), so its parameters change only at a dword boundary.
                    if (column + j * perDword == groupEnd) NextGroup256<TBits>(in args, index, ref groupEnd, groupSize, out scale, out offset);
                    StoreFields256<TBits>(dwords[j], scale, offset, target + j * perDword * PanelRows256);
                }

                column += 4 * perDword;
                target += 4 * perDword * PanelRows256;
            }
        }
    }

    /// <summary>Loads the parameters of the group that starts at <paramref name="groupEnd"/> and moves it to that group's end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NextGroup256<TBits>(in KernelArgs args, int* rowStarts, ref int groupEnd, int groupSize, out Vector256<float> scale,
                                            out Vector256<float> offset) where TBits : IBits
    {
        Parameters256<TBits>(in args, rowStarts, groupEnd / groupSize, out scale, out offset);
        groupEnd += groupSize;
    }

    /// <summary>
    /// The 8 rows' scales and <c>-s z</c> of group g, from <c>[row * groups + g]</c>, built in registers (a vector loaded
    /// from scalar stores stalls on store forwarding; gathers are slow on AMD cores).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Parameters256<TBits>(in KernelArgs args, int* rowStarts, int g, out Vector256<float> scale, out Vector256<float> offset)
        where TBits : IBits
    {
        float* s = args.Scales + g, z = args.ZeroTerms + g;
        scale = Vector256.Create(s[rowStarts[0]], s[rowStarts[1]], s[rowStarts[2]], s[rowStarts[3]], s[rowStarts[4]], s[rowStarts[5]],
                                 s[rowStarts[6]], s[rowStarts[7]]);
        if (typeof(TBits) == typeof(SignedBits8))
        {
            offset = default;   // per-channel int8: no zero point
            return;
        }

        offset = -Vector256.Create(z[rowStarts[0]], z[rowStarts[1]], z[rowStarts[2]], z[rowStarts[3]], z[rowStarts[4]], z[rowStarts[5]],
                                   z[rowStarts[6]], z[rowStarts[7]]);
    }

    /// <summary>
    /// Dequantizes every field of 8 rows' dwords, <c>q * s - s z</c>, into 32 / bits panel columns (16 floats apart). The
    /// shift counts are literals: the JIT emits <c>vpsrld ymm, ymm, imm8</c> only for those, and with the count in a register
    /// (<c>vpsrld ymm, ymm, xmm</c>) the dequantization ran at half the speed on Zen 5.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFields256<TBits>(Vector256<int> p, Vector256<float> scale, Vector256<float> offset, float* target) where TBits : IBits
    {
        if (typeof(TBits) == typeof(SignedBits8))
        {
            // Each byte moved to the top and shifted back arithmetically: the signed code.
            Put256<TBits>(Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(p, 24), 24), scale, offset, target, 0);
            Put256<TBits>(Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(p, 16), 24), scale, offset, target, 1);
            Put256<TBits>(Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(p, 8), 24), scale, offset, target, 2);
            Put256<TBits>(Avx2.ShiftRightArithmetic(p, 24), scale, offset, target, 3);
        }
        else if (TBits.Bits == 8)
        {
            Vector256<int> m = Vector256.Create(0xFF);
            Put256<TBits>(p & m, scale, offset, target, 0);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 8) & m, scale, offset, target, 1);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 16) & m, scale, offset, target, 2);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 24), scale, offset, target, 3);
        }
        else if (TBits.Bits == 4)
        {
            Vector256<int> m = Vector256.Create(0xF);
            Put256<TBits>(p & m, scale, offset, target, 0);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 4) & m, scale, offset, target, 1);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 8) & m, scale, offset, target, 2);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 12) & m, scale, offset, target, 3);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 16) & m, scale, offset, target, 4);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 20) & m, scale, offset, target, 5);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 24) & m, scale, offset, target, 6);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 28), scale, offset, target, 7);
        }
        else
        {
            Vector256<int> m = Vector256.Create(0x3);
            Put256<TBits>(p & m, scale, offset, target, 0);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 2) & m, scale, offset, target, 1);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 4) & m, scale, offset, target, 2);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 6) & m, scale, offset, target, 3);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 8) & m, scale, offset, target, 4);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 10) & m, scale, offset, target, 5);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 12) & m, scale, offset, target, 6);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 14) & m, scale, offset, target, 7);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 16) & m, scale, offset, target, 8);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 18) & m, scale, offset, target, 9);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 20) & m, scale, offset, target, 10);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 22) & m, scale, offset, target, 11);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 24) & m, scale, offset, target, 12);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 26) & m, scale, offset, target, 13);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 28) & m, scale, offset, target, 14);
            Put256<TBits>(Avx2.ShiftRightLogical(p, 30), scale, offset, target, 15);
        }

    }

    /// <summary>Converts field k of 8 rows and stores <c>q * s - s z</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put256<TBits>(Vector256<int> q, Vector256<float> scale, Vector256<float> offset, float* target, int k) where TBits : IBits =>
        Fma.MultiplyAdd(Avx.ConvertToVector256Single(q), scale, offset).Store(target + k * PanelRows256);

    /// <summary>
    /// Output rows r0..r0+15 x TRows input rows over one panel: <c>y[b, r] (+)= sum_c panel[c, r] * x[c, b]</c>, where
    /// x is the packed input tile ([column][TRows]). The first slice stores (adding the bias), later slices add.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelTile256<TRows>(in KernelArgs args, float* panel, int length, float* x, float* y, int r0, int count, bool first,
                                            float* sums) where TRows : IRows
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        int i = 0;
        if (TRows.Count <= 2)
        {
            // One or two input rows give only two or four FMA chains, too few to hide the FMA latency: take two columns
            // per step into two sets of accumulators (the odd columns go to c2x and c3x, unused by these tiles).
            for (; i + 2 <= length; i += 2, panel += 2 * PanelRows256, x += 2 * TRows.Count)
            {
                Vector256<float> p0 = Vector256.Load(panel), p1 = Vector256.Load(panel + 8);
                Vector256<float> q0 = Vector256.Load(panel + PanelRows256), q1 = Vector256.Load(panel + PanelRows256 + 8);
                Vector256<float> xa = Vector256.Create(x[0]), xb = Vector256.Create(x[TRows.Count]);
                c00 = Fma.MultiplyAdd(p0, xa, c00);
                c01 = Fma.MultiplyAdd(p1, xa, c01);
                c20 = Fma.MultiplyAdd(q0, xb, c20);
                c21 = Fma.MultiplyAdd(q1, xb, c21);
                if (TRows.Count > 1)
                {
                    xa = Vector256.Create(x[1]);
                    xb = Vector256.Create(x[3]);
                    c10 = Fma.MultiplyAdd(p0, xa, c10);
                    c11 = Fma.MultiplyAdd(p1, xa, c11);
                    c30 = Fma.MultiplyAdd(q0, xb, c30);
                    c31 = Fma.MultiplyAdd(q1, xb, c31);
                }
            }
        }

        for (; i < length; i++, panel += PanelRows256, x += TRows.Count)
        {
            Vector256<float> p0 = Vector256.Load(panel), p1 = Vector256.Load(panel + 8);
            Vector256<float> xb = Vector256.Create(x[0]);
            c00 = Fma.MultiplyAdd(p0, xb, c00);
            c01 = Fma.MultiplyAdd(p1, xb, c01);
            if (TRows.Count > 1)
            {
                xb = Vector256.Create(x[1]);
                c10 = Fma.MultiplyAdd(p0, xb, c10);
                c11 = Fma.MultiplyAdd(p1, xb, c11);
            }

            if (TRows.Count > 2)
            {
                xb = Vector256.Create(x[2]);
                c20 = Fma.MultiplyAdd(p0, xb, c20);
                c21 = Fma.MultiplyAdd(p1, xb, c21);
                xb = Vector256.Create(x[3]);
                c30 = Fma.MultiplyAdd(p0, xb, c30);
                c31 = Fma.MultiplyAdd(p1, xb, c31);
            }

            if (TRows.Count > 4)
            {
                xb = Vector256.Create(x[4]);
                c40 = Fma.MultiplyAdd(p0, xb, c40);
                c41 = Fma.MultiplyAdd(p1, xb, c41);
                xb = Vector256.Create(x[5]);
                c50 = Fma.MultiplyAdd(p0, xb, c50);
                c51 = Fma.MultiplyAdd(p1, xb, c51);
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
        c01.Store(sums + 8);
        if (TRows.Count > 1)
        {
            c10.Store(sums + 16);
            c11.Store(sums + 24);
        }

        if (TRows.Count > 2)
        {
            c20.Store(sums + 32);
            c21.Store(sums + 40);
            c30.Store(sums + 48);
            c31.Store(sums + 56);
        }

        if (TRows.Count > 4)
        {
            c40.Store(sums + 64);
            c41.Store(sums + 72);
            c50.Store(sums + 80);
            c51.Store(sums + 88);
        }

        float* bias = args.Bias is null ? null : args.Bias + r0;
        for (int b = 0; b < TRows.Count; b++)
        {
            float* row = sums + b * PanelRows256, target = y + (nint)b * args.OutFeatures;
            if (count == PanelRows256)
            {
                Vector256<float> low = Vector256.Load(row), high = Vector256.Load(row + 8);
                if (!first)
                {
                    low += Vector256.Load(target);
                    high += Vector256.Load(target + 8);
                }
                else if (bias is not null)
                {
                    low += Vector256.Load(bias);
                    high += Vector256.Load(bias + 8);
                }

                low.Store(target);
                high.Store(target + 8);
            }
            else
            {
                for (int r = 0; r < count; r++) target[r] = !first ? target[r] + row[r] : bias is null ? row[r] : row[r] + bias[r];
            }
        }
    }
}
