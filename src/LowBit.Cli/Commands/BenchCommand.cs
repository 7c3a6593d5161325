using System.CommandLine;
using System.Diagnostics;
using LowBit.Internal;
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
        var command = new Command("bench", "Time the W8A16 kernel against its scalar reference (Stopwatch, a few seconds).")
        {
            shape, batch, threads, type,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            (int outFeatures, int inFeatures) = ParseShape(result.GetValue(shape)!);
            int rows = result.GetValue(batch);
            int maxThreads = result.GetValue(threads);
            if (rows <= 0) throw new ArgumentException($"--batch must be positive, not {rows}.");
            if (maxThreads < 0) throw new ArgumentException($"--threads must be 0 (all cores) or positive, not {maxThreads}.");
            return result.GetValue(type) switch
            {
                "f32" => Run<float>(outFeatures, inFeatures, rows, maxThreads),
                "f16" => Run<Half>(outFeatures, inFeatures, rows, maxThreads),
                _ => Run<BFloat16>(outFeatures, inFeatures, rows, maxThreads),
            };
        }));
        return command;
    }

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

    private static int Run<T>(int outFeatures, int inFeatures, int batch, int maxThreads)
    {
        var random = new Random(42);
        var input = new T[checked(batch * inFeatures)];
        for (int i = 0; i < input.Length; i++) input[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 2 - 1));
        var weights = new sbyte[(long)outFeatures * inFeatures];
        for (int i = 0; i < weights.Length; i++) weights[i] = (sbyte)random.Next(-127, 128);
        var scales = new T[outFeatures];
        var bias = new T[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            scales[o] = Elements<T>.FromSingle(0.001f + 0.01f * random.NextSingle());
            bias[o] = Elements<T>.FromSingle(random.NextSingle() - 0.5f);
        }

        var output = new T[checked(batch * outFeatures)];
        double scalar = Time(() => W8A16.MatMulScalar<T>(input, weights, scales, bias, output, inFeatures, outFeatures), seconds: 1.5);
        double single = Time(() => W8A16.MatMul<T>(input, weights, scales, bias, output, inFeatures, outFeatures, maxThreads: 1), seconds: 1.5);
        double threaded = Time(() => W8A16.MatMul<T>(input, weights, scales, bias, output, inFeatures, outFeatures, maxThreads), seconds: 1.5);

        double weightCount = (double)outFeatures * inFeatures, flops = 2 * weightCount * batch;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"W8A16 {outFeatures}x{inFeatures}, batch {batch}, {typeof(T).Name} activations")
            .AddColumns("kernel", "time / call", "G weights/s", "GFLOP/s", "vs scalar");
        void Row(string name, double seconds) => table.AddRow(name, $"{seconds * 1e3:0.000} ms", $"{weightCount / seconds / 1e9:0.00}",
            $"{flops / seconds / 1e9:0.0}", $"{scalar / seconds:0.0}x");
        Row("scalar reference", scalar);
        Row("SIMD, 1 thread", single);
        Row($"SIMD, {(maxThreads == 0 ? Environment.ProcessorCount : maxThreads)} threads", threaded);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, " +
                               $"Vector512 {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}, Vector256 {System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated}; " +
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
