namespace LowBit.Kernels;

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
