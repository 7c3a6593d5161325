namespace LowBit.Kernels;

/// <summary>
/// <see cref="WeightLayout.Rows8"/> of one set of per-channel int8 codes (<see cref="IWeightLayouts"/>), made on the first
/// call that asks for it, then kept as long as the codes. A layer replaces the whole object when it replaces its codes, so
/// a layout never outlives the codes it was made from.
/// </summary>
internal sealed class Int8Layouts(sbyte[] codes, int outFeatures, int inFeatures) : IWeightLayouts
{
    private byte[]? _rows8;

    /// <summary>Bytes held beside the canonical codes (0 until a kernel has asked for a layout).</summary>
    public long ExtraBytes => Volatile.Read(ref _rows8)?.LongLength ?? 0;

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout) =>
        layout == WeightLayout.Rows8 ? LazyLayout.Get(ref _rows8, () => RowInterleave.Int8Rows8(codes, outFeatures, inFeatures))
            : throw new ArgumentException($"Int8 codes have no {layout} layout here.", nameof(layout));
}

/// <summary>
/// <see cref="WeightLayout.Rows8"/> of group-wise packed codes with their float scales and zero terms, made on first use
/// and kept (the layer's weights never change).
/// </summary>
internal sealed class GroupLayouts(LayerShape shape, byte[] packed, float[] scales, float[] zeroTerms) : IWeightLayouts
{
    private byte[]? _rows8;

    /// <summary>Bytes held beside the canonical codes (0 until a kernel has asked for a layout).</summary>
    public long ExtraBytes => Volatile.Read(ref _rows8)?.LongLength ?? 0;

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout) =>
        layout == WeightLayout.Rows8 ? LazyLayout.Get(ref _rows8, () => RowInterleave.GroupRows8(shape, packed, scales, zeroTerms))
            : throw new ArgumentException($"Group-wise codes have no {layout} layout here.", nameof(layout));
}

/// <summary>A layout made once: two first calls at once may both make it; one copy wins and the other is dropped.</summary>
internal static class LazyLayout
{
    public static byte[] Get(ref byte[]? slot, Func<byte[]> make)
    {
        byte[]? made = Volatile.Read(ref slot);
        if (made is not null) return made;
        made = make();
        return Interlocked.CompareExchange(ref slot, made, null) ?? made;
    }
}
