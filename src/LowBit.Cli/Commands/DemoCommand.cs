using System.CommandLine;
using System.Numerics.Tensors;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary>
/// <c>lowbit demo</c> (also a bare <c>lowbit</c>): the whole workflow with no file at hand. Builds a
/// synthetic BF16 transformer checkpoint, quantizes it, then runs every quantized layer against the
/// unquantized one: output error and speed.
/// </summary>
internal static class DemoCommand
{
    private const int Batch = 8;

    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Keep the generated checkpoints instead of deleting them." };
        var command = new Command("demo",
                                  "Build a synthetic BF16 transformer checkpoint, quantize it and compare every layer with the original.") { keep };
        command.SetAction(result => Run(result.GetValue(keep)));
        return command;
    }

    public static int Run(bool keepFiles) => Cli.Guard(() =>
    {
        string folder = Path.Combine(Path.GetTempPath(), "lowbit-demo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            string original = Path.Combine(folder, "model.safetensors");
            string quantized = Path.Combine(folder, "model.w8a16.safetensors");
            SyntheticCheckpoint.Shape shape = SyntheticCheckpoint.Small;
            AnsiConsole.MarkupLine($"[bold]1. A synthetic BF16 transformer[/]: {shape.Layers} blocks, hidden {shape.Hidden}, MLP " +
                $"{shape.Intermediate}, vocabulary {shape.Vocabulary}.");
            Cli.WithStatus("Generating weights...", () => SyntheticCheckpoint.Write(original, shape));
            AnsiConsole.MarkupLine($"   wrote {Cli.Markup(original)} ({Cli.Bytes(new FileInfo(original).Length)})");

            AnsiConsole.MarkupLine("[bold]2. Quantize[/] every linear layer to int8 with per-row scales (embeddings excluded):");
            AnsiConsole.MarkupLine($"   [grey]lowbit quantize {Cli.Markup(original)} {Cli.Markup(quantized)} --exclude embed_tokens[/]");
            CheckpointQuantizationReport report = QuantizeCommand.Run(original, quantized,
                                                                      new CheckpointQuantizerOptions { Exclude = ["embed_tokens"] });
            QuantizeCommand.PrintReport(report, int.MaxValue);  // the demo's model is small: every tensor

            AnsiConsole.MarkupLine($"[bold]3. Forward[/] a random batch of {Batch} through every layer, one thread: the quantized layer with " +
                $"float32 activations (exact) " +
                                   "and with int8 activations (quantized per block of 32, integer dot products), against the unquantized layer " +
                                       "(dense fp32 weights, " +
                                   $"TensorPrimitives.Dot). Times are medians of {Rounds} rounds after a warm-up round.");
            var dense = new DenseLayers(original);
            LayerComparison int8 = CompareLayers(dense, quantized);

            AnsiConsole.MarkupLine("[bold]4. Fewer bits[/]: the same checkpoint with group-wise 4-bit (group 64) and 2-bit (group 32) weights, " +
                "packed.");
            var rows = new List<(string Name, CheckpointQuantizationReport Report, LayerComparison Layers)> { ("int8, per row", report, int8) };
            foreach (var (bits, groupSize) in new[] { (4, 64), (2, 32) })
            {
                string path = Path.Combine(folder, $"model.w{bits}a16.safetensors");
                CheckpointQuantizationReport lowBit = QuantizeCommand.Run(original, path,
                    new CheckpointQuantizerOptions { Exclude = ["embed_tokens"], Bits = bits, GroupSize = groupSize });
                rows.Add(($"{bits}-bit, group {groupSize}", lowBit, CompareLayers(dense, path, print: false)));
            }

            var summary = new Table().Border(TableBorder.Rounded)
                .AddColumns("weights", "file", "mean SNR", "output error, float act.", "output error, int8 act.", "all layers, float act.",
                            "all layers, int8 act.", "vs dense fp32");
            foreach (var (name, r, layers) in rows)
            {
                double snr = r.Tensors.Where(t => t.Error is not null).Average(t => t.Error!.Value.SignalToNoiseDb);
                summary.AddRow(name, Cli.Bytes(r.OutputBytes), $"{snr:0.0} dB", $"{layers.Float.MeanRelativeError:0.00%}",
                               $"{layers.Int8.MeanRelativeError:0.00%}",
                    Cli.Duration(layers.Float.Seconds), Cli.Duration(layers.Int8.Seconds),
                    $"{dense.Seconds.Median / layers.Float.Seconds.Median:0.0}x / {dense.Seconds.Median / layers.Int8.Seconds.Median:0.0}x");
            }

            summary.AddRow("BF16 original", Cli.Bytes(report.InputBytes), "", "", "", $"{Cli.Duration(dense.Seconds)} (dense fp32)", "", "1.0x");
            AnsiConsole.Write(summary);
            AnsiConsole.MarkupLine("[grey]Output error: ||y - y_fp32|| / ||y_fp32|| per layer against the unquantized layer, averaged; times: " +
                "median (min - max) over the rounds of the sum over all layers.[/]");
            if (keepFiles) AnsiConsole.MarkupLine($"Files kept in {Cli.Markup(folder)}.");
            return 0;
        }
        finally
        {
            if (!keepFiles) Directory.Delete(folder, recursive: true);
        }
    });

    /// <summary>How many timed rounds each layer gets (after one warm-up round): the medians then repeat within a few percent.</summary>
    private const int Rounds = 7;

    /// <summary>A layer set's figures in one activation mode: mean relative output error, and the per-round total time.</summary>
    private sealed record ModeFigures(double MeanRelativeError, Cli.Spread Seconds);

    private sealed record LayerComparison(ModeFigures Float, ModeFigures Int8);

    /// <summary>
    /// The unquantized layers of the original checkpoint (fp32 weights), each with a seeded input batch and its fp32 output:
    /// the one baseline every quantized checkpoint is compared with, timed once.
    /// </summary>
    private sealed class DenseLayers
    {
        public DenseLayers(string path)
        {
            using SafeTensorsFile original = SafeTensorsFile.Open(path);
            var random = new Random(7);
            foreach (SafeTensorInfo info in original.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Count == 2
                && !t.Name.Contains("embed_tokens")))
            {
                string prefix = info.Name[..^".weight".Length];
                int outFeatures = (int)info.Shape[0], inFeatures = (int)info.Shape[1];
                float[] weights = new float[outFeatures * inFeatures];
                BFloat16.ConvertToSingle(original.GetSpan<BFloat16>(info.Name), weights);
                float[] bias = new float[outFeatures];
                if (original.Contains(prefix + ".bias")) BFloat16.ConvertToSingle(original.GetSpan<BFloat16>(prefix + ".bias"), bias);
                var x = new BFloat16[Batch * inFeatures];
                for (int i = 0; i < x.Length; i++) x[i] = (BFloat16)(float)SyntheticCheckpoint.Gaussian(random);
                float[] xFloat = new float[x.Length];
                BFloat16.ConvertToSingle(x, xFloat);
                var y = new float[Batch * outFeatures];
                DenseForward(xFloat, weights, bias, y, inFeatures, outFeatures);
                Layers[prefix] = new Dense(outFeatures, inFeatures, x, y, () => DenseForward(xFloat, weights, bias, y, inFeatures, outFeatures));
            }

            Seconds = TimeRounds(Layers.Values.Select(l => l.Run).ToList());
        }

        public sealed record Dense(int OutFeatures, int InFeatures, BFloat16[] Input, float[] Output, Action Run);

        public Dictionary<string, Dense> Layers { get; } = [];

        public Cli.Spread Seconds { get; }
    }

    private static LayerComparison CompareLayers(DenseLayers dense, string quantizedPath, bool print = true)
    {
        using ICheckpoint checkpoint = Checkpoint.Open(quantizedPath);
        // The layers the dense model has as references (the checkpoint also lists the embedding it kept in BF16).
        IReadOnlyList<string> prefixes = checkpoint.Layers.Where(dense.Layers.ContainsKey).ToArray();
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("layer", "out x in", "error, float act.", "error, int8 act.", "dense fp32", "float act.", "int8 act.",
                        "weights fp32 -> int8");
        var runs = new Dictionary<ActivationPrecision, List<Action>> { [ActivationPrecision.Float] = [], [ActivationPrecision.Int8] = [] };
        var errors = new Dictionary<ActivationPrecision, double> { [ActivationPrecision.Float] = 0, [ActivationPrecision.Int8] = 0 };
        var perLayer = new List<(string Prefix, DenseLayers.Dense Dense, double FloatError, double Int8Error, Action Float, Action Int8)>();
        foreach (string prefix in prefixes)
        {
            DenseLayers.Dense reference = dense.Layers[prefix];
            var output = new BFloat16[reference.Output.Length];
            ILinearLayer<BFloat16> layer = checkpoint.LoadLayer<BFloat16>(prefix);
            Action<ActivationPrecision> forward = mode => layer.Forward(reference.Input, output, 1, mode);

            double floatError = RelativeError(ActivationPrecision.Float), int8Error = RelativeError(ActivationPrecision.Int8);
            errors[ActivationPrecision.Float] += floatError;
            errors[ActivationPrecision.Int8] += int8Error;
            runs[ActivationPrecision.Float].Add(() => forward(ActivationPrecision.Float));
            runs[ActivationPrecision.Int8].Add(() => forward(ActivationPrecision.Int8));
            perLayer.Add((prefix, reference, floatError, int8Error, () => forward(ActivationPrecision.Float), () =>
                forward(ActivationPrecision.Int8)));

            double RelativeError(ActivationPrecision mode)
            {
                forward(mode);
                double errorSquared = 0, referenceSquared = 0;
                for (int i = 0; i < output.Length; i++)
                {
                    double d = (float)output[i] - reference.Output[i];
                    errorSquared += d * d;
                    referenceSquared += (double)reference.Output[i] * reference.Output[i];
                }

                return Math.Sqrt(errorSquared / referenceSquared);
            }
        }

        Cli.Spread floatSeconds = TimeRounds(runs[ActivationPrecision.Float]), int8Seconds = TimeRounds(runs[ActivationPrecision.Int8]);
        if (print)
        {
            foreach (var (prefix, reference, floatError, int8Error, runFloat, runInt8) in perLayer)
            {
                double d = TimeRounds([reference.Run]).Median, f = TimeRounds([runFloat]).Median, q = TimeRounds([runInt8]).Median;
                table.AddRow(Cli.Markup(prefix), $"{reference.OutFeatures} x {reference.InFeatures}", $"{floatError:0.000%}", $"{int8Error:0.000%}",
                    $"{d * 1e6:0} us", $"{f * 1e6:0} us ({d / f:0.0}x)", $"{q * 1e6:0} us ({d / q:0.0}x)",
                    $"{Cli.Bytes(reference.OutFeatures * reference.InFeatures * 4L)} -> {Cli.Bytes(reference.OutFeatures * reference.InFeatures)}");
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"All layers: dense fp32 {Cli.Duration(dense.Seconds)}, W8A16 {Cli.Duration(floatSeconds)} with float " +
                $"activations " +
                                   $"({dense.Seconds.Median / floatSeconds.Median:0.0}x), {Cli.Duration(int8Seconds)} with int8 activations " +
                                   $"({dense.Seconds.Median / int8Seconds.Median:0.0}x), with a quarter of the weight memory.");
            AnsiConsole.MarkupLine("Error: ||y - y_fp32|| / ||y_fp32|| per layer, the quantized layer's output rounded to BF16 as a BF16 model " +
                "would.");
        }

        int count = Math.Max(1, prefixes.Count);
        return new LayerComparison(new ModeFigures(errors[ActivationPrecision.Float] / count, floatSeconds),
                                   new ModeFigures(errors[ActivationPrecision.Int8] / count, int8Seconds));
    }

    /// <summary>
    /// Runs every action once per round, <see cref="Rounds"/> rounds after a warm-up round, and returns the spread of the
    /// rounds' totals. Each action runs for at least a millisecond per round (repeated calls), so timer resolution does not count.
    /// </summary>
    private static Cli.Spread TimeRounds(IReadOnlyList<Action> actions)
    {
        var repeats = new int[actions.Count];
        for (int i = 0; i < actions.Count; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            int calls = 0;
            do
            {
                actions[i]();
                calls++;
            }
            while (System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds < 1 || calls < 3);
            repeats[i] = calls;
        }

        var totals = new double[Rounds];
        for (int round = -1; round < Rounds; round++)
        {
            double total = 0;
            for (int i = 0; i < actions.Count; i++)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                for (int k = 0; k < repeats[i]; k++) actions[i]();
                total += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds / repeats[i];
            }

            if (round >= 0) totals[round] = total;
        }

        return Cli.Spread.Of(totals);
    }

    /// <summary>y = x @ W^T + b with fp32 weights: the unquantized layer, vectorized by TensorPrimitives.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void DenseForward(float[] x, float[] weights, float[] bias, float[] y, int inFeatures, int outFeatures)
    {
        int batch = x.Length / inFeatures;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> row = x.AsSpan(b * inFeatures, inFeatures);
            for (int o = 0; o < outFeatures; o++)
            {
                y[b * outFeatures + o] = TensorPrimitives.Dot(row, weights.AsSpan(o * inFeatures, inFeatures)) + bias[o];
            }
        }
    }
}
