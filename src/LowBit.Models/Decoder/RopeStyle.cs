namespace LowBit.Models;

/// <summary>Which elements of a head rotary position embeddings rotate together (llama.cpp's rope modes).</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs <c>(2i, 2i + 1)</c>: llama.cpp's NORMAL mode, used by <c>llama</c>.</summary>
    Adjacent = 0,

    /// <summary>Split halves <c>(i, i + d/2)</c>: llama.cpp's NEOX mode, used by <c>qwen2</c>.</summary>
    SplitHalves = 1,
}
