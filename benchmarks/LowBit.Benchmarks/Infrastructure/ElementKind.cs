namespace LowBit.Benchmarks.Infrastructure;

/// <summary>The activation type a benchmark runs with.</summary>
public enum ElementKind
{
    Float,
    Half,
    BFloat16,
}
