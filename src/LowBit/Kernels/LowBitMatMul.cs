using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit.Kernels;

/// <summary>
/// The fused low-bit matmul behind <see cref="LowBitLinear{T}"/>:
/// <c>out[b,o] = sum_i in[b,i] * (q[o,i] - z[o,g(i)]) * s[o,g(i)] + bias[o]</c>, in float32, rounded to T once.
/// The packed weights are never expanded to a matrix in memory: fields are unpacked in registers and meet an input
/// arranged once per call to match (de-interleaved streams, or the field kernel's lane blocks), and zero points are
/// folded out: <c>sum_g s_g * sum_i x_i q_i - sum_g (s_g z_g) * sum_{i in g} x_i</c>, with the group sums of the input
/// computed once per call. Paths, by machine and batch: the field kernel (LowBitMatMul.Fields*.cs), the panel kernel
/// (LowBitMatMul.Panel.cs, an L1-sized dequantized panel), table lookups (LowBitMatMul.Lookup.cs), the dequantized
/// block (LowBitMatMul.Dequantized.cs) and the generic kernels below; MatMul picks one per call.
/// </summary>
internal static unsafe partial class LowBitMatMul
{
    /// <summary>Everything a worker needs, shared by pointer.</summary>
    private struct Args
    {
        public float* Streams;       // the prepared input, per path: de-interleaved streams, field-kernel blocks or panel tiles
        public float* GroupSums;     // batch x groups
        public byte* Packed;         // outFeatures x rowBytes
        public float* Scales;        // outFeatures x groups
        public float* ScaledZeros;   // outFeatures x groups: s * z
        public byte* ZeroPoints;     // outFeatures x groups: z
        public float* Bias;          // outFeatures or null
        public float* Output;        // batch x outFeatures
        public float* InputUnscales; // per input row: the field kernel's input is scaled by a power of two; this undoes it
        public int Batch, InFeatures, OutFeatures, Bits, GroupSize, RowsPerChunk;
    }

    /// <summary>Runs the kernel. Arguments are validated by the caller; scales and s*z are float32 already.</summary>
    public static void MatMul<T>(ReadOnlySpan<T> input, ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, ReadOnlySpan<float> scaledZeros, ReadOnlySpan<byte> zeroPoints,
                                 ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int bits, int groupSize, int maxThreads) =>
        MatMul(input, packed, scales, scaledZeros, zeroPoints, bias, output, inFeatures, outFeatures, bits, groupSize, maxThreads, scalar: false);

    /// <summary>The scalar reference: the same arithmetic in plain loops on the calling thread (benchmark baseline).</summary>
    public static void MatMulScalar<T>(ReadOnlySpan<T> input, ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, ReadOnlySpan<float> scaledZeros, ReadOnlySpan<byte> zeroPoints,
                                       ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int bits, int groupSize) =>
        MatMul(input, packed, scales, scaledZeros, zeroPoints, bias, output, inFeatures, outFeatures, bits, groupSize, maxThreads: 1, scalar: true);

