namespace LowBit.Kernels;

/// <summary>How a kernel wants a layer's codes laid out in memory.</summary>
internal enum WeightLayout
{
    /// <summary>The layers' canonical layout: row-major int8 codes, or <see cref="BitPacking"/>-packed rows. Every layer holds it.</summary>
    RowMajor,

    /// <summary>
    /// Per-channel int8 codes, rows interleaved 8 at a time in 4-byte units and offset to unsigned (<c>q + 128</c>): for each
    /// group of 8 rows and each 4 columns, 32 bytes with row r's 4 codes at bytes 4r..4r+3. One 256-bit integer dot then
    /// gives 8 output rows in its 8 lanes (<see cref="RowInterleave.Int8Rows8"/>). Rows are padded to a multiple of 8 with
    /// zero weights.
    /// </summary>
    Int8Rows8,
}
