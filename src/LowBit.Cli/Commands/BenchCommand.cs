using System.CommandLine;
using System.Diagnostics;
using LowBit.Internal;
using LowBit.Kernels;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary>
/// <c>lowbit bench</c>: a quick Stopwatch comparison of the scalar reference and the SIMD W8A16 kernel
/// on one shape. Seconds, not minutes; BenchmarkDotNet (benchmarks/) gives the rigorous figures.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = "Weight shape OUTxIN.", DefaultValueFactory = _ => "4096x4096" };
        var batch = new Option<int>("--batch") { Description = "Input rows.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Threads for the SIMD kernel (0 = all cores).", DefaultValueFactory = _ => 0 };
        var type = new Option<string>("--type") { Description = "Activation type: f32, f16 or bf16.", DefaultValueFactory = _ => "bf16" };
        type.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var bits = new Option<int>("--bits")
        {
            Description = "Weight bits: 8 (W8A16, one scale per row), 4 or 2 (group-wise), 16 or 32 (dense f16 / f32 weights).",
            DefaultValueFactory = _ => 8,
        };
        bits.AcceptOnlyFromAmong("8", "4", "2", "16", "32");
        var groupSize = new Option<int?>("--group-size") { Description = "Weights per group for --bits 4 (default 64) or 2 (default 32)." };
        var activations = new Option<string>("--activations")
        {
            Description = "float: exact float32 activations; int8: quantized per block of 32, integer dot products.",
            DefaultValueFactory = _ => "float",
        };
        activations.AcceptOnlyFromAmong("float", "int8");
        var command = new Command("bench", "Time a layer's kernels against the scalar reference (Stopwatch, a few seconds).")
        {
            shape, batch, threads, type, bits, groupSize, activations,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            (int outFeatures, int inFeatures) = ParseShape(result.GetValue(shape)!);
            int rows = result.GetValue(batch);
            int maxThreads = result.GetValue(threads);
            int weightBits = result.GetValue(bits);
            int group = result.GetValue(groupSize) ?? (weightBits == 2 ? 32 : 64);
            if (rows <= 0) throw new ArgumentException($"--batch must be positive, not {rows}.");
            if ((long)rows * Math.Max(inFeatures,
                outFeatures) > int.MaxValue) throw new ArgumentException($"--batch {rows} is too large for shape {outFeatures}x{inFeatures}.");
            if (maxThreads < 0) throw new ArgumentException($"--threads must be 0 (all cores) or positive, not {maxThreads}.");
            if (weightBits is 8 or 16 or 32
                && result.GetValue(groupSize) is not null) throw new ArgumentException("--group-size applies to --bits 4 or 2 only.");
            if (weightBits is 4 or 2 && (group <= 0 || group % 8 != 0 || inFeatures % group != 0))
            {
                throw new ArgumentException($"--group-size must be a positive multiple of 8 that divides the {inFeatures} columns, not {group}.");
            }

            var options = new Options(outFeatures, inFeatures, rows, maxThreads, weightBits, group,
                result.GetValue(activations) == "int8" ? ActivationPrecision.Int8 : ActivationPrecision.Float);
            return result.GetValue(type) switch
            {
                "f32" => Run<float>(options),
                "f16" => Run<Half>(options),
                _ => Run<BFloat16>(options),
            };
        }));
        return command;
    }

    private sealed record Options(int OutFeatures, int InFeatures, int Batch, int MaxThreads, int Bits, int GroupSize,
                                  ActivationPrecision Activations);

    public static (int Out, int In) ParseShape(string text)
    {
        string[] parts = text.Split('x', 'X');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int o) || !int.TryParse(parts[1], out int i) || o <= 0 || i <= 0)
        {
            throw new ArgumentException($"--shape must look like 4096x11008 (OUTxIN), not '{text}'.");
        }

        if ((long)o * i > int.MaxValue) throw new ArgumentException($"--shape {text} has more than {int.MaxValue} weights.");
        return (o, i);
    }

    private static int Run<T>(Options o)
    {
        var random = new Random(42);
        var input = new T[o.Batch * o.InFeatures];
        for (int i = 0; i < input.Length; i++) input[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 2 - 1));
        var weights = new T[(long)o.OutFeatures * o.InFeatures];
        for (long i = 0; i < weights.LongLength; i++) weights[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 0.1 - 0.05));
        var bias = new T[o.OutFeatures];
        for (int i = 0; i < bias.Length; i++) bias[i] = Elements<T>.FromSingle(random.NextSingle() - 0.5f);
        var output = new T[o.Batch * o.OutFeatures];

        float[] floats = new float[weights.Length];
        Elements<T>.ToSingle(weights, floats);
        ILinearLayer<T> layer = o.Bits switch
        {
            8 => W8A16Linear<T>.FromWeights(weights, o.OutFeatures, o.InFeatures, bias),
            32 => DenseLinear<T>.FromWeights(floats, o.OutFeatures, o.InFeatures, bias),
            16 => DenseLinear<T>.FromHalf(floats.Select(v => (Half)v).ToArray(), o.OutFeatures, o.InFeatures, bias),
            _ => LowBitLinear<T>.FromWeights(weights, o.OutFeatures, o.InFeatures, o.Bits, o.GroupSize, bias),
        };
        string title = o.Bits switch { 8 => "W8A16", 32 => "dense f32", 16 => "dense f16", _ => $"{o.Bits}-bit group {o.GroupSize}" };
        string kernel = layer.Describe(o.Batch, o.Activations);
        Action scalar = () => ((IReferenceLayer<T>)layer).ForwardReference(input, output, o.Activations);
        Action<int> simd = threads => layer.Forward(input, output, threads, o.Activations);

        int allThreads = o.MaxThreads == 0 ? Environment.ProcessorCount : o.MaxThreads;
        double scalarSeconds = Time(scalar, seconds: 1.5);
        double single = Time(() => simd(1), seconds: 1.5);
        double threaded = Time(() => simd(o.MaxThreads), seconds: 1.5);

        double weightCount = (double)o.OutFeatures * o.InFeatures, flops = 2 * weightCount * o.Batch;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"{title} {o.OutFeatures}x{o.InFeatures}, batch {o.Batch}, {typeof(T).Name} inputs, " +
                $"{o.Activations.ToString().ToLowerInvariant()} activations")
            .AddColumns("kernel", "time / call", "G weights/s", "GFLOP/s", "vs scalar");
        void Row(string name, double seconds) => table.AddRow(name, $"{seconds * 1e3:0.000} ms", $"{weightCount / seconds / 1e9:0.00}",
            $"{flops / seconds / 1e9:0.0}", $"{scalarSeconds / seconds:0.0}x");
        Row("scalar reference", scalarSeconds);
        Row($"{kernel}, 1 thread", single);
        Row($"{kernel}, {allThreads} {(allThreads == 1 ? "thread" : "threads")}", threaded);
        AnsiConsole.Write(table);
        // Measured plans (LOWBIT_PLAN=measure) of exactly this layer's shape; dense layers have none.
        LayerShape? planned = o.Bits switch
        {
            8 => LayerShape.Int8(o.OutFeatures, o.InFeatures),
            4 or 2 => LayerShape.Grouped(o.Bits, o.OutFeatures, o.InFeatures, o.GroupSize),
            _ => null,
        };
        // (A layer with compact group parameters shows them after the shape: "Group4 4096x4096 group 32 (Half scales), batch 1".)
        foreach (string line in KernelPlanning.Measurements.Where(l => planned is { } s && (l.StartsWith($"{s}, batch ", StringComparison.Ordinal)
                                                                                             || l.StartsWith($"{s} (", StringComparison.Ordinal))))
        {
            AnsiConsole.MarkupLine($"[grey]plan: {Cli.Markup(line)}[/]");
        }

        AnsiConsole.MarkupLine($"[grey]{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, " +
                               $"Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, Vector256 " +
                                   $"{System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}; " +
                               "Stopwatch best-of-runs, for rigorous figures use benchmarks/.[/]");
        return 0;
    }

    /// <summary>Best time of repeated calls within a time budget, after a warm-up of a fifth of it (so the JIT has tiered up).</summary>
    public static double Time(Action action, double seconds)
    {
        var warmup = Stopwatch.StartNew();
        for (int calls = 0; calls < 3 || warmup.Elapsed.TotalSeconds < seconds / 5; calls++) action();
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        do
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        while (total.Elapsed.TotalSeconds < seconds);
        return best;
    }
}
