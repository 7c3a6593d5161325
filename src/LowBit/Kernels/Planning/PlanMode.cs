namespace LowBit;

/// <summary>How a layer chooses the kernel for a call (see <see cref="KernelPlanning"/>).</summary>
public enum PlanMode
{
    /// <summary>The registry's batch ranges, the same on every run of one machine: deterministic (the default).</summary>
    Table,

    /// <summary>
    /// On the first call of a batch size class in a precision, each kernel that takes the layer is timed on this machine
    /// and the fastest kept for the process (opt-in: the timings run on slices of the layer, see <see cref="KernelPlanning"/>).
    /// </summary>
    Measure,
}
