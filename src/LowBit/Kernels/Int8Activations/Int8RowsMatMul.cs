using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// Per-channel int8 weights with int8 activations over rows interleaved 8 at a time (WeightLayout.Int8Rows8): each 256-bit
// vpdpbusd multiplies 4 codes of 8 weight rows (one row per int32 lane) by the same 4 activation codes, broadcast. A block
// of 32 activations is then 8 dots per 8 rows, one convert and one scaled add, where the row-major kernels pay a sign
// fix-up, a dot, a convert and a scaled add per row and per 32 weights: about a third of the instructions per weight, and
// no horizontal sum at the end (lane r is output row r). The weights are stored as q + 128 (vpdpbusd wants unsigned bytes);
// each block's integer sum starts at -128 * sum(xq), so it is the exact sum xq * q the contract asks for.
internal static unsafe class Int8RowsMatMul
{
    /// <summary>int8 weights, int8 activations, AVX-VNNI at 256 bits, over <see cref="WeightLayout.Int8Rows8"/>.</summary>
    internal sealed class Vnni256Kernel() : MatMulKernel("int8act-rows8-vnni-256", KernelIsa.AvxVnni, WeightFormats.Int8PerChannel,
                                                          "columns a multiple of 32; weights interleaved 8 rows at a time", ActivationPrecision.Int8)
    {
        public override bool IsSupported => AvxVnni.IsSupported && Fma.IsSupported;

        public override WeightLayout Layout => WeightLayout.Int8Rows8;

        protected override bool Fits(in LayerShape shape) => shape.InFeatures % ActivationQuantizer.BlockSize == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => ScratchFloats(shape.InFeatures, batch);

        public override void Prepare(float* input, ref KernelArgs args) => Quantize(input, ref args);

        public override int RowsPerChunk(in LayerShape shape, int batch) =>
            Math.Max(RowInterleave.Rows, LowBitMatMul.PackedRowsPerChunk(shape, 1024) & ~(RowInterleave.Rows - 1));

        public override int RowGranularity => RowInterleave.Rows;

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &Chunk;
    }

    /// <summary>Input rows per register tile: 4 rows x 2 integer accumulators + 4 float sums + a weight and a code vector fit 16 registers.</summary>
    private const int TileRows = 4;

    /// <summary>Bytes per row of codes: the features rounded up to 64, so every row starts on a cache line.</summary>
    private static int CodeBytes(int inFeatures) => (inFeatures + 63) & ~63;

    /// <summary>Per input row: the codes, and per block its scale sx and its integer start -128 * sum(xq) (16 spare each).</summary>
    private static int BlockStride(int inFeatures) => inFeatures / ActivationQuantizer.BlockSize + 16;

    /// <summary>Scratch per call, in floats: per input row its codes, block scales and block starts.</summary>
    internal static long ScratchFloats(int inFeatures, int batch) => (long)batch * (CodeBytes(inFeatures) / 4 + 2 * BlockStride(inFeatures));

