using System.Runtime.InteropServices;

namespace LowBit.Kernels;

/// <summary>Makes <see cref="WeightLayout.Rows8"/> and <see cref="WeightLayout.Rows16"/> from a layer's canonical codes.</summary>
internal static class RowInterleave
{
    /// <summary>Rows per interleaved group of <see cref="WeightLayout.Rows8"/>.</summary>
    public const int Rows = 8;

    /// <summary>Rows per interleaved group of <see cref="WeightLayout.Rows16"/>.</summary>
    public const int Rows16 = 16;

    /// <summary>Rows per interleaved group of <paramref name="layout"/> (Rows8 or Rows16).</summary>
    public static int RowsOf(WeightLayout layout) => layout switch
    {
        WeightLayout.Rows8 => Rows,
        WeightLayout.Rows16 => Rows16,
        _ => throw new ArgumentException($"{layout} does not interleave rows.", nameof(layout)),
    };

    /// <summary>Groups of <paramref name="rows"/> rows a layer has (the last may be padded).</summary>
    public static int RowGroups(int outFeatures, int rows = Rows) => (outFeatures + rows - 1) / rows;

    /// <summary>
    /// Bytes of one group of <paramref name="rows"/> rows: their codes, and for group-wise formats their scales and zero terms
    /// or zero points as <paramref name="parameters"/> says (at batch 1 from DRAM every byte counts), rounded up to a cache
    /// line so that every group starts on one (int8 groups, 8 rows of a multiple of 32 columns, always do).
    /// </summary>
    public static long GroupBytes(in LayerShape shape, GroupParameters parameters = default, int rows = Rows) =>
        shape.Format == WeightFormat.Int8PerChannel ? (long)rows * shape.RowBytes
            : ((long)rows * shape.RowBytes + (long)rows * shape.Groups * (parameters.ScaleBytes + parameters.ZeroBytes) + 63) & ~63L;

    /// <summary>Bytes of a layer's codes interleaved <paramref name="rows"/> rows at a time.</summary>
    public static long Bytes(in LayerShape shape, GroupParameters parameters = default, int rows = Rows) =>
        RowGroups(shape.OutFeatures, rows) * GroupBytes(shape, parameters, rows);

    /// <summary>
    /// Per-channel int8 codes (outFeatures x inFeatures, columns a multiple of 4) as <see cref="WeightLayout.Rows8"/> into
    /// <paramref name="interleaved"/> (<see cref="Bytes"/> long): per group of 8 rows and per 4 columns, 32 bytes holding
    /// each row's 4 codes plus 128.
    /// </summary>
    public static void Int8Rows8(ReadOnlySpan<sbyte> codes, int outFeatures, int inFeatures, Span<byte> interleaved)
    {
        if (inFeatures % 4 != 0) throw new ArgumentException($"Columns must be a multiple of 4, not {inFeatures}.", nameof(inFeatures));
        interleaved = interleaved[..checked((int)Bytes(LayerShape.Int8(outFeatures, inFeatures)))];
        // Padding rows hold code 0 (stored as 128), so they contribute nothing.
        interleaved[(outFeatures / Rows * Rows * inFeatures)..].Fill(0x80);
        Interleave(MemoryMarshal.Cast<sbyte, uint>(codes[..(outFeatures * inFeatures)]), MemoryMarshal.Cast<byte, uint>(interleaved),
                   outFeatures, inFeatures / 4, inFeatures / 4 * Rows, Rows, 0x80808080u);
    }

