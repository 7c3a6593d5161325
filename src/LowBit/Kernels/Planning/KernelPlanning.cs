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

    /// <summary>The measurements this process has made (or loaded), one line each: shape, batch class, precision, chosen route, timings.</summary>
    public static IReadOnlyList<string> Measurements => KernelPlanner.Describe();

    /// <summary>
    /// This machine as a plan file records it: LowBit's version, the CPU, and the instruction sets .NET enables here.
    /// <see cref="Load"/> takes only files written where this is the same.
    /// </summary>
    public static string Machine => PlanFile.Machine;

    /// <summary>
    /// Writes every plan this process has measured (or loaded) to <paramref name="path"/>, a text file of one plan per
    /// line, for <see cref="Load"/> to take in a later process on this machine (FFTW's wisdom): planning then costs nothing
    /// at start-up, and every run makes the same choices. The file is replaced whole, or left as it was on an error.
    /// </summary>
    /// <returns>How many plans were written.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="IOException">The file cannot be written (its folder is missing, or the path is a folder).</exception>
    /// <example>
    /// <code>
    /// KernelPlanning.Mode = PlanMode.Measure;
    /// model.Forward(...);                       // first calls of each layer shape and batch class measure
    /// KernelPlanning.Save("lowbit-plans.txt");  // next time: KernelPlanning.Load("lowbit-plans.txt")
    /// </code>
    /// </example>
    public static int Save(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        KernelPlanner.Measurement[] plans = KernelPlanner.Measurements();
        // A temporary file of its own beside the target (saves from two threads or processes never share one), then one rename.
        string full = Path.GetFullPath(path), temporary = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var writer = new StreamWriter(temporary, append: false, new System.Text.UTF8Encoding(false)))
            {
                PlanFile.Write(writer, plans);
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }

        return plans.Length;
    }

    /// <summary>
    /// Takes the plans of a file <see cref="Save"/> wrote, for the layer shapes this process has not measured yet (its own
    /// measurements stay). Layers use them in <see cref="PlanMode.Measure"/>, instead of timing: set <see cref="Mode"/>
    /// too. A file written on another machine, with other instruction sets enabled or by another LowBit version
    /// (<see cref="Machine"/> differs) gives nothing: its plans do not apply here, and those layers are measured as usual.
    /// </summary>
    /// <returns>How many plans were taken: 0 for a file of another machine.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null, empty or white space.</exception>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The file is not a plan file, or names a route that cannot run its layer here;
    /// nothing is taken then.</exception>
    public static int Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var reader = new StreamReader(path);
        return KernelPlanner.Take(PlanFile.Read(reader, Path.GetFileName(path)));
    }

    private static PlanMode ModeFromEnvironment() =>
        Environment.GetEnvironmentVariable("LOWBIT_PLAN")?.Trim().ToLowerInvariant() switch
        {
            "measure" => PlanMode.Measure,
            _ => PlanMode.Table,
        };
}
