namespace LowBit.Models;

/// <summary>
/// One post-LN BERT layer's weights: attention (q, k, v stacked into one layer where their formats agree:
/// <see cref="SharedInputLayers"/>; output) with its LayerNorm, the feed-forward pair with its LayerNorm.
/// </summary>
internal sealed class EncoderLayer
{
    public required SharedInputLayers QueryKeyValue { get; init; }
    public required ILinearLayer<float> AttentionOutput { get; init; }
    public required float[] AttentionNormWeight { get; init; }
    public required float[] AttentionNormBias { get; init; }
    public required ILinearLayer<float> Intermediate { get; init; }
    public required ILinearLayer<float> Output { get; init; }
    public required float[] OutputNormWeight { get; init; }
    public required float[] OutputNormBias { get; init; }

    /// <summary>Bytes of the linear layers' weights.</summary>
    public long WeightBytes => QueryKeyValue.WeightBytes + AttentionOutput.WeightBytes + Intermediate.WeightBytes + Output.WeightBytes;
}
