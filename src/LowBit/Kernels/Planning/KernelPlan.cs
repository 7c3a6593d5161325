namespace LowBit.Kernels;

/// <summary>
/// The routes one layer runs. In <see cref="PlanMode.Table"/>, chosen from <see cref="KernelRegistry"/> once, when the layer
/// is built: for each activation precision and each range of batch sizes where the registry's choice is the same, one
/// <see cref="KernelRoute"/>. In <see cref="PlanMode.Measure"/>, the route of each batch size class is
/// <see cref="KernelPlanner"/>'s measurement, fetched on the class's first call and kept here. A call then costs one
/// short scan, not a search.
/// </summary>
/// <remarks>
/// With <see cref="ActivationPrecision.Int8"/>, a batch range where the registry offers only the scalar integer kernel
/// while a vector float kernel takes the layer routes to that float kernel on the dequantized activations
/// (<see cref="KernelRoute.DequantizesActivations"/>): the same result, about 100x faster.
/// </remarks>
internal sealed class KernelPlan
{
    private readonly Ranges _float, _int8;
    private readonly KernelPlanner.Measurement?[] _measuredFloat = new KernelPlanner.Measurement?[KernelPlanner.ClassStarts.Length];
    private readonly KernelPlanner.Measurement?[] _measuredInt8 = new KernelPlanner.Measurement?[KernelPlanner.ClassStarts.Length];

    private readonly bool _layouts;
    private readonly IWeightLayouts? _parameters;

    private KernelPlan(LayerShape shape, bool layouts, IWeightLayouts? parameters, Ranges floatRanges, Ranges int8Ranges)
    {
        Shape = shape;
        _layouts = layouts;
        _parameters = parameters;
        _float = floatRanges;
        _int8 = int8Ranges;
    }

    /// <summary>The layer this plan is for.</summary>
    public LayerShape Shape { get; }

    /// <summary>
    /// Asks the registry once per batch range and precision. <paramref name="layouts"/> says whether the caller's weights
    /// come with <see cref="IWeightLayouts"/> (a layer's do); without, only kernels of the canonical layout are chosen.
    /// <paramref name="parameters"/>, the layer's layouts, tell a measured plan how they keep the group parameters (asked
    /// on the first measured call), so that the timings run on weights of the same form.
    /// </summary>
    public static KernelPlan Create(in LayerShape shape, bool layouts = true, IWeightLayouts? parameters = null)
    {
        var floatRanges = new List<(int From, KernelRoute Route)>();
        var int8Ranges = new List<(int From, KernelRoute Route)>();
        foreach (int batch in KernelRegistry.BatchBreakpoints)
        {
            Add(floatRanges, batch, TableRoute(shape, batch, ActivationPrecision.Float, layouts));
            Add(int8Ranges, batch, TableRoute(shape, batch, ActivationPrecision.Int8, layouts));
        }

        return new KernelPlan(shape, layouts, parameters, new Ranges(floatRanges), new Ranges(int8Ranges));

        static void Add(List<(int From, KernelRoute Route)> ranges, int batch, KernelRoute route)
        {
            if (ranges.Count == 0 || ranges[^1].Route != route) ranges.Add((batch, route));
        }
    }

    /// <summary>
    /// The table's route: the registry's first matching row; with int8 activations, where that is the scalar integer
    /// kernel while a vector float kernel takes the layer, that float kernel on the dequantized activations.
    /// </summary>
    public static KernelRoute TableRoute(in LayerShape shape, int batch, ActivationPrecision activations, bool layouts = true)
    {
        MatMulKernel floatKernel = KernelRegistry.Choose(shape, batch, ActivationPrecision.Float, layouts);
        if (activations == ActivationPrecision.Float) return new KernelRoute(floatKernel, false);
        MatMulKernel int8Kernel = KernelRegistry.Choose(shape, batch, ActivationPrecision.Int8, layouts);
        bool viaFloat = int8Kernel == KernelRegistry.IntScalar && floatKernel.Isa != KernelIsa.Scalar;
        return viaFloat ? new KernelRoute(floatKernel, true) : new KernelRoute(int8Kernel, false);
    }

