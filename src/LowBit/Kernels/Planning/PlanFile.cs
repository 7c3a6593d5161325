using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace LowBit.Kernels;

/// <summary>
/// The text form of measured plans (FFTW's "wisdom"): what <see cref="KernelPlanning.Save"/> writes and
/// <see cref="KernelPlanning.Load"/> reads. Line-oriented, so that a person can read and diff it:
/// <code>
/// # LowBit kernel plans ...
/// lowbit-plans 1
/// machine lowbit 0.1.0; X64 AuthenticAMD "AMD EPYC" family 26 model 2; sse4.1 ssse3 fma avx2 avx512f avx512bw avx512dq avxvnni v128 v256 v512
/// plan Group4 768 1024 32 8 Int8 half+z8 int8act-rows16-512 int8act-rows16-512=41.2 int8act-vnni-256=55.0
/// plan Int8PerChannel 384 1536 1536 1 Int8 float int8-blocks:gemv-512 int8-blocks:gemv-512=3.1 int8act-512=3.9
/// </code>
/// A plan line is the layer's weight format, rows, columns and group size, the first batch size of its class, the
/// activation precision, how the layer keeps its group parameters (<see cref="GroupParameters"/>: <c>float</c> or
/// <c>half</c> scales, then <c>+z8</c> for one zero point 8 for all groups or <c>+offsets</c>), the chosen route, and
/// the timings it was chosen on (microseconds per call on the whole layer, one thread). A route is a kernel's name, or
/// <c>int8-blocks:</c> and a float kernel's name for a float kernel on dequantized int8 activations. Everything after a
/// <c>#</c> is a comment.
/// </summary>
internal static class PlanFile
{
    /// <summary>The first line that is not a comment.</summary>
    private const string Magic = "lowbit-plans 1";

    /// <summary>How the line naming the machine starts.</summary>
    private const string MachinePrefix = "machine ";

    /// <summary>The prefix of a route that runs a float kernel on the int8-rounded activations.</summary>
    private const string Dequantized = "int8-blocks:";

    /// <summary>
    /// This machine as plans depend on it: LowBit's version (its kernels and table), the CPU (vendor, name, family and
    /// model on x64), and the instruction sets .NET lets the kernels use here (so a process with <c>DOTNET_EnableAVX512=0</c>
    /// is another machine).
    /// </summary>
    public static string Machine { get; } = DescribeMachine();

    /// <summary>Writes <paramref name="measurements"/> in the plan-file form.</summary>
    public static void Write(TextWriter writer, IEnumerable<KernelPlanner.Measurement> measurements)
    {
        writer.WriteLine("# LowBit kernel plans, measured on the machine below (KernelPlanning.Save). KernelPlanning.Load takes them on the same");
        writer.WriteLine("# machine and LowBit version. A plan: weight format, rows, columns, group size, first batch of its class, activations,");
        writer.WriteLine("# group parameters (float or half scales, +z<zero point> or +offsets), the chosen route, then the timings it was chosen");
        writer.WriteLine("# on (microseconds per call on the whole layer, one thread).");
        writer.WriteLine(Magic);
        writer.WriteLine(MachinePrefix + Machine);
        foreach (KernelPlanner.Measurement m in measurements)
        {
            LayerShape s = m.Key.Shape;
            var line = new StringBuilder($"plan {s.Format} {s.OutFeatures} {s.InFeatures} {s.GroupSize} {m.Key.Batch} {m.Key.Activations} ");
            line.Append($"{Token(m.Key.Parameters)} {Token(m.Route)}");
            foreach (KernelPlanner.Timing t in m.Timings.Where(t => t.Microseconds > 0))
            {
                // Three decimals at most, never 0 (which reads as "not timed"): a tiny layer's call takes well under a microsecond.
                line.Append(CultureInfo.InvariantCulture, $" {Token(t.Route)}={Math.Max(t.Microseconds, 0.001):0.0##}");
            }

            writer.WriteLine(line);
        }
    }

