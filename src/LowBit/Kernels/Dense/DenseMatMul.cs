using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit.Kernels;

/// <summary>
/// <c>y[b, o] = sum_i x[b, i] * w[o, i] + bias[o]</c> for dense float weights stored as float32, f16 or bf16: the layers
/// of models that keep full-precision weights (<see cref="DenseLinear{T}"/>). f16 and bf16 rows are widened once per call
/// into a per-thread buffer that every input row then reads.
/// </summary>
internal static unsafe class DenseMatMul
{
    /// <summary>Rows per work item.</summary>
    private const int RowsPerChunk = 16;

    private struct Args
    {
        public float* Input, Output, Bias;
        public byte* Weights;
        public DenseType Type;
        public int Batch, InFeatures, OutFeatures;
    }

    /// <summary>
    /// Runs a validated call: <paramref name="input"/> batch x inFeatures, <paramref name="output"/> batch x outFeatures,
    /// <paramref name="weights"/> outFeatures x inFeatures elements of <paramref name="type"/>.
    /// </summary>
    public static void Run<T>(byte* weights, DenseType type, ReadOnlySpan<float> bias, int inFeatures, int outFeatures, ReadOnlySpan<T> input,
                              Span<T> output, int maxThreads, bool reference = false)
    {
        int batch = input.Length / inFeatures;
        float[]? inputScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(input.Length);
        float[]? outputScratch = typeof(T) == typeof(float) ? null : ArrayPool<float>.Shared.Rent(output.Length);
        try
        {
            ReadOnlySpan<float> x = inputScratch is null ? SpanCast.As<T, float>(input) : inputScratch.AsSpan(0, input.Length);
            if (inputScratch is not null) Elements<T>.ToSingle(input, inputScratch);
            Span<float> y = outputScratch is null ? SpanCast.As<T, float>(output) : outputScratch.AsSpan(0, output.Length);
            fixed (float* px = x, py = y, pb = bias)
            {
                var args = new Args
                {
                    Input = px,
                    Output = py,
                    Bias = bias.IsEmpty ? null : pb,
                    Weights = weights,
                    Type = type,
                    Batch = batch,
                    InFeatures = inFeatures,
                    OutFeatures = outFeatures,
                };
                int chunks = (outFeatures + RowsPerChunk - 1) / RowsPerChunk;
                if ((long)batch * inFeatures * outFeatures < MatMulRunner.ParallelMinMultiplyAdds) maxThreads = 1;
                if (reference) maxThreads = 1;
                delegate*<void*, int, void> body = reference ? &ChunkScalar
                    : Lanes512.IsSupported ? &Chunk<Lanes512, Vector512<float>>
                    : Lanes256.IsSupported ? &Chunk<Lanes256, Vector256<float>>
                    : Lanes128.IsSupported ? &Chunk<Lanes128, Vector128<float>>
                    : &ChunkScalar;
                WorkerPool.Run(body, &args, chunks, maxThreads);
            }

            if (outputScratch is not null) Elements<T>.FromSingle(y, output);
        }
        finally
        {
            if (inputScratch is not null) ArrayPool<float>.Shared.Return(inputScratch);
            if (outputScratch is not null) ArrayPool<float>.Shared.Return(outputScratch);
        }
    }

