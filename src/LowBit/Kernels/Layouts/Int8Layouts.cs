namespace LowBit.Kernels;

/// <summary>
/// The other layouts of one set of per-channel int8 codes (<see cref="IWeightLayouts"/>): <see cref="WeightLayout.Int8Rows8"/>
/// made on the first call that asks for it, then kept as long as the codes. A layer replaces the whole object when it
/// replaces its codes, so a layout never outlives the codes it was made from.
/// </summary>
internal sealed class Int8Layouts(sbyte[] codes, int outFeatures, int inFeatures) : IWeightLayouts
{
    private byte[]? _rows8;

    /// <summary>Bytes held beside the canonical codes (0 until a kernel has asked for a layout).</summary>
    public long ExtraBytes => Volatile.Read(ref _rows8)?.LongLength ?? 0;

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout)
    {
        if (layout != WeightLayout.Int8Rows8) throw new ArgumentException($"Int8 codes have no {layout} layout here.", nameof(layout));
        byte[]? rows8 = Volatile.Read(ref _rows8);
        if (rows8 is not null) return rows8;
        // Two first calls at once may both make it; one copy wins and the other is dropped.
        rows8 = RowInterleave.Int8Rows8(codes, outFeatures, inFeatures);
        return Interlocked.CompareExchange(ref _rows8, rows8, null) ?? rows8;
    }
}
