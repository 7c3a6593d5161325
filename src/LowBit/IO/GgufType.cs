namespace LowBit.IO;

/// <summary>
/// The tensor types of GGUF files (ggml's <c>ggml_type</c>, same numbers). Values not named here are types this reader
/// does not know; ids 4, 5, 31-33 and 36-38 were removed from ggml and never appear in valid files.
/// </summary>
public enum GgufType
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE half.</summary>
    F16 = 1,
    /// <summary>Blocks of 32: f16 scale d, 4-bit codes q, w = d (q - 8).</summary>
    Q4_0 = 2,
    /// <summary>Blocks of 32: f16 d and m, 4-bit codes, w = d q + m.</summary>
    Q4_1 = 3,
    /// <summary>Blocks of 32: f16 d, 5-bit codes, w = d (q - 16).</summary>
    Q5_0 = 6,
    /// <summary>Blocks of 32: f16 d and m, 5-bit codes.</summary>
    Q5_1 = 7,
    /// <summary>Blocks of 32: f16 d, int8 codes, w = d q.</summary>
    Q8_0 = 8,
    /// <summary>Blocks of 32: int8 codes with scale and sum (ggml's activation format).</summary>
    Q8_1 = 9,
    /// <summary>Super-blocks of 256, 2-bit codes with 4-bit sub-block scales and mins.</summary>
    Q2_K = 10,
    /// <summary>Super-blocks of 256, 3-bit codes with 6-bit sub-block scales.</summary>
    Q3_K = 11,
    /// <summary>Super-blocks of 256, 4-bit codes with 6-bit sub-block scales and mins.</summary>
    Q4_K = 12,
    /// <summary>Super-blocks of 256, 5-bit codes with 6-bit sub-block scales and mins.</summary>
    Q5_K = 13,
    /// <summary>Super-blocks of 256, 6-bit codes with 8-bit sub-block scales.</summary>
    Q6_K = 14,
    /// <summary>Super-blocks of 256, int8 codes (ggml's activation format for the K types).</summary>
    Q8_K = 15,
    /// <summary>Importance-matrix 2-bit (256 per block).</summary>
    IQ2_XXS = 16,
    /// <summary>Importance-matrix 2-bit (256 per block).</summary>
    IQ2_XS = 17,
    /// <summary>Importance-matrix 3-bit (256 per block).</summary>
    IQ3_XXS = 18,
    /// <summary>Importance-matrix 1-bit (256 per block).</summary>
    IQ1_S = 19,
    /// <summary>Non-linear 4-bit (32 per block).</summary>
    IQ4_NL = 20,
    /// <summary>Importance-matrix 3-bit (256 per block).</summary>
    IQ3_S = 21,
    /// <summary>Importance-matrix 2-bit (256 per block).</summary>
    IQ2_S = 22,
    /// <summary>Non-linear 4-bit (256 per block).</summary>
    IQ4_XS = 23,
    /// <summary>8-bit integer.</summary>
    I8 = 24,
    /// <summary>16-bit integer.</summary>
    I16 = 25,
    /// <summary>32-bit integer.</summary>
    I32 = 26,
    /// <summary>64-bit integer.</summary>
    I64 = 27,
    /// <summary>64-bit float.</summary>
    F64 = 28,
    /// <summary>Importance-matrix 1-bit (256 per block).</summary>
    IQ1_M = 29,
    /// <summary>Brain float 16.</summary>
    BF16 = 30,
    /// <summary>Ternary (256 per block).</summary>
    TQ1_0 = 34,
    /// <summary>Ternary (256 per block).</summary>
    TQ2_0 = 35,
    /// <summary>Microscaling FP4 (32 per block).</summary>
    MXFP4 = 39,
}

/// <summary>Block sizes and bytes per block of <see cref="GgufType"/>, as ggml 0.25.1's <c>ggml_blck_size</c> / <c>ggml_type_size</c> report
/// them.</summary>
internal static class GgufTypes
{
    /// <summary>Weights per block and bytes per block; false for ids that are unknown or removed.</summary>
    public static bool TryGetLayout(GgufType type, out int blockWeights, out int blockBytes)
    {
        (blockWeights, blockBytes) = type switch
        {
            GgufType.F32 => (1, 4),
            GgufType.F16 => (1, 2),
            GgufType.Q4_0 => (32, 18),
            GgufType.Q4_1 => (32, 20),
            GgufType.Q5_0 => (32, 22),
            GgufType.Q5_1 => (32, 24),
            GgufType.Q8_0 => (32, 34),
            GgufType.Q8_1 => (32, 36),
            GgufType.Q2_K => (256, 84),
            GgufType.Q3_K => (256, 110),
            GgufType.Q4_K => (256, 144),
            GgufType.Q5_K => (256, 176),
            GgufType.Q6_K => (256, 210),
            GgufType.Q8_K => (256, 292),
            GgufType.IQ2_XXS => (256, 66),
            GgufType.IQ2_XS => (256, 74),
            GgufType.IQ3_XXS => (256, 98),
            GgufType.IQ1_S => (256, 50),
            GgufType.IQ4_NL => (32, 18),
            GgufType.IQ3_S => (256, 110),
            GgufType.IQ2_S => (256, 82),
            GgufType.IQ4_XS => (256, 136),
            GgufType.I8 => (1, 1),
            GgufType.I16 => (1, 2),
            GgufType.I32 => (1, 4),
            GgufType.I64 => (1, 8),
            GgufType.F64 => (1, 8),
            GgufType.IQ1_M => (256, 56),
            GgufType.BF16 => (1, 2),
            GgufType.TQ1_0 => (256, 54),
            GgufType.TQ2_0 => (256, 66),
            GgufType.MXFP4 => (32, 17),
            _ => (0, 0),
        };
        return blockWeights > 0;
    }
}