    /// <summary>
    /// The plans of a plan file, or an empty list when it was written on another machine or LowBit version (its plans
    /// do not apply here). All lines are checked before any is returned.
    /// </summary>
    /// <exception cref="InvalidDataException">The text is not a plan file, or a line of it is not a plan this machine can run.</exception>
    public static List<KernelPlanner.Measurement> Read(TextReader reader, string source)
    {
        var plans = new List<KernelPlanner.Measurement>();
        bool started = false, sameMachine = false, machine = false;
        int number = 0;
        for (string? raw = reader.ReadLine(); raw is not null; raw = reader.ReadLine())
        {
            number++;
            string line = Content(raw);
            if (line.Length == 0) continue;
            if (!started)
            {
                if (line != Magic) throw new InvalidDataException($"{source} is not a LowBit plan file: its first line must be '{Magic}'.");
                started = true;
                continue;
            }

            if (MachineOf(line) is { } writtenOn)
            {
                if (machine) throw new InvalidDataException($"{source}, line {number}: a plan file has one 'machine' line.");
                machine = true;
                sameMachine = writtenOn == Machine;
                continue;
            }

            if (!line.StartsWith("plan ", StringComparison.Ordinal))
            {
                throw new InvalidDataException($"{source}, line {number}: expected 'machine ...' or 'plan ...', found '{Shorten(line)}'.");
            }

            if (!machine) throw new InvalidDataException($"{source}, line {number}: a plan before the 'machine' line it was measured on.");

            // Lines of another machine are not parsed: its kernels may not exist here.
            if (sameMachine) plans.Add(ParsePlan(line, source, number));
        }

        if (!started) throw new InvalidDataException($"{source} is not a LowBit plan file: it has no '{Magic}' line.");
        return sameMachine ? plans : [];
    }

    /// <summary>The machine a plan file's plans were measured on (its 'machine' line), or null when it has none.</summary>
    public static string? WrittenOn(string path) => File.ReadLines(path).Select(l => MachineOf(Content(l))).FirstOrDefault(m => m is not null);

    /// <summary>A line without its comment and the white space around it.</summary>
    private static string Content(string raw)
    {
        int hash = raw.IndexOf('#');
        return (hash >= 0 ? raw[..hash] : raw).Trim();
    }

    /// <summary>What a 'machine' line names, or null for any other line.</summary>
    private static string? MachineOf(string line) =>
        line.StartsWith(MachinePrefix, StringComparison.Ordinal) ? line[MachinePrefix.Length..].Trim() : null;

    private static KernelPlanner.Measurement ParsePlan(string line, string source, int number)
    {
        string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string where = $"{source}, line {number}";
        if (f.Length < 9) throw new InvalidDataException($"{where}: a plan has at least 9 fields, this one {f.Length}.");
        if (!Enum.TryParse(f[1], ignoreCase: false, out WeightFormat format) || !Enum.IsDefined(format))
        {
            throw new InvalidDataException($"{where}: '{f[1]}' is not a weight format ({string.Join(", ", Enum.GetNames<WeightFormat>())}).");
        }

        int rows = Positive(f[2], "rows"), columns = Positive(f[3], "columns"), group = Positive(f[4], "group size"), batch = Positive(f[5], "batch");
        if (columns % group != 0 || (format == WeightFormat.Int8PerChannel && group != columns))
        {
            throw new InvalidDataException($"{where}: group size {group} does not fit {columns} columns of {format}.");
        }

        int batchClass = Array.IndexOf(KernelPlanner.ClassStarts, batch);
        if (batchClass < 0)
        {
            throw new InvalidDataException($"{where}: batch {batch} does not start a batch class ({string.Join(", ", KernelPlanner.ClassStarts)}).");
        }

        if (!Enum.TryParse(f[6], ignoreCase: false, out ActivationPrecision activations) || !Enum.IsDefined(activations))
        {
            throw new InvalidDataException($"{where}: '{f[6]}' is not an activation precision (Float, Int8).");
        }

        var shape = new LayerShape(format, rows, columns, group);
        GroupParameters parameters = Parameters(f[7]);
        KernelRoute route = Route(f[8]);
        var timings = new List<KernelPlanner.Timing>();
        foreach (string timing in f.AsSpan(9))
        {
            int eq = timing.LastIndexOf('=');
            if (eq <= 0 || !double.TryParse(timing.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double us) || !(us > 0))
            {
                throw new InvalidDataException($"{where}: '{timing}' is not a timing (route=microseconds).");
            }

            timings.Add(new KernelPlanner.Timing(Route(timing[..eq]), us));
        }

        if (timings.Count == 0) timings.Add(new KernelPlanner.Timing(route, 0));
        var key = new KernelPlanner.Key(shape, batchClass, activations, parameters);
        return new KernelPlanner.Measurement(key, route, timings.ToArray(), 0, Loaded: true);

        int Positive(string text, string what) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0 ? value
                : throw new InvalidDataException($"{where}: the {what} must be a positive whole number, not '{text}'.");

        // "float", "half", then "+z<zero point>" or "+offsets" (never both: one zero point is kept only without offsets).
        GroupParameters Parameters(string token)
        {
            string[] parts = token.Split('+');
            bool half = parts[0] == "half", offsets = parts.Length == 2 && parts[1] == "offsets";
            byte zero = 0;
            bool one = parts.Length == 2 && parts[1].StartsWith('z')
                       && byte.TryParse(parts[1].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out zero);
            bool valid = (half || parts[0] == "float") && parts.Length <= 2 && (parts.Length == 1 || offsets || one);
            if (!valid || (format == WeightFormat.Int8PerChannel && token != "float") || (one && zero >= 1 << shape.Bits))
            {
                throw new InvalidDataException(
                    $"{where}: '{token}' is not the group parameters of {shape} (float or half, then +z<zero point> or +offsets).");
            }

            return new GroupParameters(offsets, half, one, zero);
        }

        // A route the layer can run here: a supported kernel of the right precision that takes the shape.
        KernelRoute Route(string token)
        {
            bool dequantizes = token.StartsWith(Dequantized, StringComparison.Ordinal);
            string name = dequantizes ? token[Dequantized.Length..] : token;
            MatMulKernel? kernel = KernelRegistry.Kernels.FirstOrDefault(k => k.Name == name);
            if (kernel is null) throw new InvalidDataException($"{where}: no kernel is named '{name}'.");
            ActivationPrecision runs = dequantizes ? ActivationPrecision.Float : activations;
            if (!kernel.IsSupported || !kernel.Takes(shape) || kernel.Activations != runs || (dequantizes && activations != ActivationPrecision.Int8))
            {
                throw new InvalidDataException($"{where}: route '{token}' cannot run {shape} with {activations} activations on this machine.");
            }

            return new KernelRoute(kernel, dequantizes);
        }
    }

