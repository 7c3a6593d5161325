namespace LowBit.Models;

/// <summary>How <see cref="DecoderModel.Open"/> sets a model up; every session of the model uses these settings.</summary>
public sealed class DecoderOptions
{
    /// <summary>
    /// The precision the quantized layers multiply activations in: <see cref="ActivationPrecision.Float"/> (exact, the
    /// default) or <see cref="ActivationPrecision.Int8"/> (activations rounded to int8 per block of 32, as llama.cpp does: faster).
    /// </summary>
    public ActivationPrecision Activations { get; set; } = ActivationPrecision.Float;

    /// <summary>Threads a call may use: 0 (the default) for every core, 1 for the calling thread only.</summary>
    public int MaxThreads { get; set; }

    /// <summary>The longest context a session holds, in tokens: 0 (the default) for the model's own context length.</summary>
    public int ContextLength { get; set; }

    /// <summary>How sessions store keys and values: float32 (the default) or f16 (half the memory).</summary>
    public KvCacheType KvCache { get; set; } = KvCacheType.Float32;

    /// <summary>Throws for a setting out of range, naming it.</summary>
    internal void Validate()
    {
        if (Activations is not (ActivationPrecision.Float or ActivationPrecision.Int8))
        {
            throw new ArgumentOutOfRangeException(nameof(Activations), Activations,
                                                  "Activations must be ActivationPrecision.Float or ActivationPrecision.Int8.");
        }

        if (MaxThreads < 0) throw new ArgumentOutOfRangeException(nameof(MaxThreads), MaxThreads, "MaxThreads must be 0 (every core) or positive.");
        if (ContextLength < 0) throw new ArgumentOutOfRangeException(nameof(ContextLength), ContextLength,
                                                                     "ContextLength must be 0 (the model's) or positive.");
        if (KvCache is not (KvCacheType.Float32 or KvCacheType.Float16))
        {
            throw new ArgumentOutOfRangeException(nameof(KvCache), KvCache, "KvCache must be KvCacheType.Float32 or KvCacheType.Float16.");
        }
    }
}
