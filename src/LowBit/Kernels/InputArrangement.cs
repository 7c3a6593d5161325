using System.Runtime.CompilerServices;

namespace LowBit.Kernels;

/// <summary>
/// The input arrangements kernels ask for, done once per call: small transposes of float rows. These run on every call,
/// so on small layers they are part of the fixed cost that <c>MatMulFixedCostBenchmarks</c> measures.
/// </summary>
internal static unsafe class InputArrangement
{
    /// <summary>
    /// Splits a row into <paramref name="per"/> de-interleaved streams: <c>destination[k * streamLength + j] = source[j * per + k]</c>
    /// (field k of packed byte j meets element k of stream position j).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Deinterleave(float* source, float* destination, int streamLength, int per)
    {
        for (int j = 0; j < streamLength; j++)
        {
            for (int k = 0; k < per; k++) destination[(nint)k * streamLength + j] = source[(nint)j * per + k];
        }
    }

    /// <summary>
    /// Transposes <paramref name="rows"/> input rows of <paramref name="columns"/> floats (stride <paramref name="columns"/>)
    /// into <c>destination[c * rows + r]</c>: a panel kernel's input tile, read with one base pointer and constant offsets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(float* source, float* destination, int rows, int columns)
    {
        for (int r = 0; r < rows; r++)
        {
            float* row = source + (nint)r * columns;
            for (int c = 0; c < columns; c++) destination[(nint)c * rows + r] = row[c];
        }
    }
}
