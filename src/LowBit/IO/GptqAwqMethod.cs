namespace LowBit.IO;

/// <summary>The quantization method of a Hugging Face checkpoint opened by <see cref="GptqAwqCheckpoint"/>.</summary>
public enum GptqAwqMethod
{
    /// <summary>
    /// GPTQ (AutoGPTQ / GPTQModel / Transformers layout): <c>qweight</c> int32 [in * bits / 32, out] packed along the input,
    /// <c>qzeros</c> int32 [groups, out * bits / 32] packed along the output, <c>scales</c> f16 [groups, out], <c>g_idx</c>.
    /// </summary>
    Gptq = 0,

    /// <summary>AWQ (AutoAWQ "GEMM" layout): <c>qweight</c> and <c>qzeros</c> int32 [rows, out / 8] in AWQ's nibble order, <c>scales</c> f16 [groups,
    /// out].</summary>
    Awq = 1,
}