    /// <summary>Quantizes every input row per block of 32 (ActivationQuantizer) into the scratch at <c>args.Input</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quantize(float* input, ref KernelArgs args)
    {
        int n = args.InFeatures, blocks = n / ActivationQuantizer.BlockSize, stride = BlockStride(n);
        sbyte* codes = (sbyte*)args.Input;
        float* scales = (float*)(codes + (nint)args.Batch * CodeBytes(n));
        int* starts = (int*)(scales + (nint)args.Batch * stride);
        for (int b = 0; b < args.Batch; b++)
        {
            int* start = starts + (nint)b * stride;
            ActivationQuantizer.QuantizeRow(input + (nint)b * n, n, codes + (nint)b * CodeBytes(n), scales + (nint)b * stride, start);
            for (int k = 0; k < blocks; k++) start[k] *= -128;
        }

        args.Codes = codes;
        args.LaneScales = scales;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int first = chunk * args.RowsPerChunk, end = Math.Min(first + args.RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        nint codeStride = CodeBytes(n), stride = BlockStride(n);
        int* starts = (int*)(args.LaneScales + args.Batch * stride);
        for (int o = first; o < end; o += RowInterleave.Rows)
        {
            // Group o / 8 starts at o / 8 * 8 * n = o * n: chunks start on whole groups.
            byte* weights = args.Weights + (nint)o * n;
            for (int b = 0, rows; b < args.Batch; b += rows)
            {
                rows = Int8WeightMatMul.TileInputRows(args.Batch - b, TileRows);
                sbyte* x = args.Codes + b * codeStride;
                float* sx = args.LaneScales + b * stride;
                int* start = starts + b * stride;
                Vector256<float> y0, y1 = default, y2 = default, y3 = default;
                switch (rows)
                {
                    case 1: y0 = Gemv(weights, n, x, sx, start); break;
                    case 2: Tile<TwoRows>(weights, n, x, codeStride, sx, start, stride, out y0, out y1, out _, out _); break;
                    case 3: Tile<ThreeRows>(weights, n, x, codeStride, sx, start, stride, out y0, out y1, out y2, out _); break;
                    default: Tile<FourRows>(weights, n, x, codeStride, sx, start, stride, out y0, out y1, out y2, out y3); break;
                }

                float* y = args.Output + (nint)b * args.OutFeatures + o;
                Finish(in args, o, y0, y);
                if (rows > 1) Finish(in args, o, y1, y + args.OutFeatures);
                if (rows > 2) Finish(in args, o, y2, y + 2 * args.OutFeatures);
                if (rows > 3) Finish(in args, o, y3, y + 3 * args.OutFeatures);
            }
        }
    }

    /// <summary>One input row against 8 weight rows: four independent dot chains per block, so the dots' latency stays hidden.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gemv(byte* w, int n, sbyte* x, float* sx, int* start)
    {
        int blocks = n / ActivationQuantizer.BlockSize;
        Vector256<float> f0 = default, f1 = default;
        for (int k = 0; k < blocks; k++)
        {
            byte* wb = w + k * 256;
            sbyte* xb = x + k * 32;
            Vector256<int> a0 = Vector256.Create(start[k]), a1 = default, a2 = default, a3 = default;
            a0 = Dot(a0, wb, xb);
            a1 = Dot(a1, wb + 32, xb + 4);
            a2 = Dot(a2, wb + 64, xb + 8);
            a3 = Dot(a3, wb + 96, xb + 12);
            a0 = Dot(a0, wb + 128, xb + 16);
            a1 = Dot(a1, wb + 160, xb + 20);
            a2 = Dot(a2, wb + 192, xb + 24);
            a3 = Dot(a3, wb + 224, xb + 28);
            Vector256<float> block = Avx.ConvertToVector256Single((a0 + a1) + (a2 + a3));
            // Two float sums, alternating blocks: the scaled adds do not wait on each other either.
            if ((k & 1) == 0) f0 = Fma.MultiplyAdd(block, Vector256.Create(sx[k]), f0);
            else f1 = Fma.MultiplyAdd(block, Vector256.Create(sx[k]), f1);
        }

        return f0 + f1;
    }

    /// <summary>TRows (2-4) input rows against 8 weight rows; each weight vector is loaded once for all of them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile<TRows>(byte* w, int n, sbyte* x0, nint codeStride, float* sx0, int* start0, nint stride,
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
            nint at = k * 32;
            // Two integer chains per input row (even and odd 4-column steps).
            Vector256<int> a0 = Vector256.Create(start0[k]), b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default,
                b3 = default;
            a1 = Vector256.Create(start1[k]);
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

    /// <summary>8 rows' weights (from memory) times 4 codes broadcast, added to the rows' int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, byte* weights, sbyte* codes) => Dot(acc, Vector256.Load(weights), codes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot(Vector256<int> acc, Vector256<byte> weights, sbyte* codes) =>
        AvxVnni.MultiplyWideningAndAdd(acc, weights, Vector256.Create(*(int*)codes).AsSByte());

    /// <summary><c>y = sum * scale + bias</c> for the group's rows: one vector for a whole group, row by row for the last, partial one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(in KernelArgs args, int o, Vector256<float> sums, float* y)
    {
        if (o + RowInterleave.Rows <= args.OutFeatures)
        {
            Vector256<float> scaled = sums * Vector256.Load(args.Scales + o);
            if (args.Bias is not null) scaled += Vector256.Load(args.Bias + o);
            scaled.Store(y);
            return;
        }

        for (int r = 0; r < args.OutFeatures - o; r++) y[r] = args.Finish(sums.GetElement(r), o + r);
    }
}