    /// <summary>
    /// The route for a call of <paramref name="batch"/> input rows in <paramref name="activations"/> precision, in the
    /// process's <see cref="KernelPlanning.Mode"/>. A measured route whose kernel wants a layout this plan's weights do not
    /// have (measurements are shared by shape) gives way to the table's.
    /// </summary>
    public KernelRoute Route(int batch, ActivationPrecision activations)
    {
        if (KernelPlanning.Mode == PlanMode.Table) return TableRoute(batch, activations);
        KernelRoute measured = Measured(batch, activations).Route;
        return _layouts || measured.Kernel.Layout == WeightLayout.RowMajor ? measured : TableRoute(batch, activations);
    }

    /// <summary>The table's route for this layer (<see cref="PlanMode.Table"/>, whatever the process's mode).</summary>
    public KernelRoute TableRoute(int batch, ActivationPrecision activations) =>
        (activations == ActivationPrecision.Int8 ? _int8 : _float).For(batch);

    /// <summary>The measured route of the batch's class (measured now on the class's first call in this process).</summary>
    public KernelPlanner.Measurement Measured(int batch, ActivationPrecision activations)
    {
        KernelPlanner.Measurement?[] measured = activations == ActivationPrecision.Int8 ? _measuredInt8 : _measuredFloat;
        int batchClass = KernelPlanner.ClassOf(batch);
        KernelPlanner.Measurement? measurement = Volatile.Read(ref measured[batchClass]);
        if (measurement is not null) return measurement;
        measurement = KernelPlanner.Get(Shape, batchClass, activations, _parameters?.Parameters(WeightLayout.Rows8) ?? default);
        Volatile.Write(ref measured[batchClass], measurement);
        return measurement;
    }

    /// <summary>The table's plan for one precision as text: "1-15 field-512, 16+ panel-512".</summary>
    public string Describe(ActivationPrecision activations) => (activations == ActivationPrecision.Int8 ? _int8 : _float).ToString();

    /// <summary>The table's plan in both precisions: "float: 1 gemv-512, 2+ tiles-512; int8: 1+ int8act-512".</summary>
    public override string ToString() => $"float: {_float}; int8: {_int8}";

    /// <summary>
    /// Plans for the static <see cref="W8A16.MatMul{T}(ReadOnlySpan{T}, ReadOnlySpan{sbyte}, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, int, int)"/>,
    /// which has no layer to keep one: a small direct-mapped cache by shape (plans are immutable, so a torn race only costs
    /// a second lookup).
    /// </summary>
    public static KernelPlan Cached(in LayerShape shape)
    {
        int slot = (shape.GetHashCode() & int.MaxValue) % s_cache.Length;
        KernelPlan? plan = Volatile.Read(ref s_cache[slot]);
        if (plan is not null && plan.Shape == shape) return plan;
        plan = Create(shape, layouts: false);
        Volatile.Write(ref s_cache[slot], plan);
        return plan;
    }

    private static readonly KernelPlan?[] s_cache = new KernelPlan?[64];

    /// <summary>Batch ranges of one precision: <c>_routes[i]</c> runs batches from <c>_from[i]</c> to <c>_from[i + 1] - 1</c>.</summary>
    private sealed class Ranges(List<(int From, KernelRoute Route)> ranges)
    {
        private readonly int[] _from = ranges.Select(r => r.From).ToArray();   // ascending; _from[0] == 1
        private readonly KernelRoute[] _routes = ranges.Select(r => r.Route).ToArray();

        public KernelRoute For(int batch)
        {
            int i = _from.Length - 1;
            while (_from[i] > batch) i--;
            return _routes[i];
        }

        public override string ToString() =>
            string.Join(", ", _routes.Select((r, i) => (i + 1 < _from.Length ? $"{_from[i]}-{_from[i + 1] - 1}" : $"{_from[i]}+") + " " + r));
    }
}