    /// <summary>
    /// Group-wise packed codes (rows of <c>shape.RowBytes</c>, a multiple of 4) with their scales and their zero terms or
    /// zero points (outFeatures x groups each) as <paramref name="parameters"/> says, interleaved <paramref name="per"/> rows
    /// at a time (8: <see cref="WeightLayout.Rows8"/>, 16: <see cref="WeightLayout.Rows16"/>) into
    /// <paramref name="interleaved"/> (<see cref="Bytes"/> long).
    /// </summary>
    public static void GroupRows(in LayerShape shape, int per, ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales,
                                 ReadOnlySpan<float> zeroTerms, ReadOnlySpan<byte> zeroPoints, GroupParameters parameters, Span<byte> interleaved)
    {
        if (shape.RowBytes % 4 != 0) throw new ArgumentException($"Packed rows must be whole 4-byte units, not {shape.RowBytes} bytes.",
                                                                 nameof(shape));
        int rows = shape.OutFeatures, groups = shape.Groups, units = shape.RowBytes / 4;
        long groupBytes = GroupBytes(shape, parameters, per);
        interleaved = interleaved[..checked((int)Bytes(shape, parameters, per))];
        interleaved.Clear();   // padding rows have codes, scales and zero terms 0
        Interleave(MemoryMarshal.Cast<byte, uint>(packed[..(rows * shape.RowBytes)]), MemoryMarshal.Cast<byte, uint>(interleaved), rows, units,
                   checked((int)(groupBytes / 4)), per, 0);
        int scaleBytes = parameters.ScaleBytes, zeroBytes = parameters.ZeroBytes;
        for (int row = 0; row < rows; row++)
        {
            // Per group of rows after the codes: every group's scales (per lanes each), then every group's zero terms or points.
            Span<byte> scaleLanes = interleaved.Slice(checked((int)(row / per * groupBytes + per * shape.RowBytes)));
            Span<byte> zeroLanes = scaleLanes[(per * groups * scaleBytes)..];
            for (int g = 0; g < groups; g++)
            {
                int lane = g * per + row % per;
                float scale = scales[row * groups + g];
                if (parameters.HalfScales) MemoryMarshal.Write(scaleLanes[(lane * 2)..], (Half)scale);
                else MemoryMarshal.Write(scaleLanes[(lane * 4)..], scale);
                if (parameters.Offsets) MemoryMarshal.Write(zeroLanes[(lane * 4)..], zeroTerms[row * groups + g]);
                else if (zeroBytes != 0) zeroLanes[lane] = zeroPoints[row * groups + g];
            }
        }
    }

    /// <summary>
    /// Rows <paramref name="first"/>.. (<c>codes.Length / inFeatures</c> of them) of per-channel int8 codes back out of
    /// <see cref="Int8Rows8"/>'s layout, row-major.
    /// </summary>
    public static void Int8RowMajor(ReadOnlySpan<byte> interleaved, int inFeatures, int first, Span<byte> codes) =>
        Deinterleave(MemoryMarshal.Cast<byte, uint>(interleaved), MemoryMarshal.Cast<byte, uint>(codes), first, inFeatures / 4,
                     inFeatures / 4 * Rows, Rows, 0x80808080u);

    /// <summary>
    /// Rows <paramref name="first"/>.. (<c>packed.Length / shape.RowBytes</c> of them) of group-wise packed codes back out
    /// of <see cref="GroupRows"/>'s layout (<paramref name="per"/> rows at a time), row-major.
    /// </summary>
    public static void GroupRowMajor(in LayerShape shape, int per, ReadOnlySpan<byte> interleaved, GroupParameters parameters, int first,
                                     Span<byte> packed) =>
        Deinterleave(MemoryMarshal.Cast<byte, uint>(interleaved), MemoryMarshal.Cast<byte, uint>(packed), first, shape.RowBytes / 4,
                     checked((int)(GroupBytes(shape, parameters, per) / 4)), per, 0);

    /// <summary>
    /// Each row's 4-byte units to lane row % <paramref name="per"/> of its group's steps of <paramref name="per"/> units
    /// (groups <paramref name="stride"/> units apart).
    /// </summary>
    private static void Interleave(ReadOnlySpan<uint> source, Span<uint> target, int rows, int units, int stride, int per, uint flip)
    {
        for (int row = 0; row < rows; row++)
        {
            ReadOnlySpan<uint> from = source.Slice(row * units, units);
            int at = row / per * stride + row % per;
            for (int u = 0; u < from.Length; u++) target[at + u * per] = from[u] ^ flip;
        }
    }

    /// <summary>The inverse of <see cref="Interleave"/> for the rows <paramref name="first"/>.. that fill <paramref name="target"/>.</summary>
    private static void Deinterleave(ReadOnlySpan<uint> source, Span<uint> target, int first, int units, int stride, int per, uint flip)
    {
        for (int r = 0; r < target.Length / units; r++)
        {
            Span<uint> to = target.Slice(r * units, units);
            int at = (first + r) / per * stride + (first + r) % per;
            for (int u = 0; u < to.Length; u++) to[u] = source[at + u * per] ^ flip;
        }
    }
}
