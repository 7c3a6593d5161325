using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// How layers choose their kernels: by measurement on this machine (<see cref="PlanMode.Measure"/>, the default) or by the
/// built-in table (<see cref="PlanMode.Table"/>). The environment variable <c>LOWBIT_PLAN=table</c> (or <c>measure</c>) sets
/// the mode at start-up; <see cref="Mode"/> changes it for the process.
/// </summary>
/// <remarks>
/// A measured plan times every kernel that takes a layer's shape, weight format, batch size class and activation precision
/// on a slice of synthetic weights of that shape (one thread, a few milliseconds), once per process for each distinct key,
/// whichever layer asks first; concurrent first calls wait for one measurement. Every candidate computes the same contract
/// (within the tolerances the README states), so the choice changes speed, not meaning. With
/// <see cref="ActivationPrecision.Int8"/> the candidates include each float kernel on the int8-rounded activations, which
/// computes the contract's own oracle: where the integer kernels lose on this CPU, that route runs instead.
/// <code>
/// KernelPlanning.Mode = PlanMode.Table;            // reproducible kernel choice, e.g. for benchmarks of the table
/// Console.WriteLine(layer.Describe(8, ActivationPrecision.Int8));
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
            "table" => PlanMode.Table,
            _ => PlanMode.Measure,
        };
}
