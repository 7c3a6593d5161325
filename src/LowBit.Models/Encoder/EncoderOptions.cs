namespace LowBit.Models;

/// <summary>How <see cref="EncoderModel.Open"/> sets an encoder up.</summary>
public sealed class EncoderOptions
{
    /// <summary>
    /// The precision the quantized layers multiply activations in: <see cref="ActivationPrecision.Float"/> (exact, the
    /// default) or <see cref="ActivationPrecision.Int8"/> (rounded to int8 per block of 32: faster on int8 weights).
    /// </summary>
    public ActivationPrecision Activations { get; set; } = ActivationPrecision.Float;

    /// <summary>Threads a call may use: 0 (the default) for every core, 1 for the calling thread only.</summary>
    public int MaxThreads { get; set; }

    /// <summary>The pooling; null (the default) takes the model folder's sentence-transformers config, else mean pooling.</summary>
    public Pooling? Pooling { get; set; }

    /// <summary>L2-normalize each embedding; null (the default) takes the folder's config (a Normalize module), else true.</summary>
    public bool? Normalize { get; set; }

    /// <summary>Tokens a text is truncated to ([CLS] and [SEP] included); 0 (the default) takes the folder's max_seq_length, else the model's
    /// limit.</summary>
    public int MaxSequenceLength { get; set; }

    /// <summary>Throws for a setting out of range, naming it.</summary>
    internal void Validate()
    {
        if (Activations is not (ActivationPrecision.Float or ActivationPrecision.Int8))
        {
            throw new ArgumentOutOfRangeException(nameof(Activations), Activations,
                                                  "Activations must be ActivationPrecision.Float or ActivationPrecision.Int8.");
        }

        if (MaxThreads < 0) throw new ArgumentOutOfRangeException(nameof(MaxThreads), MaxThreads, "MaxThreads must be 0 (every core) or positive.");
        if (MaxSequenceLength is < 0 or 1) throw new ArgumentOutOfRangeException(nameof(MaxSequenceLength), MaxSequenceLength,
                                                                                 "MaxSequenceLength must be 0 or at least 2.");
        if (Pooling is not (null or Models.Pooling.Mean or Models.Pooling.Cls or Models.Pooling.Max))
        {
            throw new ArgumentOutOfRangeException(nameof(Pooling), Pooling, "Pooling must be Mean, Cls or Max.");
        }
    }
}
