namespace LowBit.Models;

/// <summary>One transformer block's weights: the two RMSNorm gains and the seven linear layers (biases inside them).</summary>
internal sealed class DecoderLayer
{
    public required float[] AttentionNorm { get; init; }
    public required ILinearLayer<float> Query { get; init; }
    public required ILinearLayer<float> Key { get; init; }
    public required ILinearLayer<float> Value { get; init; }
    public required ILinearLayer<float> Output { get; init; }
    public required float[] FeedForwardNorm { get; init; }
    public required ILinearLayer<float> Gate { get; init; }
    public required ILinearLayer<float> Up { get; init; }
    public required ILinearLayer<float> Down { get; init; }

    /// <summary>Bytes of the seven layers' weights.</summary>
    public long WeightBytes => Query.WeightBytes + Key.WeightBytes + Value.WeightBytes + Output.WeightBytes + Gate.WeightBytes + Up.WeightBytes
        + Down.WeightBytes;
}
