using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LowBit.Internal;

namespace LowBit.Models;

/// <summary>
/// Causal multi-head attention over a <see cref="KvCache"/> with grouped key/value heads: for the token at position P and
/// query head h, <c>out = sum_(j &lt;= P) softmax_j(q . k_j / sqrt(d)) v_j</c> with k and v from kv head
/// <c>h / (heads / kvHeads)</c>. One work item per kv head, so the heads that share it read its keys and values once
/// (a Half cache is widened once per call and head, not once per query).
/// </summary>
internal sealed unsafe class Attention
{
    private readonly int _heads, _kvHeads, _headSize;
    private float[] _scores = [];                // per kv head: one row of scores (the longest context seen)
    private float[] _widened = [];               // Half caches: per kv head, its keys and values widened to float32
    private nint[] _keyPages = [], _valuePages = []; // per kv head and page: where its rows start (float32)

    public Attention(int heads, int kvHeads, int headSize)
    {
        _heads = heads;
        _kvHeads = kvHeads;
        _headSize = headSize;
    }

    private struct Args
    {
        public float* Query, Output, Scores;
        public nint* KeyPages, ValuePages;
        public KvCache Cache;
        public int Layer, Tokens, First, Heads, KvHeads, HeadSize, Pages, ScoreStride;
        public float Scale;
    }

    /// <summary>
    /// Attends <paramref name="tokens"/> queries at positions <paramref name="first"/>.. (rows of heads x headSize in
    /// <paramref name="query"/>) to the cache's layer <paramref name="layer"/>, which already holds their own keys and values.
    /// </summary>
    public void Run(KvCache cache, int layer, ReadOnlySpan<float> query, int tokens, int first, Span<float> output, int maxThreads)
    {
        int length = first + tokens, pages = (length + KvCache.PageSize - 1) / KvCache.PageSize;
        Grow(ref _scores, _kvHeads * length);
        if (_keyPages.Length < _kvHeads * pages)
        {
            _keyPages = new nint[_kvHeads * pages];
            _valuePages = new nint[_kvHeads * pages];
        }

        if (cache.Type == KvCacheType.Float16) Grow(ref _widened, 2 * _kvHeads * pages * KvCache.PageSize * _headSize);
        fixed (float* q = query, o = output, scores = _scores, widened = _widened)
        fixed (nint* keyPages = _keyPages, valuePages = _valuePages)
        {
            for (int h = 0; h < _kvHeads; h++)
            {
                for (int p = 0; p < pages; p++)
                {
                    int i = h * pages + p;
                    if (cache.Type == KvCacheType.Float32)
                    {
                        keyPages[i] = (nint)cache.Keys(layer, p, h);
                        valuePages[i] = (nint)cache.Values(layer, p, h);
                    }
                    else
                    {
                        // Widened inside the work item (in parallel); the pointers say where.
                        keyPages[i] = (nint)(widened + (nint)(2 * i) * KvCache.PageSize * _headSize);
                        valuePages[i] = keyPages[i] + KvCache.PageSize * _headSize * sizeof(float);
                    }
                }
            }

            var args = new Args
            {
                Query = q,
                Output = o,
                Scores = scores,
                KeyPages = keyPages,
                ValuePages = valuePages,
                Cache = cache,
                Layer = layer,
                Tokens = tokens,
                First = first,
                Heads = _heads,
                KvHeads = _kvHeads,
                HeadSize = _headSize,
                Pages = pages,
                ScoreStride = length,
                Scale = 1f / MathF.Sqrt(_headSize),
            };
            WorkerPool.Run(&KvHead, Unsafe.AsPointer(ref args), _kvHeads, maxThreads);
            GC.KeepAlive(cache);
        }
    }

    private static void Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = GC.AllocateUninitializedArray<float>(length);
    }

    private static void KvHead(void* state, int kvHead)
    {
        ref Args a = ref Unsafe.AsRef<Args>(state);
        int d = a.HeadSize, group = a.Heads / a.KvHeads, length = a.First + a.Tokens, rowLength = a.Heads * d;
        nint* keyPages = a.KeyPages + kvHead * a.Pages, valuePages = a.ValuePages + kvHead * a.Pages;
        if (a.Cache.Type == KvCacheType.Float16)
        {
            for (int p = 0; p < a.Pages; p++)
            {
                int rows = Math.Min(KvCache.PageSize, length - p * KvCache.PageSize);
                Widen(a.Cache.Keys(a.Layer, p, kvHead), (float*)keyPages[p], rows * d);
                Widen(a.Cache.Values(a.Layer, p, kvHead), (float*)valuePages[p], rows * d);
            }
        }

        float* scores = a.Scores + (nint)kvHead * a.ScoreStride;
        for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
        {
            for (int t = 0; t < a.Tokens; t++)
            {
                int n = a.First + t + 1;  // causal: positions 0..P
                float* q = a.Query + (nint)t * rowLength + h * d, o = a.Output + (nint)t * rowLength + h * d;
                for (int j = 0; j < n; j++) scores[j] = Dot(q, Row(keyPages, j, d), d) * a.Scale;
                Activations.Softmax(new Span<float>(scores, n));
                new Span<float>(o, d).Clear();
                for (int j = 0; j < n; j++) AddScaled(o, Row(valuePages, j, d), scores[j], d);
            }
        }
    }

    private static void Widen(byte* source, float* destination, int count) =>
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, count), new Span<float>(destination, count));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Row(nint* pages, int j, int d) => (float*)pages[j / KvCache.PageSize] + (nint)(j % KvCache.PageSize) * d;

    /// <summary><c>sum a[i] b[i]</c> over a head (d a multiple of 8 takes the vector path; the rest is scalar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int d)
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && d >= 8)
        {
            Vector256<float> acc = Vector256<float>.Zero;
            for (; i <= d - 8; i += 8) acc = Vector256.MultiplyAddEstimate(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            sum = Vector256.Sum(acc);
        }

        for (; i < d; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary><c>o[i] += s v[i]</c> over a head.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled(float* o, float* v, float s, int d)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> sv = Vector256.Create(s);
            for (; i <= d - 8; i += 8) Vector256.MultiplyAddEstimate(Vector256.Load(v + i), sv, Vector256.Load(o + i)).Store(o + i);
        }

        for (; i < d; i++) o[i] += s * v[i];
    }
}
