namespace LowBit.Kernels;

/// <summary>
/// One set of per-channel int8 codes (outFeatures x inFeatures) in the layouts their kernels read (<see cref="LayerCodes"/>).
/// A layer replaces the whole object when it replaces its codes, so a layout never outlives the codes it was made from.
/// </summary>
internal sealed class Int8Layouts(byte[] codes, int outFeatures, int inFeatures) : LayerCodes(codes, outFeatures, inFeatures)
{
    /// <inheritdoc/>
    protected override long InterleavedBytes(WeightLayout layout) => RowInterleave.Bytes(LayerShape.Int8(Rows, RowBytes));

    /// <inheritdoc/>
    protected override void Interleave(ReadOnlySpan<byte> rowMajor, WeightLayout layout, Span<byte> interleaved) =>
        RowInterleave.Int8Rows8(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(rowMajor), Rows, RowBytes, interleaved);

    /// <inheritdoc/>
    protected override void Deinterleave(ReadOnlySpan<byte> interleaved, WeightLayout layout, int first, Span<byte> target) =>
        RowInterleave.Int8RowMajor(interleaved, RowBytes, first, target);
}
