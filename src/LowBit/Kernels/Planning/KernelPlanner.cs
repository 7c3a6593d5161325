using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace LowBit.Kernels;

/// <summary>
/// Measured plans (<see cref="PlanMode.Measure"/>): for one (layer shape, batch size class, activation precision), every
/// route that takes the layer is timed on this machine and the fastest is kept for the process. Planning runs once per
/// distinct key, whichever layer asks first (layers of one shape share it), and is thread-safe: concurrent first calls
/// wait for one measurement and all get its result.
/// </summary>
/// <remarks>
/// A measurement runs each candidate on one thread over synthetic weights of the layer's format and row length, at the
/// class's first batch size, for two slices of rows (r and 2r to 4r; r a whole number of every candidate's row tiles,
/// about 256 K multiply-adds), and extrapolates to the layer's rows: <c>time = fixed + rows x per-row</c>, so per-call
/// costs that do not grow with the rows (arranging the input, quantizing the activations) weigh as they will on the whole
/// layer. The first round times the smaller slice only and drops candidates more than twice as slow as the fastest; the
/// minimum of up to two more interleaved rounds over both slices is kept (the last only while planning has taken under
/// 3 ms); when the two best are within 1.5x of each other, two more rounds of just those two, alternating. The slices
/// are cache-resident: a choice at batch 1 on layers far larger than the cache is made on in-cache speed, where the
/// kernels differ most.
/// </remarks>
internal static unsafe class KernelPlanner
{
    /// <summary>Multiply-adds of the smaller timed slice: about 3-5 microseconds of work per call for the fast kernels.</summary>
    private const long SliceMultiplyAdds = 1L << 18;

    /// <summary>Planning time after which no further round starts (the first two always run).</summary>
    private const double BudgetMilliseconds = 3;

    /// <summary>The fewest rows of the smaller slice.</summary>
    private const int MinSliceRows = 8;

    /// <summary>After the first round, candidates this many times slower than the fastest are not timed again.</summary>
    private const double Screen = 2.0;

    /// <summary>Interleaved timing rounds; the fastest of each candidate's rounds counts.</summary>
    private const int Rounds = 3;

    /// <summary>The two best within this factor of each other are timed again (<see cref="FinalRounds"/> more rounds): one stalled
    /// timing made a kernel look 5x slower than it was under emulation (qemu, both cores busy), 1.5x was not enough there.</summary>
    private const double Close = 4.0;

    /// <summary>Extra alternating rounds of the two finalists.</summary>
    private const int FinalRounds = 2;

    /// <summary>The first batch size of each class: the registry's breakpoints and the powers of two up to 64.</summary>
    internal static readonly int[] ClassStarts = KernelRegistry.BatchBreakpoints
        .Concat([1, 2, 4, 8, 16, 32, 64]).Distinct().Order().ToArray();

    private static readonly ConcurrentDictionary<Key, Lazy<Measurement>> s_wisdom = new();

    /// <summary>
    /// What a measurement is for: a layer shape, a batch size class and a precision, and how the layer's interleaved
    /// layouts keep its group parameters (<see cref="GroupParameters"/>: Half scales or none stored per group change
    /// the kernels' work and bytes, so a GGUF Q4_0 layer is timed on weights like its own).
    /// </summary>
    internal readonly record struct Key(LayerShape Shape, int BatchClass, ActivationPrecision Activations, GroupParameters Parameters = default)
    {
        /// <summary>The batch size the class is measured at.</summary>
        public int Batch => ClassStarts[BatchClass];

        public override string ToString() => $"{Shape}" + (Parameters == default ? "" : $" ({Parameters})") + $", batch {Batch}"
            + (BatchClass + 1 < ClassStarts.Length ? (ClassStarts[BatchClass + 1] - 1 == Batch ? "" : $"-{ClassStarts[BatchClass + 1] - 1}") : "+")
            + $", {Activations}";
    }

