namespace LowBit;

/// <summary>A layer that can also run its scalar reference: the baseline the CLI's bench and the benchmarks time against.</summary>
internal interface IReferenceLayer<T>
{
    /// <summary>The scalar reference of <see cref="ILinearLayer{T}.Forward"/> for a validated call, on the calling thread.</summary>
    void ForwardReference(ReadOnlySpan<T> input, Span<T> output, ActivationPrecision activations);
}
