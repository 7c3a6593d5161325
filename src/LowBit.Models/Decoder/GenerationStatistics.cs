namespace LowBit.Models;

/// <summary>Timings of one generation: the prompt's batched pass and the tokens decoded one at a time.</summary>
/// <param name="PromptTokens">Tokens in the prompt pass.</param>
/// <param name="PromptTime">Time of the prompt pass (its logits included).</param>
/// <param name="GeneratedTokens">Tokens sampled (an end-of-generation token counts).</param>
/// <param name="DecodeTime">Time from the prompt's logits to the last sample.</param>
public sealed record GenerationStatistics(int PromptTokens, TimeSpan PromptTime, int GeneratedTokens, TimeSpan DecodeTime)
{
    /// <summary>Prompt tokens per second.</summary>
    public double PromptTokensPerSecond => PromptTokens / Math.Max(PromptTime.TotalSeconds, 1e-9);

    /// <summary>Decoded tokens per second (the first sample needs no decode step, so it counts GeneratedTokens - 1 steps).</summary>
    public double DecodeTokensPerSecond => Math.Max(GeneratedTokens - 1, 0) / Math.Max(DecodeTime.TotalSeconds, 1e-9);
}
