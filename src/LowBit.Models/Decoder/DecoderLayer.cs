namespace LowBit.Models;

/// <summary>
/// One transformer block's weights: the two RMSNorm gains, the query / key / value and gate / up projections (each set
/// stacked into one layer where their formats agree: <see cref="SharedInputLayers"/>), and the attention output and down
/// projections (biases inside the layers).
/// </summary>
internal sealed class DecoderLayer
{
    public required float[] AttentionNorm { get; init; }
    public required SharedInputLayers QueryKeyValue { get; init; }
    public required ILinearLayer<float> Output { get; init; }
    public required float[] FeedForwardNorm { get; init; }
    public required SharedInputLayers GateUp { get; init; }
    public required ILinearLayer<float> Down { get; init; }

    /// <summary>Bytes of the layers' weights.</summary>
    public long WeightBytes => QueryKeyValue.WeightBytes + Output.WeightBytes + GateUp.WeightBytes + Down.WeightBytes;
}
