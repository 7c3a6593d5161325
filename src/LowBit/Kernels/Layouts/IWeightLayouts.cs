namespace LowBit.Kernels;

/// <summary>
/// A layer's codes in the layouts other than <see cref="WeightLayout.RowMajor"/> that some kernel wants, each made from the
/// canonical codes on the first call that asks for it and kept with them.
/// </summary>
internal interface IWeightLayouts
{
    /// <summary>The codes in <paramref name="layout"/> (made now on first use; thread-safe).</summary>
    ReadOnlySpan<byte> Codes(WeightLayout layout);
}
