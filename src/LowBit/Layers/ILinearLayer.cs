namespace LowBit;

/// <summary>
/// A linear layer of any weight format: <c>output = input @ W^T + bias</c> for a batch x <see cref="InFeatures"/> input.
/// What a model runtime, the CLI or a service needs from a layer, whatever holds its weights
/// (<see cref="W8A16Linear{T}"/>, <see cref="LowBitLinear{T}"/>, <see cref="DenseLinear{T}"/>, or a loader's own).
/// </summary>
/// <typeparam name="T">The activation type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <remarks>
/// Implementations are immutable during <see cref="Forward"/> and safe to call from many threads at once; the span
/// overloads allocate nothing per call.
/// <code>
/// ILinearLayer&lt;float&gt; layer = checkpoint.LoadLayer&lt;float&gt;("blk.0.attn_q");
/// layer.Forward(x, y, maxThreads: 0, ActivationPrecision.Int8);
/// Console.WriteLine($"{layer.Format}: {layer.WeightBytes} bytes, runs {layer.Describe(1, ActivationPrecision.Int8)}");
/// </code>
/// </remarks>
public interface ILinearLayer<T>
{
    /// <summary>Input features (columns of the weight matrix).</summary>
    int InFeatures { get; }

    /// <summary>Output features (rows of the weight matrix).</summary>
    int OutFeatures { get; }

    /// <summary>True when the layer adds a bias.</summary>
    bool HasBias { get; }

    /// <summary>Bytes the layer holds for its weights now: codes (in the layouts it holds: row-major, a kernel's own, or both), scales, zero
    /// points and offsets (not the bias).</summary>
    long WeightBytes { get; }

    /// <summary>The weight format in words: "int8 per channel", "4-bit, group 32, offsets", "f16 dense".</summary>
    string Format { get; }

    /// <summary>
    /// Computes <c>output = input @ W^T + bias</c> for a batch x InFeatures input into batch x OutFeatures, on at most
    /// <paramref name="maxThreads"/> threads (1 = the calling thread, 0 = every core), with activations in
    /// <paramref name="activations"/> precision.
    /// </summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures, or output is too short or overlaps it.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxThreads"/> is negative or <paramref name="activations"/> is not
    /// defined.</exception>
    void Forward(ReadOnlySpan<T> input, Span<T> output, int maxThreads, ActivationPrecision activations);

    /// <summary>Writes the dequantized weights, OutFeatures x InFeatures, row-major.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than OutFeatures x InFeatures.</exception>
    void Dequantize(Span<T> destination);

    /// <summary>Writes row <paramref name="row"/> of the dequantized weights (InFeatures values): an embedding lookup.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is not in [0, OutFeatures).</exception>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than InFeatures.</exception>
    void DequantizeRow(int row, Span<T> destination);

    /// <summary>What a call of <paramref name="batch"/> input rows runs in <paramref name="activations"/> precision: "field-512".</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batch"/> is not positive or <paramref name="activations"/> is not
    /// defined.</exception>
    string Describe(int batch, ActivationPrecision activations);
}
