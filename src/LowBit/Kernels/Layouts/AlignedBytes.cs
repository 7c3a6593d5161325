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
