namespace LowBit.Kernels;

/// <summary>
/// Bytes that start on a cache line and never move (a pinned array, 63 bytes longer): the interleaved kernels' 32-byte loads
/// then never straddle two lines, wherever the heap (8- or 16-byte aligned) puts the array.
/// </summary>
internal sealed class AlignedBytes
{
    private readonly byte[] _array;
    private readonly int _offset, _length;

    public unsafe AlignedBytes(long length)
    {
        _length = checked((int)length);
        _array = GC.AllocateUninitializedArray<byte>(checked(_length + 63), pinned: true);
        fixed (byte* start = _array) _offset = (int)(-(nint)start & 63);
    }

    /// <summary>The aligned bytes.</summary>
    public Span<byte> Span => _array.AsSpan(_offset, _length);

    /// <summary>What the copy holds in memory.</summary>
    public long HeldBytes => _array.LongLength;
}

/// <summary>A layout made once: two first calls at once may both make it; one copy wins and the other is dropped.</summary>
internal static class LazyLayout
{
    public static ReadOnlySpan<byte> Get(ref AlignedBytes? slot, long length, SpanAction make)
    {
        AlignedBytes? made = Volatile.Read(ref slot);
        if (made is not null) return made.Span;
        made = new AlignedBytes(length);
        make(made.Span);
        return (Interlocked.CompareExchange(ref slot, made, null) ?? made).Span;
    }

    /// <summary>Writes a layout into its bytes.</summary>
    public delegate void SpanAction(Span<byte> target);
}
