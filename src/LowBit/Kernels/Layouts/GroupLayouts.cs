namespace LowBit.Kernels;

/// <summary>
/// Group-wise packed codes in the layouts their kernels read (<see cref="LayerCodes"/>); Rows8 and Rows16 carry the float
/// scales and the zero terms (with offsets) or zero points (without) beside the codes, taken from the arrays given here.
/// </summary>
internal sealed class GroupLayouts(LayerShape shape, byte[] packed, float[] scales, float[] zeroTerms, byte[] zeroPoints, bool offsets)
    : LayerCodes(packed, shape.OutFeatures, shape.RowBytes)
{
    /// <inheritdoc/>
    protected override bool Has(WeightLayout layout) => layout is WeightLayout.Rows8 or WeightLayout.Rows16;

    /// <inheritdoc/>
    protected override long InterleavedBytes(WeightLayout layout) => RowInterleave.Bytes(shape, offsets, RowInterleave.RowsOf(layout));

    /// <inheritdoc/>
    protected override void Interleave(ReadOnlySpan<byte> rowMajor, WeightLayout layout, Span<byte> interleaved) =>
        RowInterleave.GroupRows(shape, RowInterleave.RowsOf(layout), rowMajor, scales, zeroTerms, zeroPoints, offsets, interleaved);

    /// <inheritdoc/>
    protected override void Deinterleave(ReadOnlySpan<byte> interleaved, WeightLayout layout, int first, Span<byte> target) =>
        RowInterleave.GroupRowMajor(shape, RowInterleave.RowsOf(layout), interleaved, offsets, first, target);
}
