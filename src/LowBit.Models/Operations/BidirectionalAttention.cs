using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit.Models;

/// <summary>
/// BERT's self-attention over packed sequences: rows of several texts one after another (no padding), each text
/// attending to its own rows only: <c>ctx_i = sum_j softmax_j(q_i . k_j / sqrt(d)) v_j</c> per head. With no padding
/// there is no mask, so the <c>(1 - mask) * -10000</c> bias of the padded form is zero everywhere it applies. One work
/// item per (text, head): the head's keys are transposed once, so each query's scores are a run of vector FMAs.
/// </summary>
internal static unsafe class BidirectionalAttention
{
    private struct Args
    {
        public float* Query, Key, Value, Output;
        public int* Starts;            // texts + 1 row offsets
        public int Texts, Heads, HeadSize, Width;
        public float Scale;
    }

    [ThreadStatic]
    private static float[]? t_scratch;

    /// <summary>
    /// <paramref name="query"/>, <paramref name="key"/>, <paramref name="value"/> and <paramref name="output"/>: rows x
    /// (heads x headSize); text t owns rows <c>starts[t]</c> to <c>starts[t + 1] - 1</c>.
    /// </summary>
    public static void Run(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
                           ReadOnlySpan<int> starts, int heads, int headSize, int maxThreads)
    {
        fixed (float* q = query, k = key, v = value, o = output)
        fixed (int* s = starts)
        {
            var args = new Args
            {
                Query = q,
                Key = k,
                Value = v,
                Output = o,
                Starts = s,
                Texts = starts.Length - 1,
                Heads = heads,
                HeadSize = headSize,
                Width = heads * headSize,
                Scale = 1f / MathF.Sqrt(headSize),
            };
            long work = 0;
            for (int t = 0; t < args.Texts; t++) work += (long)(starts[t + 1] - starts[t]) * (starts[t + 1] - starts[t]);
            // Small texts: waking a worker costs more than the attention.
            WorkerPool.Run(&Item, &args, args.Texts * heads, work * heads * headSize < 1 << 18 ? 1 : maxThreads);
        }
    }

    private static void Item(void* state, int item)
    {
        ref Args a = ref Unsafe.AsRef<Args>(state);
        int text = item / a.Heads, head = item % a.Heads, d = a.HeadSize;
        int first = a.Starts[text], n = a.Starts[text + 1] - first;
        int padded = (n + 7) & ~7;
        int needed = d * padded + padded;
        if (t_scratch is null || t_scratch.Length < needed) t_scratch = GC.AllocateUninitializedArray<float>(Math.Max(needed, 64 * 1024),
                                                                                                             pinned: true);
        fixed (float* scratch = t_scratch)
        {
            float* keysT = scratch, scores = scratch + d * padded;
            // keysT[e][j] = k[first + j][head * d + e]; the padding columns are zero and never read into a result.
            for (int e = 0; e < d; e++)
            {
                float* row = keysT + e * padded;
                for (int j = 0; j < n; j++) row[j] = a.Key[(nint)(first + j) * a.Width + head * d + e];
                for (int j = n; j < padded; j++) row[j] = 0;
            }

            for (int i = 0; i < n; i++)
            {
                float* q = a.Query + (nint)(first + i) * a.Width + head * d;
                Scores(q, keysT, d, padded, a.Scale, scores);
                Activations.Softmax(new Span<float>(scores, n));
                float* o = a.Output + (nint)(first + i) * a.Width + head * d;
                Context(scores, a.Value + (nint)first * a.Width + head * d, a.Width, n, d, o);
            }
        }
    }

    /// <summary><c>scores[j] = scale * sum_e q[e] keysT[e][j]</c> for every j of a padded row.</summary>
    private static void Scores(float* q, float* keysT, int d, int padded, float scale, float* scores)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; j < padded; j += 8)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                for (int e = 0; e < d; e++) acc = Vector256.MultiplyAddEstimate(Vector256.Create(q[e]), Vector256.Load(keysT + e * padded + j), acc);
                (acc * scale).Store(scores + j);
            }

            return;
        }

        for (; j < padded; j++)
        {
            float sum = 0;
            for (int e = 0; e < d; e++) sum += q[e] * keysT[e * padded + j];
            scores[j] = sum * scale;
        }
    }

    /// <summary><c>o[e] = sum_j p[j] v[j][e]</c> over the text's rows (<paramref name="stride"/> floats apart).</summary>
    private static void Context(float* p, float* v, int stride, int n, int d, float* o)
    {
        int e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; e <= d - 8; e += 8)
            {
                Vector256<float> acc = Vector256<float>.Zero;
                for (int j = 0; j < n; j++) acc = Vector256.MultiplyAddEstimate(Vector256.Create(p[j]), Vector256.Load(v + (nint)j * stride + e),
                                                                                acc);
                acc.Store(o + e);
            }
        }

        for (; e < d; e++)
        {
            float sum = 0;
            for (int j = 0; j < n; j++) sum += p[j] * v[(nint)j * stride + e];
            o[e] = sum;
        }
    }
}