    private static void MatMul<T>(ReadOnlySpan<T> input, ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, ReadOnlySpan<float> scaledZeros, ReadOnlySpan<byte> zeroPoints,
                                  ReadOnlySpan<T> bias, Span<T> output, int inFeatures, int outFeatures, int bits, int groupSize, int maxThreads, bool scalar)
    {
        int batch = input.Length / inFeatures;
        int groups = inFeatures / groupSize;
        Debug.Assert(packed.Length == outFeatures * (inFeatures * bits / 8) && scales.Length == outFeatures * groups);
        float[] streams = ArrayPool<float>.Shared.Rent(batch * inFeatures + AlignmentFloats);
        float[] groupSums = ArrayPool<float>.Shared.Rent(batch * groups);
        float[]? biasScratch = bias.IsEmpty ? null : ArrayPool<float>.Shared.Rent(outFeatures);
        float[]? outputScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(batch * outFeatures);
        float[] row = ArrayPool<float>.Shared.Rent(inFeatures);
        try
        {
            int groupBytes = groupSize * bits / 8;
            int panelFrom = PanelMinBatch(inFeatures, outFeatures);
            bool panel = !scalar && batch >= panelFrom && HasPanelKernel(inFeatures, bits, groupSize);
            bool blocked = !scalar && !panel && batch >= BlockedMinBatch && Lanes128.IsSupported;
            bool fields = !scalar && !panel && batch <= FieldMaxBatch && HasFieldKernel(inFeatures, bits, groupSize);
            bool fields256 = !scalar && !fields && !panel && batch <= FieldMaxBatch && HasFieldKernel256(inFeatures, bits, groupSize);
            bool lookup = !scalar && !blocked && !fields && !fields256 && HasLookupKernel(bits, groupBytes);
            if (biasScratch is not null) Elements<T>.ToSingle(bias, biasScratch);
            Span<float> y = outputScratch is null ? SpanCast.As<T, float>(output)[..(batch * outFeatures)] : outputScratch.AsSpan(0, batch * outFeatures);
            fixed (float* pinned = streams, pg = groupSums, psc = scales, psz = scaledZeros, pb = biasScratch, py = y)
            fixed (byte* pw = packed, pz = zeroPoints)
            {
                // The prepared input starts on a cache line: every vector load of it then stays within one line.
                float* ps = (float*)(((nint)pinned + 63) & ~(nint)63);
                var prepared = new Span<float>(ps, batch * inFeatures);
                float* inputUnscales = stackalloc float[FieldMaxBatch];
                if (panel)
                {
                    PackInputTiles(input, batch, inFeatures, prepared, row);
                }
                else if (fields || fields256)
                {
                    Span<float> x = row.AsSpan(0, inFeatures);
                    for (int b = 0; b < batch; b++)
                    {
                        Elements<T>.ToSingle(input.Slice(b * inFeatures, inFeatures), x);
                        inputUnscales[b] = PrepareFieldInput(x, bits, groupSize, fields ? 16 : 8, prepared.Slice(b * inFeatures, inFeatures), groupSums.AsSpan(b * groups, groups));
                    }
                }
                else
                {
                    // The lookup tables and the dequantized block fold the zero points in, so only the other paths need the input's group sums.
                    PrepareInput(input, batch, inFeatures, bits, groupSize, prepared, lookup || blocked ? default : groupSums.AsSpan(0, batch * groups), row);
                }

                var args = new Args
                {
                    Streams = ps, GroupSums = pg, Packed = pw, Scales = psc, ScaledZeros = psz, ZeroPoints = pz, Bias = pb, Output = py,
                    InputUnscales = inputUnscales, Batch = batch, InFeatures = inFeatures, OutFeatures = outFeatures, Bits = bits, GroupSize = groupSize,
                    RowsPerChunk = panel ? PanelChunkRows : fields || fields256 ? Math.Clamp((256 * 1024 / (inFeatures * bits / 8)) & ~3, 4, FieldChunkRows) : blocked ? BlockRows(inFeatures) : Math.Clamp((256 * 1024 / Math.Max(1, inFeatures * bits / 8)) & ~3, 4, 4096),
                };
                int chunks = (outFeatures + args.RowsPerChunk - 1) / args.RowsPerChunk;
                if ((long)batch * inFeatures * outFeatures < W8A16.ParallelMinMultiplyAdds) maxThreads = 1;
                if (scalar) WorkerPool.Run(&ChunkScalar, &args, chunks, 1);
                else if (panel) WorkerPool.Run(&ChunkPanel, &args, chunks, maxThreads);
                else if (fields) WorkerPool.Run(&ChunkFields, &args, chunks, maxThreads);
                else if (fields256) WorkerPool.Run(&ChunkFields256, &args, chunks, maxThreads);
                else if (blocked && Lanes512.IsSupported) WorkerPool.Run(&ChunkDequantized<Lanes512, Vector512<float>>, &args, chunks, maxThreads);
                else if (blocked && Lanes256.IsSupported) WorkerPool.Run(&ChunkDequantized<Lanes256, Vector256<float>>, &args, chunks, maxThreads);
                else if (blocked) WorkerPool.Run(&ChunkDequantized<Lanes128, Vector128<float>>, &args, chunks, maxThreads);
                else if (lookup) WorkerPool.Run(&ChunkLookup, &args, chunks, maxThreads);
                // The widest vector whose byte count divides a group's bytes: a vector never straddles two groups.
                else if (Lanes512.IsSupported && groupBytes % 16 == 0) WorkerPool.Run(&Chunk<Lanes512, Vector512<float>>, &args, chunks, maxThreads);
                else if (Lanes256.IsSupported && groupBytes % 8 == 0) WorkerPool.Run(&Chunk<Lanes256, Vector256<float>>, &args, chunks, maxThreads);
                else if (Lanes128.IsSupported && groupBytes % 4 == 0) WorkerPool.Run(&Chunk<Lanes128, Vector128<float>>, &args, chunks, maxThreads);
                else WorkerPool.Run(&ChunkScalar, &args, chunks, maxThreads);
            }

            if (outputScratch is not null) Elements<T>.FromSingle(y, output);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(streams);
            ArrayPool<float>.Shared.Return(groupSums);
            ArrayPool<float>.Shared.Return(row);
            if (biasScratch is not null) ArrayPool<float>.Shared.Return(biasScratch);
            if (outputScratch is not null) ArrayPool<float>.Shared.Return(outputScratch);
        }
    }

