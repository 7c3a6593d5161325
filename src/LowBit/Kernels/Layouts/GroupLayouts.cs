using System.Runtime.CompilerServices;

namespace LowBit.Kernels;

/// <summary>
/// Group-wise packed codes in the layouts their kernels read (<see cref="LayerCodes"/>); Rows8 and Rows16 carry the scales
/// and the zero terms (with offsets) or zero points (without) beside the codes, taken from the arrays given here, in the
/// fewest bytes that hold them exactly (<see cref="GroupParameters.Compact"/>).
/// </summary>
internal sealed class GroupLayouts(LayerShape shape, byte[] packed, float[] scales, float[] zeroTerms, byte[] zeroPoints, bool offsets)
    : LayerCodes(packed, shape.OutFeatures, shape.RowBytes)
{
    // The compact parameters, worked out on first use (a pass over the scales), boxed so that publishing them is one reference
    // write: two threads may both work them out, to the same value.
    private StrongBox<GroupParameters>? _compact;

    /// <inheritdoc/>
    protected override bool Has(WeightLayout layout) => layout is WeightLayout.Rows8 or WeightLayout.Rows16;

    /// <inheritdoc/>
    public override GroupParameters Parameters(WeightLayout layout) =>
        (Volatile.Read(ref _compact) ?? (_compact = new(GroupParameters.Compact(scales, zeroPoints, offsets)))).Value;

    /// <inheritdoc/>
    protected override long InterleavedBytes(WeightLayout layout) => RowInterleave.Bytes(shape, Parameters(layout), RowInterleave.RowsOf(layout));

    /// <inheritdoc/>
    protected override void Interleave(ReadOnlySpan<byte> rowMajor, WeightLayout layout, Span<byte> interleaved) =>
        RowInterleave.GroupRows(shape, RowInterleave.RowsOf(layout), rowMajor, scales, zeroTerms, zeroPoints, Parameters(layout), interleaved);

    /// <inheritdoc/>
    protected override void Deinterleave(ReadOnlySpan<byte> interleaved, WeightLayout layout, int first, Span<byte> target) =>
        RowInterleave.GroupRowMajor(shape, RowInterleave.RowsOf(layout), interleaved, Parameters(layout), first, target);
}