    /// <summary>Widens <paramref name="count"/> weights of row <paramref name="row"/> from column <paramref name="column"/> to float32.</summary>
    public static void Widen(byte* weights, DenseType type, int inFeatures, int row, int column, int count, Span<float> destination)
    {
        long index = (long)row * inFeatures + column;
        switch (type)
        {
            case DenseType.Float32: new ReadOnlySpan<float>((float*)weights + index, count).CopyTo(destination); break;
            case DenseType.Float16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)weights + index, count),
                                                                                             destination); break;
            default: BFloat16.ConvertToSingle(new ReadOnlySpan<BFloat16>((BFloat16*)weights + index, count), destination); break;
        }
    }

    [ThreadStatic]
    private static float[]? t_rows;

    /// <summary>
    /// One work item: its rows as float32 (the stored rows themselves, or widened once into a per-thread buffer), then
    /// register tiles of 4 weight rows x 4 input rows (x 2 below 512 bits, where 16 accumulators would spill) over the
    /// whole row: each weight load feeds 4 (2) FMAs and each input load 4, so the loop is FMA-bound, not load-bound.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TLanes, TV>(void* state, int chunk) where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int start = chunk * RowsPerChunk, end = Math.Min(start + RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        float* rows;
        float[]? buffer = null;
        if (args.Type == DenseType.Float32)
        {
            rows = (float*)args.Weights + (nint)start * n;
        }
        else
        {
            buffer = t_rows;
            if (buffer is null || buffer.Length < RowsPerChunk * n) t_rows = buffer = GC.AllocateUninitializedArray<float>(RowsPerChunk * n,
                                                                                                                           pinned: true);
            rows = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
            for (int r = start; r < end; r++) Widen(args.Weights, args.Type, n, r, 0, n, new Span<float>(rows + (nint)(r - start) * n, n));
        }

        int inputsPerTile = TLanes.Count == 16 ? 4 : 2;
        Span<float> sums = stackalloc float[4];
        for (int o = start; o < end; o += 4)
        {
            int count = Math.Min(4, end - o);
            // A missing row repeats the last real one: its sums are computed and dropped, so the tile has no branch.
            float* w0 = rows + (nint)(o - start) * n, w1 = w0 + (count > 1 ? n : 0), w2 = w0 + (count > 2 ? 2 * n : 0), w3 = w0 + (count > 3 ? 3 * n
                : 0);
            int b = 0;
            for (; b + inputsPerTile <= args.Batch; b += inputsPerTile)
            {
                if (inputsPerTile == 4) Tile4x4<TLanes, TV>(ref args, w0, w1, w2, w3, b, o, count);
                else Tile4x2<TLanes, TV>(ref args, w0, w1, w2, w3, b, o, count);
            }

            for (; b < args.Batch; b++)
            {
                float* x = args.Input + (nint)b * n, y = args.Output + (nint)b * args.OutFeatures + o;
                Dot4<TLanes, TV>(x, w0, w1, w2, w3, n, sums);
                Store(ref args, y, o, count, sums);
            }
        }

        GC.KeepAlive(buffer);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref Args args, float* y, int o, int count, ReadOnlySpan<float> sums)
    {
        for (int r = 0; r < count; r++) y[r] = sums[r] + (args.Bias is null ? 0 : args.Bias[o + r]);
    }

    /// <summary>4 weight rows x 4 input rows over the whole row: 16 accumulators, 8 loads per 16 FMAs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4x4<TLanes, TV>(ref Args args, float* w0, float* w1, float* w2, float* w3, int b, int o, int count)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        int n = args.InFeatures;
        float* x0 = args.Input + (nint)b * n, x1 = x0 + n, x2 = x1 + n, x3 = x2 + n;
        TV a00 = TLanes.Zero, a01 = TLanes.Zero, a02 = TLanes.Zero, a03 = TLanes.Zero, a10 = TLanes.Zero, a11 = TLanes.Zero, a12 = TLanes.Zero,
            a13 = TLanes.Zero;
        TV a20 = TLanes.Zero, a21 = TLanes.Zero, a22 = TLanes.Zero, a23 = TLanes.Zero, a30 = TLanes.Zero, a31 = TLanes.Zero, a32 = TLanes.Zero,
            a33 = TLanes.Zero;
        int i = 0;
        for (; i <= n - TLanes.Count; i += TLanes.Count)
        {
            TV v0 = TLanes.Load(x0 + i), v1 = TLanes.Load(x1 + i), v2 = TLanes.Load(x2 + i), v3 = TLanes.Load(x3 + i);
            TV w = TLanes.Load(w0 + i);
            a00 = TLanes.MultiplyAdd(w, v0, a00); a01 = TLanes.MultiplyAdd(w, v1, a01); a02 = TLanes.MultiplyAdd(w, v2,
                a02); a03 = TLanes.MultiplyAdd(w, v3, a03);
            w = TLanes.Load(w1 + i);
            a10 = TLanes.MultiplyAdd(w, v0, a10); a11 = TLanes.MultiplyAdd(w, v1, a11); a12 = TLanes.MultiplyAdd(w, v2,
                a12); a13 = TLanes.MultiplyAdd(w, v3, a13);
            w = TLanes.Load(w2 + i);
            a20 = TLanes.MultiplyAdd(w, v0, a20); a21 = TLanes.MultiplyAdd(w, v1, a21); a22 = TLanes.MultiplyAdd(w, v2,
                a22); a23 = TLanes.MultiplyAdd(w, v3, a23);
            w = TLanes.Load(w3 + i);
            a30 = TLanes.MultiplyAdd(w, v0, a30); a31 = TLanes.MultiplyAdd(w, v1, a31); a32 = TLanes.MultiplyAdd(w, v2,
                a32); a33 = TLanes.MultiplyAdd(w, v3, a33);
        }

        Span<float> sums = stackalloc float[4];
        for (int c = 0; c < 4; c++)
        {
            float* x = c == 0 ? x0 : c == 1 ? x1 : c == 2 ? x2 : x3;
            sums[0] = TLanes.Sum(c == 0 ? a00 : c == 1 ? a01 : c == 2 ? a02 : a03);
            sums[1] = TLanes.Sum(c == 0 ? a10 : c == 1 ? a11 : c == 2 ? a12 : a13);
            sums[2] = TLanes.Sum(c == 0 ? a20 : c == 1 ? a21 : c == 2 ? a22 : a23);
            sums[3] = TLanes.Sum(c == 0 ? a30 : c == 1 ? a31 : c == 2 ? a32 : a33);
            for (int k = i; k < n; k++)
            {
                sums[0] += x[k] * w0[k];
                sums[1] += x[k] * w1[k];
                sums[2] += x[k] * w2[k];
                sums[3] += x[k] * w3[k];
            }

            Store(ref args, args.Output + (nint)(b + c) * args.OutFeatures + o, o, count, sums);
        }
    }

    /// <summary>4 weight rows x 2 input rows (256 and 128 bits: 8 accumulators fit 16 registers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4x2<TLanes, TV>(ref Args args, float* w0, float* w1, float* w2, float* w3, int b, int o, int count)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        int n = args.InFeatures;
        float* x0 = args.Input + (nint)b * n, x1 = x0 + n;
        TV a00 = TLanes.Zero, a01 = TLanes.Zero, a10 = TLanes.Zero, a11 = TLanes.Zero, a20 = TLanes.Zero, a21 = TLanes.Zero, a30 = TLanes.Zero,
            a31 = TLanes.Zero;
        int i = 0;
        for (; i <= n - TLanes.Count; i += TLanes.Count)
        {
            TV v0 = TLanes.Load(x0 + i), v1 = TLanes.Load(x1 + i);
            TV w = TLanes.Load(w0 + i);
            a00 = TLanes.MultiplyAdd(w, v0, a00); a01 = TLanes.MultiplyAdd(w, v1, a01);
            w = TLanes.Load(w1 + i);
            a10 = TLanes.MultiplyAdd(w, v0, a10); a11 = TLanes.MultiplyAdd(w, v1, a11);
            w = TLanes.Load(w2 + i);
            a20 = TLanes.MultiplyAdd(w, v0, a20); a21 = TLanes.MultiplyAdd(w, v1, a21);
            w = TLanes.Load(w3 + i);
            a30 = TLanes.MultiplyAdd(w, v0, a30); a31 = TLanes.MultiplyAdd(w, v1, a31);
        }

        Span<float> sums = stackalloc float[4];
        for (int c = 0; c < 2; c++)
        {
            float* x = c == 0 ? x0 : x1;
            sums[0] = TLanes.Sum(c == 0 ? a00 : a01);
            sums[1] = TLanes.Sum(c == 0 ? a10 : a11);
            sums[2] = TLanes.Sum(c == 0 ? a20 : a21);
            sums[3] = TLanes.Sum(c == 0 ? a30 : a31);
            for (int k = i; k < n; k++)
            {
                sums[0] += x[k] * w0[k];
                sums[1] += x[k] * w1[k];
                sums[2] += x[k] * w2[k];
                sums[3] += x[k] * w3[k];
            }

            Store(ref args, args.Output + (nint)(b + c) * args.OutFeatures + o, o, count, sums);
        }
    }

    /// <summary><c>sums[r] = x . w_r</c> for four rows over the whole row (one input row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TLanes, TV>(float* x, float* w0, float* w1, float* w2, float* w3, int n, Span<float> sums)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        TV a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
        int i = 0;
        for (; i <= n - TLanes.Count; i += TLanes.Count)
        {
            TV xv = TLanes.Load(x + i);
            a0 = TLanes.MultiplyAdd(xv, TLanes.Load(w0 + i), a0);
            a1 = TLanes.MultiplyAdd(xv, TLanes.Load(w1 + i), a1);
            a2 = TLanes.MultiplyAdd(xv, TLanes.Load(w2 + i), a2);
            a3 = TLanes.MultiplyAdd(xv, TLanes.Load(w3 + i), a3);
        }

        float s0 = TLanes.Sum(a0), s1 = TLanes.Sum(a1), s2 = TLanes.Sum(a2), s3 = TLanes.Sum(a3);
        for (; i < n; i++)
        {
            s0 += x[i] * w0[i];
            s1 += x[i] * w1[i];
            s2 += x[i] * w2[i];
            s3 += x[i] * w3[i];
        }

        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    /// <summary>The scalar reference (and the path without SIMD): one row at a time, widened whole.</summary>
    private static void ChunkScalar(void* state, int chunk)
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int start = chunk * RowsPerChunk, end = Math.Min(start + RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        float[] row = ArrayPool<float>.Shared.Rent(n);
        try
        {
            for (int o = start; o < end; o++)
            {
                Widen(args.Weights, args.Type, n, o, 0, n, row);
                for (int b = 0; b < args.Batch; b++)
                {
                    float* x = args.Input + (nint)b * n;
                    float sum = 0;
                    for (int i = 0; i < n; i++) sum += x[i] * row[i];
                    args.Output[(nint)b * args.OutFeatures + o] = sum + (args.Bias is null ? 0 : args.Bias[o]);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(row);
        }
    }
}
