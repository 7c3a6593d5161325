using System.Runtime.InteropServices;

namespace LowBit.Kernels;

/// <summary>Makes the row-interleaved layouts (<see cref="WeightLayout"/>) from a layer's canonical codes.</summary>
internal static class RowInterleave
{
    /// <summary>Rows per interleaved group of <see cref="WeightLayout.Int8Rows8"/>.</summary>
    public const int Rows = 8;

    /// <summary>Bytes of <see cref="WeightLayout.Int8Rows8"/> for a layer: its rows rounded up to 8, times its columns.</summary>
    public static long Int8Rows8Bytes(int outFeatures, int inFeatures) => (long)(outFeatures + Rows - 1) / Rows * Rows * inFeatures;

    /// <summary>
    /// <see cref="WeightLayout.Int8Rows8"/> of row-major int8 codes (outFeatures x inFeatures, columns a multiple of 4): per group of
    /// 8 rows and per 4 columns, 32 bytes holding each row's 4 codes plus 128.
    /// </summary>
    public static byte[] Int8Rows8(ReadOnlySpan<sbyte> codes, int outFeatures, int inFeatures)
    {
        if (inFeatures % 4 != 0) throw new ArgumentException($"Columns must be a multiple of 4, not {inFeatures}.", nameof(inFeatures));
        var interleaved = GC.AllocateUninitializedArray<byte>(checked((int)Int8Rows8Bytes(outFeatures, inFeatures)));
        // Padding rows hold code 0 (stored as 128), so they contribute nothing.
        interleaved.AsSpan(outFeatures / Rows * Rows * inFeatures).Fill(0x80);
        Span<uint> target = MemoryMarshal.Cast<byte, uint>(interleaved.AsSpan());
        ReadOnlySpan<uint> source = MemoryMarshal.Cast<sbyte, uint>(codes[..(outFeatures * inFeatures)]);
        int units = inFeatures / 4;
        for (int row = 0; row < outFeatures; row++)
        {
            ReadOnlySpan<uint> from = source.Slice(row * units, units);
            int at = row / Rows * Rows * units + row % Rows;
            for (int u = 0; u < from.Length; u++) target[at + u * Rows] = from[u] ^ 0x80808080u;
        }

        return interleaved;
    }
}