    /// <summary>One route's estimated time for a call on the whole layer, one thread.</summary>
    internal readonly record struct Timing(KernelRoute Route, double Microseconds);

    /// <summary>
    /// The chosen route and what it was chosen over, fastest first (one entry when there was nothing to time);
    /// <paramref name="Loaded"/> when it came from a plan file (<see cref="KernelPlanning.Load"/>), not measured in this process.
    /// </summary>
    internal sealed record Measurement(Key Key, KernelRoute Route, Timing[] Timings, double PlanningMilliseconds, bool Loaded = false)
    {
        /// <summary>"measured: field-512 41.2 us, panel-512 55.0 us (1.3 ms)", or "only route" when nothing was timed.</summary>
        public string Why => Loaded ? "from a plan file" + (Timings.Length <= 1 ? "" : ", measured there: " + TimingList)
            : Timings.Length <= 1 ? "the only route that takes the layer"
            : $"measured: {TimingList} ({PlanningMilliseconds.ToString("0.0", CultureInfo.InvariantCulture)} ms)";

        private string TimingList =>
            string.Join(", ", Timings.Select(t => $"{t.Route} {t.Microseconds.ToString("0.0", CultureInfo.InvariantCulture)} us"));

        public override string ToString() => $"{Key}: {Route} ({Why})";
    }

    /// <summary>The class index of a batch size: the last class whose first batch is at most <paramref name="batch"/>.</summary>
    public static int ClassOf(int batch)
    {
        int i = ClassStarts.Length - 1;
        while (ClassStarts[i] > batch) i--;
        return i;
    }

    /// <summary>The measurement for a key, made now if this process has none yet (once, however many threads ask).</summary>
    public static Measurement Get(in LayerShape shape, int batchClass, ActivationPrecision activations, GroupParameters parameters = default) =>
        s_wisdom.GetOrAdd(new Key(shape, batchClass, activations, parameters),
                          static key => new Lazy<Measurement>(() => Measure(key, Candidates(key)), LazyThreadSafetyMode.ExecutionAndPublication))
            .Value;

    /// <summary>Every measurement made (or loaded) so far, in the order of their descriptions.</summary>
    public static Measurement[] Measurements() =>
        s_wisdom.Values.Where(l => l.IsValueCreated).Select(l => l.Value).OrderBy(m => m.ToString(), StringComparer.Ordinal).ToArray();

    /// <summary>Takes <paramref name="plans"/> for the keys this process has no measurement of yet; returns how many it took.</summary>
    public static int Take(IEnumerable<Measurement> plans) =>
        plans.Count(plan => s_wisdom.TryAdd(plan.Key, new Lazy<Measurement>(plan)));

    /// <summary>Every measurement made so far, one line each, sorted.</summary>
    public static IReadOnlyList<string> Describe() => Measurements().Select(m => m.ToString()).ToArray();

    /// <summary>
    /// The routes that take the key's layer on this machine: the vector kernels of its precision, and with int8
    /// activations also each vector float kernel on the int8-rounded activations. Of each algorithm only its two widest
    /// supported widths (a 128-bit kernel never beat its 256-bit twin on x64; 512 and 256 bits trade places by CPU), and the
    /// generic streams kernels only when nothing else takes the layer. The table's route when no vector kernel takes it.
    /// </summary>
    internal static KernelRoute[] Candidates(in Key key)
    {
        LayerShape shape = key.Shape;
        MatMulKernel[] vector = KernelRegistry.Kernels.Where(k => k.Isa != KernelIsa.Scalar && k.IsSupported && k.Takes(shape)).ToArray();
        if (vector.Any(k => Family(k) != "streams")) vector = vector.Where(k => Family(k) != "streams").ToArray();
        vector = vector.GroupBy(k => (Family(k), k.Activations)).SelectMany(g => g.OrderByDescending(k => k.Isa).Take(2)).ToArray();
        KernelRoute[] routes = key.Activations == ActivationPrecision.Float
            ? vector.Where(k => k.Activations == ActivationPrecision.Float).Select(k => new KernelRoute(k, false)).ToArray()
            : vector.Where(k => k.Activations == ActivationPrecision.Int8).Select(k => new KernelRoute(k, false))
                .Concat(vector.Where(k => k.Activations == ActivationPrecision.Float).Select(k => new KernelRoute(k, true))).ToArray();
        return routes.Length != 0 ? routes : [KernelPlan.TableRoute(shape, key.Batch, key.Activations)];
    }

