namespace LowBit;

/// <summary>
/// How a layer multiplies its input: in float32 (exact up to float rounding, the default), or quantized to int8 per
/// block of 32 features and multiplied with integer dot products (faster, with a small activation rounding error).
/// </summary>
/// <remarks>
/// <see cref="Int8"/>: each input row is cut into blocks of 32 features (the last may be shorter). Per block
/// <c>m = max|x|</c>, <c>sx = m / 127</c>, <c>xq = clamp(RoundToEven(x / sx), -127, 127)</c> (a block of zeros has
/// <c>sx = 0</c>); the integer sums <c>sum xq * q</c> over each block and weight group are exact, then scaled by
/// <c>sx * s</c> and added in float32; a group's zero point and offset come out as float terms,
/// <c>(s z + m) * sum_blocks sx * sum xq</c>. This is what llama.cpp and ONNX Runtime (MatMulNBits, accuracy_level 4) do;
/// the error it adds is that of rounding each activation to 8 bits, about 0.2% of a block's largest value. The README
/// states the bound the tests hold (its "Int8 activations" paragraph).
/// </remarks>
public enum ActivationPrecision
{
    /// <summary>Activations stay float32: the result equals the float64 product up to float32 rounding.</summary>
    Float = 0,

    /// <summary>Activations are quantized to int8 per block of 32 and multiplied with integer dot products.</summary>
    Int8 = 1,
}
