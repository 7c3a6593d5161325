using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit.Kernels;

/// <summary>
/// <c>y[b, o] = sum_i x[b, i] * w[o, i] + bias[o]</c> for dense float weights stored as float32, f16 or bf16: the layers
/// of models that keep full-precision weights (<see cref="DenseLinear{T}"/>). f16 and bf16 rows are widened a slice at a
/// time into a small buffer that every input row of the call then reads, so each weight is converted once per call.
/// </summary>
internal static unsafe class DenseMatMul
{
    /// <summary>Columns per slice: four rows' slices (8 KiB of float32) stay in L1 while the batch walks over them.</summary>
    private const int SliceColumns = 512;

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
                              Span<T> output, int maxThreads)
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
                    Input = px, Output = py, Bias = bias.IsEmpty ? null : pb, Weights = weights, Type = type,
                    Batch = batch, InFeatures = inFeatures, OutFeatures = outFeatures,
                };
                int chunks = (outFeatures + RowsPerChunk - 1) / RowsPerChunk;
                if ((long)batch * inFeatures * outFeatures < MatMulRunner.ParallelMinMultiplyAdds) maxThreads = 1;
                delegate*<void*, int, void> body = Lanes512.IsSupported ? &Chunk<Lanes512, Vector512<float>>
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
            case DenseType.Float16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)weights + index, count), destination); break;
            default: BFloat16.ConvertToSingle(new ReadOnlySpan<BFloat16>((BFloat16*)weights + index, count), destination); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chunk<TLanes, TV>(void* state, int chunk) where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int start = chunk * RowsPerChunk, end = Math.Min(start + RowsPerChunk, args.OutFeatures), n = args.InFeatures;
        float* slices = stackalloc float[4 * SliceColumns];
        float** rows = stackalloc float*[4];
        for (int o = start; o < end; o += 4)
        {
            int count = Math.Min(4, end - o);
            for (int b = 0; b < args.Batch; b++)
            {
                for (int r = 0; r < count; r++) args.Output[(nint)b * args.OutFeatures + o + r] = args.Bias is null ? 0 : args.Bias[o + r];
            }

            for (int k = 0; k < n; k += SliceColumns)
            {
                int width = Math.Min(SliceColumns, n - k);
                for (int r = 0; r < 4; r++)
                {
                    // A missing fourth row repeats the last real one: its sums are computed and dropped, so the tile has no branch.
                    int row = o + Math.Min(r, count - 1);
                    if (args.Type == DenseType.Float32)
                    {
                        rows[r] = (float*)args.Weights + (nint)row * n + k;
                    }
                    else
                    {
                        rows[r] = slices + r * SliceColumns;
                        Widen(args.Weights, args.Type, n, row, k, width, new Span<float>(rows[r], width));
                    }
                }

                for (int b = 0; b < args.Batch; b++)
                {
                    float* x = args.Input + (nint)b * n + k, y = args.Output + (nint)b * args.OutFeatures + o;
                    Dot4<TLanes, TV>(x, rows, width, y, count);
                }
            }
        }
    }

    /// <summary><c>y[r] += x . rows[r]</c> for up to four rows over <paramref name="width"/> columns (rows past <paramref name="count"/> are dropped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TLanes, TV>(float* x, float** rows, int width, float* y, int count)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        TV a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
        float* w0 = rows[0], w1 = rows[1], w2 = rows[2], w3 = rows[3];
        int i = 0;
        for (; i <= width - TLanes.Count; i += TLanes.Count)
        {
            TV xv = TLanes.Load(x + i);
            a0 = TLanes.MultiplyAdd(xv, TLanes.Load(w0 + i), a0);
            a1 = TLanes.MultiplyAdd(xv, TLanes.Load(w1 + i), a1);
            a2 = TLanes.MultiplyAdd(xv, TLanes.Load(w2 + i), a2);
            a3 = TLanes.MultiplyAdd(xv, TLanes.Load(w3 + i), a3);
        }

        float s0 = TLanes.Sum(a0), s1 = TLanes.Sum(a1), s2 = TLanes.Sum(a2), s3 = TLanes.Sum(a3);
        for (; i < width; i++)
        {
            s0 += x[i] * w0[i];
            s1 += x[i] * w1[i];
            s2 += x[i] * w2[i];
            s3 += x[i] * w3[i];
        }

        y[0] += s0;
        if (count > 1) y[1] += s1;
        if (count > 2) y[2] += s2;
        if (count > 3) y[3] += s3;
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