    private static string Token(KernelRoute route) => route.DequantizesActivations ? Dequantized + route.Kernel.Name : route.Kernel.Name;

    private static string Token(GroupParameters p) =>
        (p.HalfScales ? "half" : "float") + (p.Offsets ? "+offsets" : p.OneZeroPoint ? $"+z{p.ZeroPoint}" : "");

    private static string Shorten(string line) => line.Length <= 60 ? line : line[..60] + "...";

    private static string DescribeMachine()
    {
        string version = typeof(PlanFile).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                         ?? typeof(PlanFile).Assembly.GetName().Version?.ToString() ?? "unknown";
        int plus = version.IndexOf('+');   // build metadata (the commit) does not change what the kernels do
        if (plus >= 0) version = version[..plus];
        var isa = new List<string>();
        if (Sse41.IsSupported) isa.Add("sse4.1");
        if (Ssse3.IsSupported) isa.Add("ssse3");
        if (Fma.IsSupported) isa.Add("fma");
        if (Avx2.IsSupported) isa.Add("avx2");
        if (Avx512F.IsSupported) isa.Add("avx512f");
        if (Avx512BW.IsSupported) isa.Add("avx512bw");
        if (Avx512DQ.IsSupported) isa.Add("avx512dq");
        if (AvxVnni.IsSupported) isa.Add("avxvnni");
        if (AdvSimd.Arm64.IsSupported) isa.Add("neon");
        if (Dp.IsSupported) isa.Add("dotprod");
        if (Vector128.IsHardwareAccelerated) isa.Add("v128");
        if (Vector256.IsHardwareAccelerated) isa.Add("v256");
        if (Vector512.IsHardwareAccelerated) isa.Add("v512");
        // One line, and no '#' (it would start a comment in the file).
        string machine = $"lowbit {version}; {RuntimeInformation.ProcessArchitecture}{Cpu()}; {(isa.Count == 0 ? "no SIMD" : string.Join(' ', isa))}";
        return machine.Replace('#', ' ').ReplaceLineEndings(" ");
    }

    /// <summary>" AuthenticAMD "AMD EPYC" family 26 model 2" from CPUID on x64; empty elsewhere.</summary>
    private static string Cpu()
    {
        if (!X86Base.IsSupported) return "";
        string vendor = KernelRegistry.Vendor();
        var brand = new StringBuilder();
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
        {
            for (int leaf = 0; leaf < 3; leaf++)
            {
                (int a, int b, int c, int d) = X86Base.CpuId(unchecked((int)0x80000002) + leaf, 0);
                brand.Append(Ascii(a, b, c, d));
            }
        }

        // Leaf 1 (every x64 CPU has it): the family and model, extended as the vendors define them.
        int eax = X86Base.CpuId(1, 0).Eax;
        int family = (eax >> 8) & 0xF, model = (eax >> 4) & 0xF;
        if (family == 0xF) family += (eax >> 20) & 0xFF;
        if (family is 0x6 or >= 0xF) model += ((eax >> 16) & 0xF) << 4;

        string name = brand.ToString().Trim('\0', ' ').Replace('"', ' ');   // a quote would end the name early
        return $" {vendor} \"{name}\" family {family} model {model}";

        static string Ascii(params int[] registers) =>
            Encoding.ASCII.GetString(MemoryMarshal.AsBytes(registers.AsSpan())).TrimEnd('\0');
    }
}