    /// <summary>A kernel's algorithm: its name without the width ("panel" of "panel-512", "int8act-vnni" of "int8act-vnni-256").</summary>
    private static string Family(MatMulKernel kernel)
    {
        int dash = kernel.Name.LastIndexOf('-');
        return dash < 0 ? kernel.Name : kernel.Name[..dash];
    }

    /// <summary>Times <paramref name="candidates"/> on the key's layer shape and returns the fastest (ties go to the first).</summary>
    internal static Measurement Measure(in Key key, IReadOnlyList<KernelRoute> candidates)
    {
        if (candidates.Count == 1) return new Measurement(key, candidates[0], [new Timing(candidates[0], 0)], 0);
        long started = Stopwatch.GetTimestamp();
        LayerShape shape = key.Shape;
        int batch = key.Batch, n = shape.InFeatures, m = shape.OutFeatures;
        // The smaller slice does about SliceMultiplyAdds, in whole row tiles of every candidate (a panel kernel computes 32
        // rows however few are asked for); the larger has two to four times the rows, a lever long enough that per-call
        // costs (arranging or quantizing the input) are told apart from per-row costs. A layer of at most twice the smaller
        // slice is timed whole.
        int tile = candidates.Max(r => r.Kernel.RowGranularity);
        int small = (int)Math.Clamp(SliceMultiplyAdds / ((long)batch * n), MinSliceRows, int.MaxValue / 4);
        small = (small + tile - 1) / tile * tile;
        if (m <= 2 * small) small = m;
        int large = Math.Min(m, small >= 32 ? 2 * small : 4 * small);
        var slice = new SyntheticWeights(shape, large, key.Parameters);
        float[] input = new float[batch * n], output = new float[batch * large];
        var random = new Random(batch * 7919 + n);
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1);

        // Warm-up: a kernel's first call on a layout compiles the code for it (kernels are generic over group sizes and
        // widths), which must not count against it.
        foreach (KernelRoute candidate in candidates) Time(candidate, slice, small, input, output);

        // Round 0 times the smaller slice only and drops the candidates more than Screen times slower than the fastest;
        // the rounds after it time both slices of the rest, while the planning stays within its budget.
        var best = new double[candidates.Count, 2];
        for (int c = 0; c < candidates.Count; c++) (best[c, 0], best[c, 1]) = (Time(candidates[c], slice, small, input, output), double.MaxValue);
        double fastest = Enumerable.Range(0, candidates.Count).Min(c => best[c, 0]);
        bool[] alive = Enumerable.Range(0, candidates.Count).Select(c => best[c, 0] <= Screen * fastest).ToArray();
        for (int round = 1; round < Rounds; round++)
        {
            if (round > 1 && Stopwatch.GetElapsedTime(started).TotalMilliseconds > BudgetMilliseconds) break;
            for (int c = 0; c < candidates.Count; c++)
            {
                if (!alive[c]) continue;
                best[c, 0] = Math.Min(best[c, 0], Time(candidates[c], slice, small, input, output));
                if (large != small) best[c, 1] = Math.Min(best[c, 1], Time(candidates[c], slice, large, input, output));
            }
        }

