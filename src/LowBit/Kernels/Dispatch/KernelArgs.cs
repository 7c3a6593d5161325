using System.Runtime.CompilerServices;

namespace LowBit.Kernels;

/// <summary>One matmul call in float32 form, shared by pointer with the worker threads; every kernel reads what it needs.</summary>
internal unsafe struct KernelArgs
{
    public float* Input;          // the prepared input, in the layout the kernel asked for (plain rows, streams, field blocks or panel tiles)
    public float* GroupSums;      // batch x groups: sum of the input over each weight group (kernels that fold zero points per call)
    public float* InputUnscales;  // per input row: undoes the power-of-two scaling of the field kernels' input
    public float* LaneSums;       // batch x (inFeatures / weights per dword): the field kernels' input summed over each dword lane
    public sbyte* Codes;          // int8 activations: the input rows' codes, arranged per step for the kernel's width
    public float* LaneScales;     // int8 activations: per input row, the block scale sx of each int32 dot-product lane
    public byte* Weights;         // outFeatures x rowBytes: int8 codes (Int8PerChannel) or packed unsigned codes
    public float* Scales;         // outFeatures (Int8PerChannel) or outFeatures x groups
    public float* ZeroTerms;    // outFeatures x groups: s * z (+ the offset when the layer has offsets)
    public float* Offsets;        // outFeatures x groups: w = s * (q - z) - offset, or null (then kernels may read z as bytes)
    public byte* ZeroPoints;      // outFeatures x groups: z
    public GroupParameters Parameters;   // how an interleaved group-wise layout stores the scales and zero terms beside the codes
    public float* Bias;           // outFeatures, or null
    public float* Output;         // batch x outFeatures
    public int Batch, InFeatures, OutFeatures, Bits, GroupSize, RowsPerChunk;

    /// <summary>The per-channel int8 codes.</summary>
    public readonly sbyte* Int8Weights => (sbyte*)Weights;

    /// <summary>Per-channel int8: <c>y = acc * scale[o] + bias[o]</c>, the epilogue applied once per output.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float Finish(float acc, int o) => Bias is null ? acc * Scales[o] : acc * Scales[o] + Bias[o];
}
