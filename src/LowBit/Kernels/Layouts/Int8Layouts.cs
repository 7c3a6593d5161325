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
