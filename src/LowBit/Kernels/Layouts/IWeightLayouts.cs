namespace LowBit.Kernels;

/// <summary>
/// A layer's codes in every layout some kernel wants, each made on the first call that asks for it (<see cref="LayerCodes"/>).
/// </summary>
internal interface IWeightLayouts
{
    /// <summary>The codes in <paramref name="layout"/> (made now on first use; thread-safe).</summary>
    ReadOnlySpan<byte> Codes(WeightLayout layout);

    /// <summary>How <paramref name="layout"/> stores the group-wise parameters beside the codes (default: none, or float).</summary>
    GroupParameters Parameters(WeightLayout layout);
}
