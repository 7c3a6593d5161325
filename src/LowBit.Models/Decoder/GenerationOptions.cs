namespace LowBit.Models;

/// <summary>How <see cref="DecoderSession.Generate"/> picks tokens and when it stops.</summary>
/// <remarks>
/// Sampling follows llama.cpp's order: top-k, then top-p over what is left, then temperature. Temperature 0 is greedy
/// (the most likely token, no randomness). The same <see cref="Seed"/> with the same model, prompt and options gives the same text.
/// </remarks>
public sealed class GenerationOptions
{
    /// <summary>Tokens to generate at most (the default 256); generation also stops at an end-of-generation token.</summary>
    public int MaxTokens { get; set; } = 256;

    /// <summary>Softmax temperature: 0 is greedy, 1 the model's own distribution (the default 0.8).</summary>
    public float Temperature { get; set; } = 0.8f;

    /// <summary>Keep only the K most likely tokens before sampling: 0 keeps all (the default 40).</summary>
    public int TopK { get; set; } = 40;

    /// <summary>Keep the smallest set of most likely tokens whose probabilities reach P: 1 keeps all (the default 0.95).</summary>
    public float TopP { get; set; } = 0.95f;

    /// <summary>The random seed; null (the default) draws one. The same seed gives the same tokens.</summary>
    public int? Seed { get; set; }

    /// <summary>Stop at the model's end-of-generation tokens (EOS and the like; the default true).</summary>
    public bool StopAtEndOfGeneration { get; set; } = true;

    /// <summary>Put the model's BOS token before a text prompt when its vocabulary asks for one (the default true).</summary>
    public bool AddBos { get; set; } = true;

    /// <summary>Throws for a setting out of range, naming it.</summary>
    internal void Validate()
    {
        if (MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "MaxTokens must not be negative.");
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
            "Temperature must be 0 (greedy) or positive.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be 0 (all tokens) or positive.");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
    }
}
