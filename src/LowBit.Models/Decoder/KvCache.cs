using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LowBit.Models;

/// <summary>
/// One session's keys and values, per layer, in pages of <see cref="PageSize"/> positions allocated as the context grows
/// (a session that uses 200 positions of a 32k-context model holds one page per layer, not 32k positions). A page holds,
/// for each key/value head, its rows of HeadSize values one position after another, so attention reads one head's keys
/// as one contiguous block. Pages are pinned: attention workers read them by pointer.
/// </summary>
internal sealed unsafe class KvCache
{
    /// <summary>Positions per page.</summary>
    public const int PageSize = 256;

    private readonly List<byte[]>[] _keys, _values;

    public KvCache(int layers, int kvHeads, int headSize, KvCacheType type)
    {
        KvHeads = kvHeads;
        HeadSize = headSize;
        Type = type;
        _keys = new List<byte[]>[layers];
        _values = new List<byte[]>[layers];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = [];
            _values[l] = [];
        }
    }

    public int KvHeads { get; }

    public int HeadSize { get; }

    public KvCacheType Type { get; }

    /// <summary>Positions the allocated pages hold.</summary>
    public int Capacity => _keys[0].Count * PageSize;

    /// <summary>Bytes of one value.</summary>
    public int ValueBytes => Type == KvCacheType.Float32 ? sizeof(float) : 2;

    /// <summary>Bytes the cache holds now.</summary>
    public long Bytes => 2L * _keys.Length * _keys[0].Count * PageBytes;

    private int PageBytes => PageSize * KvHeads * HeadSize * ValueBytes;

    /// <summary>Allocates pages until <paramref name="positions"/> fit.</summary>
    public void EnsureCapacity(int positions)
    {
        while (Capacity < positions)
        {
            for (int l = 0; l < _keys.Length; l++)
            {
                _keys[l].Add(GC.AllocateArray<byte>(PageBytes, pinned: true));
                _values[l].Add(GC.AllocateArray<byte>(PageBytes, pinned: true));
            }
        }
    }

    /// <summary>The start of page <paramref name="page"/>'s block for key/value head <paramref name="head"/> of layer
    /// <paramref name="layer"/>.</summary>
    public byte* Keys(int layer, int page, int head) => Start(_keys[layer][page], head);

    /// <inheritdoc cref="Keys"/>
    public byte* Values(int layer, int page, int head) => Start(_values[layer][page], head);

    private byte* Start(byte[] page, int head) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(page)) + (nint)head * PageSize * HeadSize * ValueBytes;

    /// <summary>
    /// Stores the keys and values of <paramref name="count"/> positions from <paramref name="first"/>: rows of KvHeads x
    /// HeadSize values in <paramref name="keys"/> and <paramref name="values"/> (capacity must already hold them).
    /// </summary>
    public void Store(int layer, int first, int count, ReadOnlySpan<float> keys, ReadOnlySpan<float> values)
    {
        int row = KvHeads * HeadSize;
        for (int t = 0; t < count; t++)
        {
            int position = first + t, page = position / PageSize, slot = position % PageSize;
            for (int h = 0; h < KvHeads; h++)
            {
                Write(Keys(layer, page, h) + (nint)slot * HeadSize * ValueBytes, keys.Slice(t * row + h * HeadSize, HeadSize));
                Write(Values(layer, page, h) + (nint)slot * HeadSize * ValueBytes, values.Slice(t * row + h * HeadSize, HeadSize));
            }
        }
    }

    private void Write(byte* destination, ReadOnlySpan<float> source)
    {
        if (Type == KvCacheType.Float32) source.CopyTo(new Span<float>(destination, source.Length));
        else TensorPrimitives.ConvertToHalf(source, new Span<Half>(destination, source.Length));
    }
}
