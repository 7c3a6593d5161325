namespace LowBit.Kernels;

/// <summary>How a kernel wants a layer's codes laid out in memory.</summary>
internal enum WeightLayout
{
    /// <summary>
    /// The layers' canonical layout: row-major int8 codes, or <see cref="BitPacking"/>-packed rows. Layers are built in it
    /// and drop it when only kernels of another layout run (<see cref="LayerCodes"/>).
    /// </summary>
    RowMajor,

    /// <summary>
    /// Rows interleaved 8 at a time in 4-byte units, so that one 256-bit integer dot gives 8 output rows in its 8 lanes
    /// (<see cref="RowInterleave"/>); rows padded to a multiple of 8 with zero weights. Per-channel int8: the codes plus
    /// 128 (unsigned, as <c>vpdpbusd</c> wants them). Group-wise: per group of 8 rows, their packed codes (4-byte units
    /// of 4, 8 or 16 weights), then per weight group the 8 rows' scales, then their float zero terms (s z + offset) or zero
    /// points, as <see cref="Rows16"/> keeps them.
    /// </summary>
    Rows8,

    /// <summary>
    /// <see cref="Rows8"/> with 16 rows per group, so that one 512-bit multiply gives 16 output rows in its 16 lanes (or
    /// 32 int16 pair sums); group-wise 2/4-bit only: per group of 16 rows, their packed codes in 4-byte units, then per
    /// weight group the 16 rows' scales, then their zero terms or zero points, in the fewest bytes that hold the layer's
    /// exactly (<see cref="GroupParameters.Compact"/>: Half scales, no zero points when all are one).
    /// </summary>
    Rows16,
}
