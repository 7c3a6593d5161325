namespace LowBit.Kernels;

/// <summary>
/// The kernels one layer runs, chosen from <see cref="KernelRegistry"/> once, when the layer is built: for each range
/// of batch sizes where the registry's choice is the same, that kernel. A call then costs one short scan, not a search.
/// </summary>
internal sealed class KernelPlan
{
    private readonly int[] _from;               // ascending; _from[0] == 1
    private readonly MatMulKernel[] _kernels;   // _kernels[i] runs batches from _from[i] up to _from[i + 1] - 1

    private KernelPlan(LayerShape shape, ActivationPrecision activations, int[] from, MatMulKernel[] kernels)
    {
        Shape = shape;
        Activations = activations;
        _from = from;
        _kernels = kernels;
    }

    /// <summary>The layer this plan is for.</summary>
    public LayerShape Shape { get; }

    /// <summary>The activation precision this plan's kernels compute in.</summary>
    public ActivationPrecision Activations { get; }

    /// <summary>Asks the registry once per batch range.</summary>
    public static KernelPlan Create(in LayerShape shape, ActivationPrecision activations = ActivationPrecision.Float)
    {
        var from = new List<int>();
        var kernels = new List<MatMulKernel>();
        foreach (int batch in KernelRegistry.BatchBreakpoints)
        {
            MatMulKernel kernel = KernelRegistry.Choose(shape, batch, activations);
            if (kernels.Count > 0 && ReferenceEquals(kernels[^1], kernel)) continue;
            from.Add(batch);
            kernels.Add(kernel);
        }

        return new KernelPlan(shape, activations, [.. from], [.. kernels]);
    }

    /// <summary>The kernel for a call of <paramref name="batch"/> input rows.</summary>
    public MatMulKernel For(int batch)
    {
        int i = _from.Length - 1;
        while (_from[i] > batch) i--;
        return _kernels[i];
    }

    /// <summary>The plan as text: "1-15 field-512, 16+ panel-512".</summary>
    public override string ToString() =>
        string.Join(", ", _kernels.Select((k, i) => (i + 1 < _from.Length ? $"{_from[i]}-{_from[i + 1] - 1}" : $"{_from[i]}+") + " " + k.Name));

    /// <summary>
    /// Plans for the static <see cref="W8A16.MatMul{T}(ReadOnlySpan{T}, ReadOnlySpan{sbyte}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int)"/>,
    /// which has no layer to keep one: a small direct-mapped cache by shape (plans are immutable, so a torn race only costs
    /// a second lookup).
    /// </summary>
    public static KernelPlan Cached(in LayerShape shape, ActivationPrecision activations = ActivationPrecision.Float)
    {
        int slot = (HashCode.Combine(shape, activations) & int.MaxValue) % s_cache.Length;
        KernelPlan? plan = Volatile.Read(ref s_cache[slot]);
        if (plan is not null && plan.Shape == shape && plan.Activations == activations) return plan;
        plan = Create(shape, activations);
        Volatile.Write(ref s_cache[slot], plan);
        return plan;
    }

    private static readonly KernelPlan?[] s_cache = new KernelPlan?[64];
}
