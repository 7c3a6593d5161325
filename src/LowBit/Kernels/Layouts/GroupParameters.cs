namespace LowBit.Kernels;

/// <summary>
/// How an interleaved group-wise layout (<see cref="RowInterleave.GroupRows"/>) stores each weight group's parameters beside
/// the codes: the scales as float or, when every one of them is a half-precision number, as Half; then the zero terms as
/// float (<paramref name="Offsets"/>), or the zero points as bytes, or nothing when every zero point of the layer is the
/// same (<paramref name="OneZeroPoint"/>, <paramref name="ZeroPoint"/>); the default is float scales and zero-point bytes.
/// GGUF Q4_0 weights (Half scales, zero point 8 everywhere) then take 4.5 bits per weight in memory, as in the file, where
/// float scales and zero-point bytes take 5.25: at batch 1 the weights stream from DRAM and every byte is time.
/// </summary>
/// <param name="Offsets">The layer has offsets: float zero terms (s z + offset) per group.</param>
/// <param name="HalfScales">The scales are stored as Half (each exactly the layer's float scale).</param>
/// <param name="OneZeroPoint">Every group's zero point is <paramref name="ZeroPoint"/>, and none is stored per group.</param>
/// <param name="ZeroPoint">The zero point of every group (with <paramref name="OneZeroPoint"/>).</param>
internal readonly record struct GroupParameters(bool Offsets, bool HalfScales, bool OneZeroPoint, byte ZeroPoint)
{
    /// <summary>Float scales, then float zero terms (<paramref name="offsets"/>) or zero-point bytes.</summary>
    public static GroupParameters Float(bool offsets) => new(offsets, false, false, 0);

    /// <summary>
    /// The fewest bytes that hold <paramref name="scales"/> and <paramref name="zeroPoints"/> exactly: Half scales when every
    /// scale is one, no zero points when there are no offsets and every zero point is the same.
    /// </summary>
    public static GroupParameters Compact(ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, bool offsets)
    {
        bool half = true;
        foreach (float s in scales)
        {
            if ((float)(Half)s != s)
            {
                half = false;
                break;
            }
        }

        bool one = !offsets && !zeroPoints.IsEmpty && !zeroPoints.ContainsAnyExcept(zeroPoints[0]);
        return new GroupParameters(offsets, half, one, one ? zeroPoints[0] : (byte)0);
    }

    /// <summary>"float scales", "Half scales, zero point 8", "float scales, offsets": how the groups' parameters are kept.</summary>
    public override string ToString() =>
        (HalfScales ? "Half scales" : "float scales") + (Offsets ? ", offsets" : OneZeroPoint ? $", zero point {ZeroPoint}" : "");

    /// <summary>Bytes of one row's scale of one group.</summary>
    public int ScaleBytes => HalfScales ? 2 : sizeof(float);

    /// <summary>Bytes of one row's zero term or zero point of one group.</summary>
    public int ZeroBytes => Offsets ? sizeof(float) : OneZeroPoint ? 0 : 1;
}
