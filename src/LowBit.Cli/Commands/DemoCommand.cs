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
        var command = new Command("demo", "Build a synthetic BF16 transformer checkpoint, quantize it and compare every layer with the original.") { keep };
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
            AnsiConsole.MarkupLine($"[bold]1. A synthetic BF16 transformer[/]: {shape.Layers} blocks, hidden {shape.Hidden}, MLP {shape.Intermediate}, vocabulary {shape.Vocabulary}.");
            AnsiConsole.Status().Start("Generating weights...", _ => SyntheticCheckpoint.Write(original, shape));
            AnsiConsole.MarkupLine($"   wrote {Markup.Escape(original)} ({Cli.Bytes(new FileInfo(original).Length)})");

            AnsiConsole.MarkupLine("[bold]2. Quantize[/] every linear layer to int8 with per-row scales (embeddings excluded):");
            AnsiConsole.MarkupLine($"   [grey]lowbit quantize {Markup.Escape(original)} {Markup.Escape(quantized)} --exclude embed_tokens[/]");
            CheckpointQuantizationReport report = QuantizeCommand.Run(original, quantized, new CheckpointQuantizerOptions { Exclude = ["embed_tokens"] });
            QuantizeCommand.PrintReport(report);

            AnsiConsole.MarkupLine($"[bold]3. Forward[/] a random batch of {Batch} through every layer: W8A16 (int8 weights) versus the unquantized layer (dense fp32 weights, TensorPrimitives.Dot), one thread each.");
            LayerComparison int8 = CompareLayers(original, quantized);

            AnsiConsole.MarkupLine("[bold]4. Fewer bits[/]: the same checkpoint with group-wise 4-bit (group 64) and 2-bit (group 32) weights, packed.");
            var rows = new List<(string Name, CheckpointQuantizationReport Report, LayerComparison Layers)> { ("int8, per row", report, int8) };
            foreach (var (bits, groupSize) in new[] { (4, 64), (2, 32) })
            {
                string path = Path.Combine(folder, $"model.w{bits}a16.safetensors");
                CheckpointQuantizationReport lowBit = QuantizeCommand.Run(original, path,
                    new CheckpointQuantizerOptions { Exclude = ["embed_tokens"], Bits = bits, GroupSize = groupSize });
                rows.Add(($"{bits}-bit, group {groupSize}", lowBit, CompareLayers(original, path, print: false)));
            }

            var summary = new Table().Border(TableBorder.Rounded)
                .AddColumns("weights", "file", "mean SNR", "mean rel. output error", "forward, all layers", "vs dense fp32");
            foreach (var (name, r, layers) in rows)
            {
                double snr = r.Tensors.Where(t => t.Error is not null).Average(t => t.Error!.Value.SignalToNoiseDb);
                summary.AddRow(name, Cli.Bytes(r.OutputBytes), $"{snr:0.0} dB", $"{layers.MeanRelativeError:0.00%}",
                    $"{layers.QuantizedSeconds * 1e3:0.00} ms", $"{layers.DenseSeconds / layers.QuantizedSeconds:0.0}x");
            }

            summary.AddRow("BF16 original", Cli.Bytes(report.InputBytes), "", "", $"{int8.DenseSeconds * 1e3:0.00} ms (fp32)", "1.0x");
            AnsiConsole.Write(summary);
            if (keepFiles) AnsiConsole.MarkupLine($"Files kept in {Markup.Escape(folder)}.");
            return 0;
        }
        finally
        {
            if (!keepFiles) Directory.Delete(folder, recursive: true);
        }
    });

    private sealed record LayerComparison(double MeanRelativeError, double DenseSeconds, double QuantizedSeconds);

    private static LayerComparison CompareLayers(string originalPath, string quantizedPath, bool print = true)
    {
        using SafeTensorsFile original = SafeTensorsFile.Open(originalPath);
        using QuantizedCheckpoint checkpoint = QuantizedCheckpoint.Open(quantizedPath);
        bool lowBit = checkpoint.LinearLayers.Count == 0;
        IReadOnlyList<string> prefixes = lowBit ? checkpoint.LowBitLayers : checkpoint.LinearLayers;
        double relativeErrorSum = 0;
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("layer", "out x in", "rel. output error", "dense fp32", "W8A16", "speed-up", "weights fp32 -> int8");
        var random = new Random(7);
        WarmUpDense();
        double denseTotal = 0, quantizedTotal = 0;
        foreach (string prefix in prefixes)
        {
            SafeTensorInfo weightInfo = original.GetTensor(prefix + ".weight");
            int outFeatures = (int)weightInfo.Shape[0], inFeatures = (int)weightInfo.Shape[1];
            Action<BFloat16[], BFloat16[]> forward;
            if (lowBit)
            {
                LowBitLinear<BFloat16> layer = checkpoint.LoadLowBitLinear<BFloat16>(prefix);
                forward = (input, output) => layer.Forward(input, output, maxThreads: 1);
            }
            else
            {
                W8A16Linear<BFloat16> layer = checkpoint.LoadLinear<BFloat16>(prefix);
                forward = (input, output) => layer.Forward(input, output, maxThreads: 1);
            }

            float[] weights = new float[outFeatures * inFeatures];
            BFloat16.ConvertToSingle(original.GetSpan<BFloat16>(weightInfo.Name), weights);
            float[] bias = new float[outFeatures];
            if (original.Contains(prefix + ".bias")) BFloat16.ConvertToSingle(original.GetSpan<BFloat16>(prefix + ".bias"), bias);

            var x = new BFloat16[Batch * inFeatures];
            for (int i = 0; i < x.Length; i++) x[i] = (BFloat16)(float)SyntheticCheckpoint.Gaussian(random);
            float[] xFloat = new float[x.Length];
            BFloat16.ConvertToSingle(x, xFloat);

            var yQuantized = new BFloat16[Batch * outFeatures];
            var yDense = new float[Batch * outFeatures];
            double quantizedSeconds = BenchCommand.Time(() => forward(x, yQuantized), seconds: 0.1);
            double denseSeconds = BenchCommand.Time(() => DenseForward(xFloat, weights, bias, yDense, inFeatures, outFeatures), seconds: 0.1);

            double errorSquared = 0, referenceSquared = 0;
            for (int i = 0; i < yDense.Length; i++)
            {
                double d = (float)yQuantized[i] - yDense[i];
                errorSquared += d * d;
                referenceSquared += (double)yDense[i] * yDense[i];
            }

            denseTotal += denseSeconds;
            quantizedTotal += quantizedSeconds;
            relativeErrorSum += Math.Sqrt(errorSquared / referenceSquared);
            table.AddRow(Markup.Escape(prefix), $"{outFeatures} x {inFeatures}", $"{Math.Sqrt(errorSquared / referenceSquared):0.000%}",
                $"{denseSeconds * 1e6:0} us", $"{quantizedSeconds * 1e6:0} us", $"{denseSeconds / quantizedSeconds:0.0}x",
                $"{Cli.Bytes(weights.Length * 4L)} -> {Cli.Bytes(weights.Length)}");
        }

        if (print)
        {
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"All layers: dense fp32 {denseTotal * 1e3:0.00} ms, W8A16 {quantizedTotal * 1e3:0.00} ms per batch ({denseTotal / quantizedTotal:0.0}x), with a quarter of the weight memory.");
            AnsiConsole.MarkupLine("Relative error: ||y_w8a16 - y_fp32|| / ||y_fp32|| per layer, the W8A16 output rounded to BF16 as a BF16 model would.");
        }

        return new LayerComparison(relativeErrorSum / Math.Max(1, prefixes.Count), denseTotal, quantizedTotal);
    }

    /// <summary>Runs the dense baseline for a moment so TensorPrimitives is tiered up before it is timed (LowBit's kernels are fully optimized from the first call).</summary>
    private static void WarmUpDense()
    {
        float[] x = new float[Batch * 64], w = new float[64 * 64], b = new float[64], y = new float[Batch * 64];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 300) DenseForward(x, w, b, y, 64, 64);
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
