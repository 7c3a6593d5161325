namespace LowBit.Kernels;

/// <summary>
/// Group-wise packed codes in the layouts their kernels read (<see cref="LayerCodes"/>); Rows8 carries the float scales
/// and the zero terms (with offsets) or zero points (without) beside the codes, taken from the arrays given here.
/// </summary>
internal sealed class GroupLayouts(LayerShape shape, byte[] packed, float[] scales, float[] zeroTerms, byte[] zeroPoints, bool offsets)
    : LayerCodes(packed, shape.OutFeatures, shape.RowBytes)
{
    /// <inheritdoc/>
    protected override long Rows8Bytes => RowInterleave.Bytes(shape, offsets);

    /// <inheritdoc/>
    protected override void Interleave(ReadOnlySpan<byte> rowMajor, Span<byte> rows8) =>
        RowInterleave.GroupRows8(shape, rowMajor, scales, zeroTerms, zeroPoints, offsets, rows8);

    /// <inheritdoc/>
    protected override void Deinterleave(ReadOnlySpan<byte> rows8, int first, Span<byte> target) =>
        RowInterleave.GroupRowMajor(shape, rows8, offsets, first, target);
}