        Timing[] ranked = Rank(candidates, best, small, large, m);
        // The finalists: when the two best are within Close of each other, a busy second core or an interrupt during one
        // of their few timings decides the choice (seen: 0.3-0.6x picks under load). Two more alternating rounds of just
        // those two cost about 0.1-0.2 ms and leave a one-off stall out of both minimums; the runner-up may have been
        // screened out after round 0 by such a stall, and is timed again here too.
        if (ranked.Length > 1 && ranked[1].Microseconds < Close * ranked[0].Microseconds)
        {
            int first = IndexOf(candidates, ranked[0].Route), second = IndexOf(candidates, ranked[1].Route);
            for (int round = 0; round < FinalRounds; round++)
            {
                for (int turn = 0; turn < 2; turn++)
                {
                    // The runner-up goes first in even rounds, so neither always follows the other.
                    int c = (round + turn) % 2 == 0 ? second : first;
                    best[c, 0] = Math.Min(best[c, 0], Time(candidates[c], slice, small, input, output));
                    if (large != small) best[c, 1] = Math.Min(best[c, 1], Time(candidates[c], slice, large, input, output));
                }
            }

            ranked = Rank(candidates, best, small, large, m);
        }

        return new Measurement(key, ranked[0].Route, ranked, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>The candidates' whole-layer estimates, fastest first (ties go to the first candidate).</summary>
    private static Timing[] Rank(IReadOnlyList<KernelRoute> candidates, double[,] best, int small, int large, int rows)
    {
        var timings = new Timing[candidates.Count];
        for (int c = 0; c < candidates.Count; c++) timings[c] = new Timing(candidates[c], Extrapolate(best[c, 0], best[c, 1], small, large, rows));
        return timings.Select((t, i) => (t, i)).OrderBy(p => p.t.Microseconds).ThenBy(p => p.i).Select(p => p.t).ToArray();
    }

    /// <summary>Where <paramref name="route"/> is among <paramref name="candidates"/>.</summary>
    private static int IndexOf(IReadOnlyList<KernelRoute> candidates, KernelRoute route)
    {
        for (int c = 0; c < candidates.Count; c++)
        {
            if (candidates[c] == route) return c;
        }

        return -1;
    }

    /// <summary>Whole-layer microseconds from the two slices: fixed cost plus rows x cost per row.</summary>
    private static double Extrapolate(double smallSeconds, double largeSeconds, int small, int large, int rows)
    {
        // One slice timed (the layer whole, or a candidate screened out after round 0): scaled by rows.
        if (large == small || largeSeconds == double.MaxValue) return smallSeconds * 1e6 * rows / small;
        double perRow = (largeSeconds - smallSeconds) / (large - small);
        double fixedCost = smallSeconds - perRow * small;
        // Noise can make the difference meaningless (per-row cost <= 0, or a negative fixed cost): then scale the larger slice.
        if (perRow <= 0 || fixedCost < 0) return largeSeconds * 1e6 * rows / large;
        return (fixedCost + perRow * rows) * 1e6;
    }

    /// <summary>Seconds of one single-thread call of <paramref name="route"/> on the first <paramref name="rows"/> rows.</summary>
    private static double Time(KernelRoute route, SyntheticWeights weights, int rows, float[] input, float[] output)
    {
        LayerShape shape = weights.Shape with { OutFeatures = rows };
        MatMulRunner.Weights slice = weights.Rows(rows);
        int batch = input.Length / shape.InFeatures;
        Span<float> y = output.AsSpan(0, batch * rows);
        // Twice when short: the second call finds the slice, its scratch and the input in cache, as a layer's steady state
        // does; a long call's cold start is a small part of it.
        long start = Stopwatch.GetTimestamp();
        Run(route, shape, slice, input, y);
        double first = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (first > 100e-6) return first;
        start = Stopwatch.GetTimestamp();
        Run(route, shape, slice, input, y);
        return Math.Min(first, Stopwatch.GetElapsedTime(start).TotalSeconds);

        static void Run(KernelRoute route, in LayerShape shape, in MatMulRunner.Weights slice, ReadOnlySpan<float> input, Span<float> y)
        {
            if (route.DequantizesActivations) MatMulRunner.RunOnDequantizedActivations(route.Kernel, shape, slice, input, y, maxThreads: 1);
            else MatMulRunner.Run(route.Kernel, shape, slice, input, y, maxThreads: 1);
        }
    }

    /// <summary>Forgets every measurement (tests).</summary>
    internal static void Clear() => s_wisdom.Clear();

    /// <summary>
    /// Random codes, scales and zero points in a layer's format, for <c>rows</c> rows of its length, with group parameters
    /// of the given form (<see cref="GroupParameters.Compact"/> finds that form in them again).
    /// </summary>
    internal sealed class SyntheticWeights
    {
        private readonly byte[] _codes, _zeroPoints;
        private readonly float[] _scales, _zeroTerms, _offsets;
        private readonly IWeightLayouts _layouts;

        public SyntheticWeights(in LayerShape shape, int rows, GroupParameters parameters)
        {
            Shape = shape with { OutFeatures = rows };
            var random = new Random(shape.InFeatures * 31 + shape.GroupSize);
            bool perChannel = shape.Format == WeightFormat.Int8PerChannel;
            int scales = perChannel ? rows : rows * shape.Groups;
            _codes = new byte[(long)rows * shape.RowBytes];
            random.NextBytes(_codes);
            if (perChannel)
            {
                for (int i = 0; i < _codes.Length; i++) if (_codes[i] == 0x80) _codes[i] = 0x81;   // int8 codes stay in [-127, 127]
            }

            _scales = new float[scales];
            _scales.AsSpan().Fill(parameters.HalfScales ? (float)(Half)0.01f : 0.01f);   // 0.01f itself is no Half
            _zeroPoints = perChannel ? [] : new byte[scales];
            _zeroTerms = perChannel ? [] : new float[scales];
            _offsets = perChannel || !parameters.Offsets ? [] : new float[scales];
            for (int i = 0; i < _zeroPoints.Length; i++)
            {
                // One zero point for all, or random ones that differ somewhere (the first two), as a layer's would.
                byte z = parameters.OneZeroPoint ? parameters.ZeroPoint : (byte)random.Next(1 << shape.Bits);
                if (!parameters.OneZeroPoint && i == 1 && z == _zeroPoints[0]) z ^= 1;
                _zeroPoints[i] = z;
                if (_offsets.Length != 0) _offsets[i] = (float)(random.NextDouble() * 0.02 - 0.01);
                _zeroTerms[i] = _scales[i] * _zeroPoints[i] + (_offsets.Length != 0 ? _offsets[i] : 0);
            }

            // The other layouts of all the rows made: a layout keeps rows in order, so the first rows' are a prefix of it.
            _layouts = perChannel ? new Int8Layouts(_codes, rows, shape.InFeatures)
                : new GroupLayouts(Shape, _codes, _scales, _zeroTerms, _zeroPoints, parameters.Offsets);
        }

        /// <summary>The shape of all the rows made.</summary>
        public LayerShape Shape { get; }

        /// <summary>The layouts of all the rows made.</summary>
        public IWeightLayouts Layouts => _layouts;

        /// <summary>The first <paramref name="rows"/> rows in the form the kernels read.</summary>
        public MatMulRunner.Weights Rows(int rows)
        {
            int perRow = Shape.Format == WeightFormat.Int8PerChannel ? 1 : Shape.Groups;
            return new MatMulRunner.Weights(_codes.AsSpan(0, rows * Shape.RowBytes), _scales.AsSpan(0, rows * perRow),
                                            _zeroTerms.AsSpan(0, _zeroTerms.Length == 0 ? 0 : rows * perRow),
                                            _zeroPoints.AsSpan(0, _zeroPoints.Length == 0 ? 0 : rows * perRow), default,
                                            _offsets.AsSpan(0, _offsets.Length == 0 ? 0 : rows * perRow), _layouts);
        }
    }
}