    /// <summary>Spare floats in the input buffer, so that its prepared copy can start on a 64-byte boundary.</summary>
    private const int AlignmentFloats = 16;

    /// <summary>Widens each input row to float, de-interleaves it into 8 / bits streams and, unless <paramref name="groupSums"/> is empty, sums each group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PrepareInput<T>(ReadOnlySpan<T> input, int batch, int inFeatures, int bits, int groupSize,
                                        Span<float> streams, Span<float> groupSums, Span<float> row)
    {
        int per = 8 / bits, streamLength = inFeatures / per, groups = inFeatures / groupSize;
        for (int b = 0; b < batch; b++)
        {
            Span<float> x = row[..inFeatures];
            Elements<T>.ToSingle(input.Slice(b * inFeatures, inFeatures), x);
            Span<float> destination = streams.Slice(b * inFeatures, inFeatures);
            for (int j = 0; j < streamLength; j++)
            {
                for (int k = 0; k < per; k++) destination[k * streamLength + j] = x[j * per + k];
            }

            if (groupSums.IsEmpty) continue;
            for (int g = 0; g < groups; g++) groupSums[b * groups + g] = System.Numerics.Tensors.TensorPrimitives.Sum(x.Slice(g * groupSize, groupSize));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TLanes, TVec>(void* state, int chunk)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        float* sums = stackalloc float[4];
        for (int b = 0; b < args.Batch; b += 4)
        {
            int valid = Math.Min(4, args.Batch - b);
            for (int o = start; o < end; o++)
            {
                switch (args.Bits)
                {
                    case 4: Row4<TLanes, TVec>(in args, o, b, valid, sums); break;
                    case 2: Row2<TLanes, TVec>(in args, o, b, valid, sums); break;
                    default: Row8<TLanes, TVec>(in args, o, b, valid, sums); break;
                }

                for (int k = 0; k < valid; k++) args.Output[(nint)(b + k) * args.OutFeatures + o] = Finish(in args, sums[k], o, b + k);
            }
        }
    }

    /// <summary>Subtracts the zero-point term and adds the bias: <c>acc - sum_g (s z)_g * xsum_g + bias</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(in Args args, float acc, int o, int b)
    {
        int groups = args.InFeatures / args.GroupSize;
        float* sz = args.ScaledZeros + (nint)o * groups;
        float* xs = args.GroupSums + (nint)b * groups;
        float correction = 0;
        for (int g = 0; g < groups; g++) correction += sz[g] * xs[g];
        float y = acc - correction;
        return args.Bias is null ? y : y + args.Bias[o];
    }

    /// <summary>The stream pointers of up to four batch rows; missing rows repeat the first (their results are not stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BatchRows(in Args args, int b, int valid, out float* x0, out float* x1, out float* x2, out float* x3)
    {
        x0 = args.Streams + (nint)b * args.InFeatures;
        x1 = valid > 1 ? x0 + args.InFeatures : x0;
        x2 = valid > 2 ? x1 + args.InFeatures : x0;
        x3 = valid > 3 ? x2 + args.InFeatures : x0;
    }

    /// <summary>
    /// 4-bit row o against up to four input rows: per vector of packed bytes, the low and high nibbles are
    /// widened once and feed every input row; per group, the partial dot is scaled into the total.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row4<TLanes, TVec>(in Args args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, streamLength = args.InFeatures / 2, groupBytes = args.GroupSize / 2, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Packed + (nint)o * streamLength;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        Vector128<byte> mask = Vector128.Create((byte)0x0F);
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + groupBytes; j < end; j += lanes)
            {
                Vector128<byte> packed = TLanes.LoadBytes(w + j);
                TVec lo = TLanes.BytesToSingle(packed & mask);
                TVec hi = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 4));
                int e = j, od = streamLength + j;
                a0 = TLanes.MultiplyAdd(hi, TLanes.Load(x0 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x0 + e), a0));
                a1 = TLanes.MultiplyAdd(hi, TLanes.Load(x1 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x1 + e), a1));
                a2 = TLanes.MultiplyAdd(hi, TLanes.Load(x2 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x2 + e), a2));
                a3 = TLanes.MultiplyAdd(hi, TLanes.Load(x3 + od), TLanes.MultiplyAdd(lo, TLanes.Load(x3 + e), a3));
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);
    }

    /// <summary>2-bit row o against up to four input rows: four 2-bit fields per packed byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row2<TLanes, TVec>(in Args args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, streamLength = args.InFeatures / 4, groupBytes = args.GroupSize / 4, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Packed + (nint)o * streamLength;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        Vector128<byte> mask = Vector128.Create((byte)0x03);
        nint s1 = streamLength, s2 = 2 * (nint)streamLength, s3 = 3 * (nint)streamLength;
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + groupBytes; j < end; j += lanes)
            {
                Vector128<byte> packed = TLanes.LoadBytes(w + j);
                TVec f0 = TLanes.BytesToSingle(packed & mask);
                TVec f1 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 2) & mask);
                TVec f2 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 4) & mask);
                TVec f3 = TLanes.BytesToSingle(Vector128.ShiftRightLogical(packed, 6));
                a0 = Fields(f0, f1, f2, f3, x0 + j, s1, s2, s3, a0);
                a1 = Fields(f0, f1, f2, f3, x1 + j, s1, s2, s3, a1);
                a2 = Fields(f0, f1, f2, f3, x2 + j, s1, s2, s3, a2);
                a3 = Fields(f0, f1, f2, f3, x3 + j, s1, s2, s3, a3);
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static TVec Fields(TVec f0, TVec f1, TVec f2, TVec f3, float* x, nint s1, nint s2, nint s3, TVec acc) =>
            TLanes.MultiplyAdd(f3, TLanes.Load(x + s3), TLanes.MultiplyAdd(f2, TLanes.Load(x + s2),
                TLanes.MultiplyAdd(f1, TLanes.Load(x + s1), TLanes.MultiplyAdd(f0, TLanes.Load(x), acc))));
    }

    /// <summary>8-bit (unsigned codes, one per byte) row o against up to four input rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row8<TLanes, TVec>(in Args args, int o, int b, int valid, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Packed + (nint)o * args.InFeatures;
        float* scales = args.Scales + (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        TVec t0 = TLanes.Zero, t1 = TLanes.Zero, t2 = TLanes.Zero, t3 = TLanes.Zero;
        for (int g = 0, j = 0; g < groups; g++)
        {
            TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
            for (int end = j + args.GroupSize; j < end; j += lanes)
            {
                TVec v = TLanes.BytesToSingle(TLanes.LoadBytes(w + j));
                a0 = TLanes.MultiplyAdd(v, TLanes.Load(x0 + j), a0);
                a1 = TLanes.MultiplyAdd(v, TLanes.Load(x1 + j), a1);
                a2 = TLanes.MultiplyAdd(v, TLanes.Load(x2 + j), a2);
                a3 = TLanes.MultiplyAdd(v, TLanes.Load(x3 + j), a3);
            }

            TVec s = TLanes.Broadcast(scales[g]);
            t0 = TLanes.MultiplyAdd(a0, s, t0);
            t1 = TLanes.MultiplyAdd(a1, s, t1);
            t2 = TLanes.MultiplyAdd(a2, s, t2);
            t3 = TLanes.MultiplyAdd(a3, s, t3);
        }

        sums[0] = TLanes.Sum(t0);
        sums[1] = TLanes.Sum(t1);
        sums[2] = TLanes.Sum(t2);
        sums[3] = TLanes.Sum(t3);
    }

    /// <summary>No SIMD: plain loops over the packed fields, one batch row at a time.</summary>
    private static void ChunkScalar(void* state, int chunk)
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        int per = 8 / args.Bits, streamLength = args.InFeatures / per, groupBytes = args.GroupSize / per, groups = args.InFeatures / args.GroupSize;
        int mask = (1 << args.Bits) - 1;
        for (int b = 0; b < args.Batch; b++)
        {
            float* x = args.Streams + (nint)b * args.InFeatures;
            for (int o = start; o < end; o++)
            {
                byte* w = args.Packed + (nint)o * streamLength;
                float total = 0;
                for (int g = 0; g < groups; g++)
                {
                    float acc = 0;
                    for (int j = g * groupBytes; j < (g + 1) * groupBytes; j++)
                    {
                        for (int k = 0; k < per; k++) acc += ((w[j] >> (k * args.Bits)) & mask) * x[k * streamLength + j];
                    }

                    total += acc * args.Scales[(nint)o * groups + g];
                }

                args.Output[(nint)b * args.OutFeatures + o] = Finish(in args, total, o, b);
            }
        }
    }
}
