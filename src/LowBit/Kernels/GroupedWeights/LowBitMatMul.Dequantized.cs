using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LowBit.Kernels;

// Batched low-bit path where the panel kernel (LowBitMatMul.Panel.cs) does not apply, that is without AVX-512 or for
// layouts it does not cover: from 16 input rows on (the measured crossover, in the registry), unpacking every field once per input row
// costs more than the FMAs, so each chunk of rows is dequantized once into a small float block (about 256 KiB, stays
// in L2) and register tiles of 4 weight rows x 4 (or 2) input rows run over it. The block keeps the input's stream
// order (the dot product does not care about the order of i), so dequantizing is a few lane operations per field
// with no re-interleaving.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>The dequantized-block kernel at one vector width: any group-wise layout; the registry runs it from 16 input rows on.</summary>
    internal sealed class BlockKernel<TLanes, TVec>() : MatMulKernel("block-" + TLanes.Count * 32, TLanes.Isa, WeightFormats.Grouped, "any")
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        public override bool IsSupported => TLanes.IsSupported;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        // The block holds (q - z) * s, so the zero points need no group sums.
        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: false);

        public override int RowsPerChunk(in LayerShape shape, int batch) => BlockRows(shape.InFeatures);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkDequantized<TLanes, TVec>;
    }

    /// <summary>Rows per dequantized block: about 256 KiB of floats, so the block stays in L2 while every input row passes.</summary>
    private static int BlockRows(int inFeatures) => Math.Clamp((256 * 1024 / (inFeatures * sizeof(float))) & ~3, 4, 256);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkDequantized<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int n = args.InFeatures, start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        int rows = end - start, paddedRows = (rows + 3) & ~3, groupBytes = args.GroupSize * args.Bits / 8;
        float[] blockArray = ArrayPool<float>.Shared.Rent(paddedRows * n);
        try
        {
            fixed (float* block = blockArray)
            {
                // Dequantize once per chunk, in the input's stream order; padded rows are zero.
                for (int r = 0; r < paddedRows; r++)
                {
                    float* w = block + (nint)r * n;
                    if (r >= rows) new Span<float>(w, n).Clear();
                    else if (groupBytes % TLanes.Count == 0) DequantizeRow<TLanes, TVec>(in args, start + r, w);
                    else DequantizeRow<Lanes128, Vector128<float>>(in args, start + r, w);
                }

                Tiles<TLanes, TVec>(in args, block, start, rows);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(blockArray);
        }
    }

    /// <summary>4 weight rows x 4 input rows (2 below 512-bit vectors, for 16 registers) over the whole block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tiles<TLanes, TVec>(in KernelArgs args, float* block, int start, int rows)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int n = args.InFeatures, step = TLanes.Count >= 16 ? 4 : 2;
        float* sums = stackalloc float[16];
        for (int b = 0; b < args.Batch; b += step)
        {
            int valid = Math.Min(step, args.Batch - b);
            float* x0 = args.Input + (nint)b * n;
            float* x1 = valid > 1 ? x0 + n : x0;
            float* x2 = valid > 2 ? x1 + n : x0;
            float* x3 = valid > 3 ? x2 + n : x0;
            for (int r = 0; r < rows; r += 4)
            {
                float* w = block + (nint)r * n;
                if (step == 4) FloatTile<TLanes, TVec, FourRows>(x0, x1, x2, x3, n, w, sums);
                else FloatTile<TLanes, TVec, TwoRows>(x0, x1, x2, x3, n, w, sums);
                for (int k = 0; k < valid; k++)
                {
                    float* y = args.Output + (nint)(b + k) * args.OutFeatures + start + r;
                    for (int c = 0; c < Math.Min(4, rows - r); c++)
                    {
                        y[c] = args.Bias is null ? sums[k * 4 + c] : sums[k * 4 + c] + args.Bias[start + r + c];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Row o as float, <c>(q - z) * s</c> (subtract, then one rounding: what <c>Dequantize</c> gives), in stream
    /// order: field k of packed byte j goes to <c>w[k * streamLength + j]</c>, matching the de-interleaved input.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DequantizeRow<TLanes, TVec>(in KernelArgs args, int o, float* w)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int bits = args.Bits, per = 8 / bits, streamLength = args.InFeatures / per, groupBytes = args.GroupSize / per,
            groups = args.InFeatures / args.GroupSize;
        int lanes = TLanes.Count, mask = (1 << bits) - 1;
        byte* packed = args.Weights + (nint)o * streamLength;
        for (int g = 0, j = 0; g < groups; g++)
        {
            float s = args.Scales[(nint)o * groups + g], z = args.ZeroPoints[(nint)o * groups + g];
            TVec scale = TLanes.Broadcast(s), minusZero = TLanes.Broadcast(-z);
            int end = j + groupBytes;
            if (args.Offsets is not null)
            {
                // (q - z) * s - offset, as Dequantize: the layer has float offsets.
                float offset = args.Offsets[(nint)o * groups + g];
                TVec minusOffset = TLanes.Broadcast(-offset);
                for (; j + lanes <= end; j += lanes)
                {
                    Vector128<byte> bytes = TLanes.LoadBytes(packed + j);
                    for (int k = 0; k < per; k++)
                    {
                        TVec q = TLanes.BytesToSingle(Vector128.ShiftRightLogical(bytes, k * bits) & Vector128.Create((byte)mask));
                        TLanes.Store(TLanes.Add(TLanes.Multiply(TLanes.Add(q, minusZero), scale), minusOffset), w + (nint)k * streamLength + j);
                    }
                }

                for (; j < end; j++)
                {
                    for (int k = 0; k < per; k++) w[(nint)k * streamLength + j] = (((packed[j] >> (k * bits)) & mask) - z) * s - offset;
                }

                continue;
            }

            for (; j + lanes <= end; j += lanes)
            {
                Vector128<byte> bytes = TLanes.LoadBytes(packed + j);
                for (int k = 0; k < per; k++)
                {
                    TVec q = TLanes.BytesToSingle(Vector128.ShiftRightLogical(bytes, k * bits) & Vector128.Create((byte)mask));
                    TLanes.Store(TLanes.Multiply(TLanes.Add(q, minusZero), scale), w + (nint)k * streamLength + j);
                }
            }

            for (; j < end; j++)
            {
                for (int k = 0; k < per; k++) w[(nint)k * streamLength + j] = (((packed[j] >> (k * bits)) & mask) - z) * s;
            }
        }
    }

    /// <summary>4 float weight rows (stride n) x TRows input rows; writes sums[row * 4 + column].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FloatTile<TLanes, TVec, TRows>(float* x0, float* x1, float* x2, float* x3, int n, float* w, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged where TRows : IRows
    {
        int lanes = TLanes.Count;
        float* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        TVec c00 = TLanes.Zero, c01 = TLanes.Zero, c02 = TLanes.Zero, c03 = TLanes.Zero;
        TVec c10 = TLanes.Zero, c11 = TLanes.Zero, c12 = TLanes.Zero, c13 = TLanes.Zero;
        TVec c20 = TLanes.Zero, c21 = TLanes.Zero, c22 = TLanes.Zero, c23 = TLanes.Zero;
        TVec c30 = TLanes.Zero, c31 = TLanes.Zero, c32 = TLanes.Zero, c33 = TLanes.Zero;
        int i = 0;
        for (; i + lanes <= n; i += lanes)
        {
            TVec v0 = TLanes.Load(w0 + i), v1 = TLanes.Load(w1 + i), v2 = TLanes.Load(w2 + i), v3 = TLanes.Load(w3 + i);
            TVec a = TLanes.Load(x0 + i);
            c00 = TLanes.MultiplyAdd(v0, a, c00); c01 = TLanes.MultiplyAdd(v1, a, c01); c02 = TLanes.MultiplyAdd(v2, a,
                c02); c03 = TLanes.MultiplyAdd(v3, a, c03);
            a = TLanes.Load(x1 + i);
            c10 = TLanes.MultiplyAdd(v0, a, c10); c11 = TLanes.MultiplyAdd(v1, a, c11); c12 = TLanes.MultiplyAdd(v2, a,
                c12); c13 = TLanes.MultiplyAdd(v3, a, c13);
            if (TRows.Count > 2)
            {
                a = TLanes.Load(x2 + i);
                c20 = TLanes.MultiplyAdd(v0, a, c20); c21 = TLanes.MultiplyAdd(v1, a, c21); c22 = TLanes.MultiplyAdd(v2, a,
                    c22); c23 = TLanes.MultiplyAdd(v3, a, c23);
                a = TLanes.Load(x3 + i);
                c30 = TLanes.MultiplyAdd(v0, a, c30); c31 = TLanes.MultiplyAdd(v1, a, c31); c32 = TLanes.MultiplyAdd(v2, a,
                    c32); c33 = TLanes.MultiplyAdd(v3, a, c33);
            }
        }

        sums[0] = TLanes.Sum(c00); sums[1] = TLanes.Sum(c01); sums[2] = TLanes.Sum(c02); sums[3] = TLanes.Sum(c03);
        sums[4] = TLanes.Sum(c10); sums[5] = TLanes.Sum(c11); sums[6] = TLanes.Sum(c12); sums[7] = TLanes.Sum(c13);
        if (TRows.Count > 2)
        {
            sums[8] = TLanes.Sum(c20); sums[9] = TLanes.Sum(c21); sums[10] = TLanes.Sum(c22); sums[11] = TLanes.Sum(c23);
            sums[12] = TLanes.Sum(c30); sums[13] = TLanes.Sum(c31); sums[14] = TLanes.Sum(c32); sums[15] = TLanes.Sum(c33);
        }

        for (; i < n; i++)
        {
            float a0 = x0[i], a1 = x1[i], a2 = x2[i], a3 = x3[i];
            for (int c = 0; c < 4; c++)
            {
                float wc = w[(nint)c * n + i];
                sums[c] += a0 * wc;
                sums[4 + c] += a1 * wc;
                if (TRows.Count > 2)
                {
                    sums[8 + c] += a2 * wc;
                    sums[12 + c] += a3 * wc;
                }
            }
        }
    }
}
