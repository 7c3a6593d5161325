namespace LowBit.Kernels;

/// <summary>
/// <see cref="WeightLayout.Rows8"/> of one set of per-channel int8 codes (<see cref="IWeightLayouts"/>), made on the first
/// call that asks for it, then kept as long as the codes. A layer replaces the whole object when it replaces its codes, so
/// a layout never outlives the codes it was made from.
/// </summary>
internal sealed class Int8Layouts(sbyte[] codes, int outFeatures, int inFeatures) : IWeightLayouts
{
    private AlignedBytes? _rows8;

    /// <summary>Bytes held beside the canonical codes (0 until a kernel has asked for a layout).</summary>
    public long ExtraBytes => Volatile.Read(ref _rows8)?.HeldBytes ?? 0;

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout) =>
        layout == WeightLayout.Rows8
            ? LazyLayout.Get(ref _rows8, RowInterleave.Bytes(LayerShape.Int8(outFeatures, inFeatures)),
                             target => RowInterleave.Int8Rows8(codes, outFeatures, inFeatures, target))
            : throw new ArgumentException($"Int8 codes have no {layout} layout here.", nameof(layout));
}

/// <summary>
/// <see cref="WeightLayout.Rows8"/> of group-wise packed codes with their float scales and zero terms (with offsets) or zero
/// points (without), made on first use and kept (the layer's weights never change).
/// </summary>
internal sealed class GroupLayouts(LayerShape shape, byte[] packed, float[] scales, float[] zeroTerms, byte[] zeroPoints, bool offsets)
    : IWeightLayouts
{
    private AlignedBytes? _rows8;

    /// <summary>Bytes held beside the canonical codes (0 until a kernel has asked for a layout).</summary>
    public long ExtraBytes => Volatile.Read(ref _rows8)?.HeldBytes ?? 0;

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout) =>
        layout == WeightLayout.Rows8
            ? LazyLayout.Get(ref _rows8, RowInterleave.Bytes(shape, offsets),
                             target => RowInterleave.GroupRows8(shape, packed, scales, zeroTerms, zeroPoints, offsets, target))
            : throw new ArgumentException($"Group-wise codes have no {layout} layout here.", nameof(layout));
}

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
