using System.CommandLine;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit inspect &lt;file&gt;</c>: tensors, dtypes, shapes, sizes and metadata.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A safetensors file." };
        var command = new Command("inspect", "List the tensors (dtype, shape, size) and metadata of a safetensors file.") { file };
        command.SetAction(result => Cli.Guard(() =>
        {
            string path = result.GetValue(file)!;
            if (!File.Exists(path)) throw new FileNotFoundException($"File '{path}' does not exist.", path);
            using SafeTensorsFile safetensors = SafeTensorsFile.Open(path);
            Print(safetensors);
            return 0;
        }));
        return command;
    }

    public static void Print(SafeTensorsFile file)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(Path.GetFileName(file.Path)));
        table.AddColumns("tensor", "dtype", "shape", "elements", "size");
        foreach (SafeTensorInfo t in file.Tensors)
        {
            table.AddRow(Markup.Escape(t.Name), t.DType.ToString(), Cli.Shape(t.Shape), t.ElementCount.ToString("N0"), Cli.Bytes(t.ByteLength));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{file.Tensors.Count} tensors, {Cli.Bytes(file.DataLength)} of data, header {Cli.Bytes(file.DataOffset)}.");
        if (file.Metadata.Count > 0)
        {
            var metadata = new Table().Border(TableBorder.Rounded).Title("metadata").AddColumns("key", "value");
            foreach (var (key, value) in file.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) metadata.AddRow(Markup.Escape(key), Markup.Escape(value));
            AnsiConsole.Write(metadata);
        }
    }
}
