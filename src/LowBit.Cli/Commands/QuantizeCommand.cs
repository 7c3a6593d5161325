using System.CommandLine;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit quantize &lt;input&gt; &lt;output&gt; [--exclude REGEX]...</c></summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "The safetensors checkpoint to quantize." };
        var output = new Argument<string>("output") { Description = "Where to write the W8A16 checkpoint (written atomically)." };
        var exclude = new Option<string[]>("--exclude")
        {
            Description = "Regular expression; matching .weight tensors are copied, not quantized (repeatable).",
            DefaultValueFactory = _ => [],
        };
        var bits = new Option<int>("--bits")
        {
            Description = "8: int8 with per-row scales (W8A16, default); 4 or 2: group-wise asymmetric, packed (.packed_weights, .scales, " +
                ".zero_points).",
            DefaultValueFactory = _ => 8,
        };
        bits.AcceptOnlyFromAmong("8", "4", "2");
        var groupSize = new Option<int?>("--group-size")
        {
            Description = "Weights per scale and zero point for --bits 4 or 2 (a multiple of 8; default 64 for 4 bits, 32 for 2 bits).",
        };
        var all = new Option<bool>("--all") { Description = $"Report every tensor (default: the first {InspectCommand.DefaultRows}, then totals)." };
        var command = new Command("quantize", "Quantize every linear layer (2-D .weight tensor) of a checkpoint: int8 per row, or 4/2-bit per group.")
        {
            input, output, exclude, bits, groupSize, all,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            int? group = result.GetValue(groupSize);
            if (result.GetValue(bits) == 8 && group is not null)
            {
                throw new ArgumentException("--group-size applies to --bits 4 or 2 only (8 bits have one scale per row).");
            }

            var options = new CheckpointQuantizerOptions
            {
                Exclude = result.GetValue(exclude) ?? [],
                Bits = result.GetValue(bits),
                GroupSize = group ?? 0,
            };
            CheckpointQuantizationReport report = Run(result.GetValue(input)!, result.GetValue(output)!, options);
            PrintReport(report, result.GetValue(all) ? int.MaxValue : InspectCommand.DefaultRows);
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// Quantizes with a progress bar over the tensors (only on a terminal: redirected output gets no progress lines).
    /// Ctrl-C and SIGTERM stop it between tensors with nothing written.
    /// </summary>
    public static CheckpointQuantizationReport Run(string input, string output, CheckpointQuantizerOptions options)
    {
        Cli.CheckInputFile(input);
        Signals.Listen();
        return Cli.WithTensorProgress("Quantizing", progress => CheckpointQuantizer.Quantize(input, output, options, progress, Signals.Token));
    }

    /// <summary>The per-tensor table (its first <paramref name="rows"/> rows) and the totals.</summary>
    public static void PrintReport(CheckpointQuantizationReport report, int rows = InspectCommand.DefaultRows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("Per-tensor quantization error");
        table.AddColumns("tensor", "dtype", "shape", "action", "mean |err|", "max |err|", "SNR dB", "before", "after");
        foreach (TensorQuantizationReport t in report.Tensors.Take(rows))
        {
            table.AddRow(
                Cli.Markup(t.Name), t.DType.ToString(), Cli.Shape(t.Shape), t.Quantized ? "[green]quantized[/]" : "copy",
                t.Error is { } e ? $"{e.MeanAbsoluteError:0.00e0}" : "", t.Error is { } m ? $"{m.MaxAbsoluteError:0.00e0}" : "",
                Cli.Snr(t.Error), Cli.Bytes(t.InputBytes), Cli.Bytes(t.OutputBytes));
        }

        AnsiConsole.Write(table);
        if (report.Tensors.Count > rows) AnsiConsole.MarkupLine($"... and {Cli.Count(report.Tensors.Count - rows, "more tensor")} (--all reports " +
            $"them).");
        int quantized = report.Tensors.Count(t => t.Quantized);
        AnsiConsole.MarkupLine(
            $"{quantized:N0} of {report.Tensors.Count:N0} tensors quantized; file {Cli.Bytes(report.InputBytes)} -> " +
                $"{Cli.Bytes(report.OutputBytes)} " +
            $"({report.OutputBytes * 100.0 / Math.Max(1, report.InputBytes):0.0}%) in {report.Elapsed.TotalSeconds:0.00} s.");
    }

}
