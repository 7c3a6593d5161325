using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// How layers choose their kernels: by the built-in table (<see cref="PlanMode.Table"/>, the default) or by measurement on
/// this machine (<see cref="PlanMode.Measure"/>, opt-in). The environment variable <c>LOWBIT_PLAN=measure</c> (or
/// <c>table</c>) sets the mode at start-up; <see cref="Mode"/> changes it for the process.
/// </summary>
/// <remarks>
/// A measured plan times every kernel that takes a layer's shape, weight format, batch size class and activation precision
/// on a slice of synthetic weights of that shape (one thread, a few milliseconds), once per process for each distinct key,
/// whichever layer asks first; concurrent first calls wait for one measurement. Every candidate computes the same contract
/// (within the tolerances the README states), so the choice changes speed, not meaning. With
/// <see cref="ActivationPrecision.Int8"/> the candidates include each float kernel on the int8-rounded activations, which
/// computes the contract's own oracle: where the integer kernels lose on this CPU, that route runs instead. The timings
/// run on slices of the layer and are extrapolated to its rows; a kernel's cost per row is not linear in the rows (on an
/// Intel Xeon, field-512 on 2-bit rows of 2048 columns costs 0.8 us per row on 64 rows and 0.37 on 8192), so a measured
/// plan can lose to the table where two kernels are close: measure, and compare, before relying on it.
/// <code>
/// KernelPlanning.Mode = PlanMode.Measure;
/// Console.WriteLine(layer.Describe(8, ActivationPrecision.Int8));   // measured now, on this machine
/// </code>
/// </remarks>
public static class KernelPlanning
{
    private static volatile int s_mode = (int)ModeFromEnvironment();

    /// <summary>The mode every layer uses from its next call on.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="PlanMode"/>.</exception>
    public static PlanMode Mode
    {
        get => (PlanMode)s_mode;
        set
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "Not a defined PlanMode.");
            s_mode = (int)value;
        }
    }

    /// <summary>The measurements this process has made, one line each: shape, batch class, precision, chosen route, timings.</summary>
    public static IReadOnlyList<string> Measurements => KernelPlanner.Describe();

    private static PlanMode ModeFromEnvironment() =>
        Environment.GetEnvironmentVariable("LOWBIT_PLAN")?.Trim().ToLowerInvariant() switch
        {
            "measure" => PlanMode.Measure,
            _ => PlanMode.Table,
        };
}
