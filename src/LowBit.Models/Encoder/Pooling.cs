namespace LowBit.Models;

/// <summary>How an encoder turns its per-token outputs into one sentence embedding (sentence-transformers' Pooling).</summary>
public enum Pooling
{
    /// <summary>The mean of every token's output ([CLS] and [SEP] included): all-MiniLM-L6-v2 and most sentence-transformers models.</summary>
    Mean = 0,

    /// <summary>The [CLS] token's output.</summary>
    Cls = 1,

    /// <summary>The element-wise maximum over the tokens.</summary>
    Max = 2,
}
