using System.CommandLine;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit inspect &lt;file&gt; [--all]</c>: tensors, dtypes, shapes, sizes and metadata.</summary>
internal static class InspectCommand
{
    /// <summary>Rows shown of each listing without <c>--all</c>: a table of 200,000 rows took a gigabyte and 13 s to draw.</summary>
    public const int DefaultRows = 50;

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A safetensors file." };
        var all = new Option<bool>("--all") { Description = $"List every tensor and metadata entry (default: the first {DefaultRows} of each, then totals)." };
        var command = new Command("inspect", "List the tensors (dtype, shape, size) and metadata of a safetensors file.") { file, all };
        command.SetAction(result => Cli.Guard(() =>
        {
            string path = result.GetValue(file)!;
            Cli.CheckInputFile(path);
            using SafeTensorsFile safetensors = SafeTensorsFile.Open(path);
            Print(safetensors, result.GetValue(all) ? int.MaxValue : DefaultRows);
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// Prints up to <paramref name="rows"/> tensors and metadata entries as tables; longer listings asked for in full are
    /// streamed as plain lines, one per entry, so memory stays at the parsed header whatever the count.
    /// </summary>
    public static void Print(SafeTensorsFile file, int rows)
    {
        string title = Cli.Markup(Path.GetFileName(file.Path));
        if (rows == int.MaxValue && file.Tensors.Count > DefaultRows)
        {
            foreach (SafeTensorInfo t in file.Tensors)
            {
                Console.Out.WriteLine($"{Cli.Text(t.Name)}\t{t.DType}\t[{string.Join(", ", t.Shape)}]\t{t.ElementCount}\t{t.ByteLength}");
            }
        }
        else
        {
            var table = new Table().Border(TableBorder.Rounded).Title(title);
            table.AddColumns("tensor", "dtype", "shape", "elements", "size");
            foreach (SafeTensorInfo t in file.Tensors.Take(rows))
            {
                table.AddRow(Cli.Markup(t.Name), t.DType.ToString(), Cli.Shape(t.Shape), t.ElementCount.ToString("N0"), Cli.Bytes(t.ByteLength));
            }

            AnsiConsole.Write(table);
            if (file.Tensors.Count > rows) AnsiConsole.MarkupLine($"... and {Cli.Count(file.Tensors.Count - rows, "more tensor")} (--all lists them).");
        }

        AnsiConsole.MarkupLine($"{file.Tensors.Count:N0} tensors, {Cli.Bytes(file.DataLength)} of data, header {Cli.Bytes(file.DataOffset)}.");
        if (file.Metadata.Count > 0)
        {
            var entries = file.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal);
            if (rows == int.MaxValue && file.Metadata.Count > DefaultRows)
            {
                foreach (var (key, value) in entries) Console.Out.WriteLine($"{Cli.Text(key)}\t{Cli.Text(value)}");
                return;
            }

            var metadata = new Table().Border(TableBorder.Rounded).Title("metadata").AddColumns("key", "value");
            foreach (var (key, value) in entries.Take(rows)) metadata.AddRow(Cli.Markup(key), Cli.Markup(value));
            AnsiConsole.Write(metadata);
            if (file.Metadata.Count > rows) AnsiConsole.MarkupLine($"... and {Cli.Count(file.Metadata.Count - rows, "more metadata entry", "more metadata entries")} (--all lists them).");
        }
    }
}
