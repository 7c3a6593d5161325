using System.Runtime.InteropServices;

namespace LowBit.Kernels;

/// <summary>Makes <see cref="WeightLayout.Rows8"/> from a layer's canonical codes.</summary>
internal static class RowInterleave
{
    /// <summary>Rows per interleaved group.</summary>
    public const int Rows = 8;

    /// <summary>Groups of 8 rows a layer has (the last may be padded).</summary>
    public static int RowGroups(int outFeatures) => (outFeatures + Rows - 1) / Rows;

    /// <summary>
    /// Bytes of one group of 8 rows: their codes, and for group-wise formats their float scales and zero terms (float
    /// <c>s z + m</c> with offsets, else the zero-point bytes: at batch 1 from DRAM every byte counts), rounded up to a
    /// cache line so that every group starts on one (int8 groups, 8 rows of a multiple of 32 columns, always do).
    /// </summary>
    public static long GroupBytes(in LayerShape shape, bool offsets = false) => shape.Format == WeightFormat.Int8PerChannel
        ? (long)Rows * shape.RowBytes
        : ((long)Rows * shape.RowBytes + (long)Rows * shape.Groups * (sizeof(float) + (offsets ? sizeof(float) : 1)) + 63) & ~63L;

    /// <summary>Bytes of a layer's <see cref="WeightLayout.Rows8"/>.</summary>
    public static long Bytes(in LayerShape shape, bool offsets = false) => RowGroups(shape.OutFeatures) * GroupBytes(shape, offsets);

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
                   outFeatures, inFeatures / 4, inFeatures / 4 * Rows, 0x80808080u);
    }

    /// <summary>
    /// Group-wise packed codes (rows of <c>shape.RowBytes</c>, a multiple of 4) with their float scales and, with
    /// <paramref name="offsets"/>, their float zero terms, else their zero points (outFeatures x groups each), as
    /// <see cref="WeightLayout.Rows8"/> into <paramref name="interleaved"/> (<see cref="Bytes"/> long).
    /// </summary>
    public static void GroupRows8(in LayerShape shape, ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, ReadOnlySpan<float> zeroTerms,
                                  ReadOnlySpan<byte> zeroPoints, bool offsets, Span<byte> interleaved)
    {
        if (shape.RowBytes % 4 != 0) throw new ArgumentException($"Packed rows must be whole 4-byte units, not {shape.RowBytes} bytes.",
                                                                 nameof(shape));
        int rows = shape.OutFeatures, groups = shape.Groups, units = shape.RowBytes / 4;
        int stride = checked((int)(GroupBytes(shape, offsets) / 4));
        interleaved = interleaved[..checked((int)Bytes(shape, offsets))];
        interleaved.Clear();   // padding rows have codes, scales and zero terms 0
        Span<uint> target = MemoryMarshal.Cast<byte, uint>(interleaved);
        Interleave(MemoryMarshal.Cast<byte, uint>(packed[..(rows * shape.RowBytes)]), target, rows, units, stride, 0);
        Span<float> floats = MemoryMarshal.Cast<byte, float>(interleaved);
        for (int row = 0; row < rows; row++)
        {
            int at = row / Rows * stride + Rows * units + row % Rows;
            for (int g = 0; g < groups; g++)
            {
                floats[at + g * Rows] = scales[row * groups + g];
                if (offsets) floats[at + (groups + g) * Rows] = zeroTerms[row * groups + g];
                else interleaved[(row / Rows * stride + (Rows * units + groups * Rows)) * 4 + g * Rows + row % Rows] = zeroPoints[row * groups + g];
            }
        }
    }

    /// <summary>
    /// Rows <paramref name="first"/>.. (<c>codes.Length / inFeatures</c> of them) of per-channel int8 codes back out of
    /// <see cref="Int8Rows8"/>'s layout, row-major.
    /// </summary>
    public static void Int8RowMajor(ReadOnlySpan<byte> interleaved, int inFeatures, int first, Span<byte> codes) =>
        Deinterleave(MemoryMarshal.Cast<byte, uint>(interleaved), MemoryMarshal.Cast<byte, uint>(codes), first, inFeatures / 4,
                     inFeatures / 4 * Rows, 0x80808080u);

    /// <summary>
    /// Rows <paramref name="first"/>.. (<c>packed.Length / shape.RowBytes</c> of them) of group-wise packed codes back out
    /// of <see cref="GroupRows8"/>'s layout, row-major.
    /// </summary>
    public static void GroupRowMajor(in LayerShape shape, ReadOnlySpan<byte> interleaved, bool offsets, int first, Span<byte> packed) =>
        Deinterleave(MemoryMarshal.Cast<byte, uint>(interleaved), MemoryMarshal.Cast<byte, uint>(packed), first, shape.RowBytes / 4,
                     checked((int)(GroupBytes(shape, offsets) / 4)), 0);

    /// <summary>Each row's 4-byte units to lane row % 8 of its group's 32-byte steps (groups <paramref name="stride"/> units apart).</summary>
    private static void Interleave(ReadOnlySpan<uint> source, Span<uint> target, int rows, int units, int stride, uint flip)
    {
        for (int row = 0; row < rows; row++)
        {
            ReadOnlySpan<uint> from = source.Slice(row * units, units);
            int at = row / Rows * stride + row % Rows;
            for (int u = 0; u < from.Length; u++) target[at + u * Rows] = from[u] ^ flip;
        }
    }

    /// <summary>The inverse of <see cref="Interleave"/> for the rows <paramref name="first"/>.. that fill <paramref name="target"/>.</summary>
    private static void Deinterleave(ReadOnlySpan<uint> source, Span<uint> target, int first, int units, int stride, uint flip)
    {
        for (int r = 0; r < target.Length / units; r++)
        {
            Span<uint> to = target.Slice(r * units, units);
            int at = (first + r) / Rows * stride + (first + r) % Rows;
            for (int u = 0; u < to.Length; u++) to[u] = source[at + u * Rows] ^ flip;
        }
    }
}
