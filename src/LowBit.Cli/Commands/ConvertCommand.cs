using System.CommandLine;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit convert &lt;model.gguf | gptq-or-awq-folder&gt; &lt;output&gt;</c></summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input")
        {
            Description = "A GGUF file, or a GPTQ / AWQ checkpoint (its folder or .safetensors file, with " +
            "its quantization config beside it)."
        };
        var output = new Argument<string>("output") { Description = "Where to write the LowBit checkpoint (written atomically)." };
        var all = new Option<bool>("--all") { Description = $"Report every tensor (default: the first {InspectCommand.DefaultRows}, then totals)." };
        var command = new Command("convert",
            "Rewrite a quantized GGUF, GPTQ or AWQ model as a LowBit checkpoint, losslessly (layers keep their codes, scales, zero points and " +
                "offsets).")
        {
            input, output, all,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            CheckpointConversionReport report = Run(result.GetValue(input)!, result.GetValue(output)!);
            PrintReport(report, result.GetValue(all) ? int.MaxValue : InspectCommand.DefaultRows);
            return 0;
        }));
        return command;
    }

    /// <summary>Converts with a progress bar over the tensors on a terminal (the converter checks the input); Ctrl-C and SIGTERM stop it with nothing
    /// written.</summary>
    public static CheckpointConversionReport Run(string input, string output)
    {
        Signals.Listen();
        return Cli.WithTensorProgress("Converting", progress => CheckpointConverter.Convert(input, output, progress, Signals.Token));
    }

    /// <summary>The per-tensor table (its first <paramref name="rows"/> rows) and the totals.</summary>
    public static void PrintReport(CheckpointConversionReport report, int rows = InspectCommand.DefaultRows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"Converted from {report.Source.ToUpperInvariant()}");
        table.AddColumns("tensor", "source type", "shape", "action", "before", "after");
        foreach (ConvertedTensor t in report.Tensors.Take(rows))
        {
            table.AddRow(Cli.Markup(t.Name), Cli.Markup(t.SourceType), Cli.Shape(t.Shape), t.Layer ? $"[green]{t.Bits}-bit layer[/]" : "copy",
                         Cli.Bytes(t.InputBytes), Cli.Bytes(t.OutputBytes));
        }

        AnsiConsole.Write(table);
        if (report.Tensors.Count > rows) AnsiConsole.MarkupLine($"... and {Cli.Count(report.Tensors.Count - rows, "more tensor")} (--all reports " +
            $"them).");
        int layers = report.Tensors.Count(t => t.Layer);
        AnsiConsole.MarkupLine(
            $"{Cli.Count(layers, "layer")} converted, {Cli.Count(report.Tensors.Count - layers, "tensor")} copied; {Cli.Bytes(report.InputBytes)} " +
                $"-> {Cli.Bytes(report.OutputBytes)} " +
            $"in {report.Elapsed.TotalSeconds:0.00} s.");
    }
}
