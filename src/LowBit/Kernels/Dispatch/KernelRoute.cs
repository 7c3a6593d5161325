namespace LowBit.Kernels;

/// <summary>
/// What one call runs: a kernel, and whether the activations are first rounded to int8 per block of 32 and dequantized
/// (<c>sx * xq</c>) before it. That second form serves <see cref="ActivationPrecision.Int8"/> on layouts no integer
/// vector kernel takes (groups of 16, 8-bit groups, rows not a multiple of 32): a float kernel on the dequantized input
/// computes the contract's result, where the scalar integer kernel would be about 100x slower.
/// </summary>
/// <param name="Kernel">The kernel that runs.</param>
/// <param name="DequantizesActivations">True when the input is rounded to int8 and dequantized before a float kernel.</param>
internal readonly record struct KernelRoute(MatMulKernel Kernel, bool DequantizesActivations)
{
    /// <summary>"field-512", or "int8 blocks, then field-512" for a float kernel on dequantized activations.</summary>
    public override string ToString() => DequantizesActivations ? $"int8 blocks, then {Kernel.Name}" : Kernel.Name;
}
