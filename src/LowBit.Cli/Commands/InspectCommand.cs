using System.CommandLine;
using System.Globalization;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit inspect &lt;file&gt; [--all]</c>: tensors, types, shapes, sizes and metadata of a safetensors or GGUF file.</summary>
internal static class InspectCommand
{
    /// <summary>Rows shown of each listing without <c>--all</c>: a table of 200,000 rows took a gigabyte and 13 s to draw.</summary>
    public const int DefaultRows = 50;

    /// <summary>Characters of a metadata value shown in the table (chat templates run to thousands); <c>--all</c> prints them whole.</summary>
    private const int ValueColumnChars = 120;

    /// <summary>Elements of a metadata array shown (token lists run to hundreds of thousands).</summary>
    private const int ArrayPreview = 8;

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "A safetensors or GGUF file, or a GPTQ / AWQ checkpoint folder." };
        var all = new Option<bool>("--all")
        {
            Description = $"List every tensor and metadata entry (default: the first " +
            $"{DefaultRows} of each, then totals)."
        };
        var command = new Command("inspect",
            "List the tensors (type, shape, size) and metadata of a safetensors or GGUF file, or of a GPTQ / AWQ checkpoint.") { file, all };
        command.SetAction(result => Cli.Guard(() =>
        {
            string path = result.GetValue(file)!;
            int rows = result.GetValue(all) ? int.MaxValue : DefaultRows;
            if (GptqAwqCheckpoint.IsGptqOrAwq(path))
            {
                using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(path);
                Print(checkpoint, rows);
                return 0;
            }

            Cli.CheckInputFile(path);
            if (GgufFile.IsGguf(path))
            {
                using GgufFile gguf = GgufFile.Open(path);
                Print(gguf, rows);
            }
            else
            {
                using SafeTensorsFile safetensors = SafeTensorsFile.Open(path);
                Print(safetensors, rows);
            }

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
        PrintTensors(Path.GetFileName(file.Path), file.Tensors, rows, "dtype",
            t => (t.Name, t.DType.ToString(), t.Shape.ToArray(), t.ElementCount, t.ByteLength));
        AnsiConsole.MarkupLine($"{file.Tensors.Count:N0} tensors, {Cli.Bytes(file.DataLength)} of data, header {Cli.Bytes(file.DataOffset)}.");
        PrintMetadata(file.Metadata.Select(kv => (kv.Key, (object)kv.Value)).ToList(), rows);
    }

    /// <summary>Each shard as a safetensors file, then the quantization settings and what LowBit makes of them.</summary>
    public static void Print(GptqAwqCheckpoint checkpoint, int rows)
    {
        foreach (SafeTensorsFile file in checkpoint.Files) Print(file, rows);
        PrintMetadata(checkpoint.QuantizationConfig.Select(kv => (kv.Key, (object)kv.Value)).ToList(), rows);
        string group = checkpoint.GroupSize == -1 ? "one group per row" : $"group {checkpoint.GroupSize}";
        AnsiConsole.MarkupLine(
            $"{checkpoint.Method.ToString().ToUpperInvariant()} {checkpoint.Bits}-bit, {group}: " +
                $"{Cli.Count(checkpoint.Layers.Count, "quantized layer")} " +
            $"(LoadLowBitLinear by prefix; lowbit convert writes LowBit's format).");
    }

    /// <summary>As the safetensors listing; shapes row-major (ggml's <c>ne</c> reversed), metadata values with their GGUF types.</summary>
    public static void Print(GgufFile file, int rows)
    {
        PrintTensors(Path.GetFileName(file.Path), file.Tensors, rows, "ggml type",
            t => (t.Name, t.Type.ToString(), t.Shape, t.ElementCount, t.ByteLength));
        AnsiConsole.MarkupLine(
            $"{file.Tensors.Count:N0} tensors, {Cli.Bytes(file.DataLength)} of data from byte {file.DataOffset:N0}; GGUF version {file.Version}, " +
            $"alignment {file.Alignment}; shapes row-major ([[rows, columns]]: ggml's ne reversed).");
        PrintMetadata(file.Metadata.Select(kv => (kv.Key, kv.Value)).ToList(), rows);
        PrintDecoder(file);
    }

    /// <summary>A decoder's architecture and hyperparameters as LowBit reads them, or why LowBit would not run it.</summary>
    private static void PrintDecoder(GgufFile file)
    {
        if (!file.Metadata.ContainsKey("general.architecture") || !file.TryGetTensor("token_embd.weight", out _)) return;
        try
        {
            LowBit.Models.DecoderConfig c = LowBit.Models.DecoderConfig.FromGguf(file);
            AnsiConsole.MarkupLine(
                $"Model: {Cli.Markup(c.Architecture)}, {c.Layers} layers, hidden {c.HiddenSize}, feed-forward {c.FeedForwardSize}, " +
                $"{c.Heads} heads / {c.KvHeads} key-value heads of {c.HeadSize}, vocabulary {c.VocabularySize:N0}, context {c.ContextLength:N0}; " +
                $"RoPE {c.Rope.ToString().ToLowerInvariant()} over {c.RopeDimensions}, base {c.RopeBase:G}; RMSNorm eps {c.RmsEpsilon:G3}; " +
                $"{(c.TiedEmbeddings ? "tied embeddings" : "separate output head")}. lowbit generate runs it.");
        }
        catch (Exception e) when (e is NotSupportedException or InvalidDataException)
        {
            AnsiConsole.MarkupLine($"Model: {Cli.Markup(e.Message)}");
        }
    }

    private static void PrintTensors<T>(string fileName, IReadOnlyList<T> tensors, int rows, string typeColumn,
                                        Func<T, (string Name, string Type, long[] Shape, long Elements, long Bytes)> describe)
    {
        if (rows == int.MaxValue && tensors.Count > DefaultRows)
        {
            foreach (T tensor in tensors)
            {
                var t = describe(tensor);
                Console.Out.WriteLine($"{Cli.Text(t.Name)}\t{t.Type}\t[{string.Join(", ", t.Shape)}]\t{t.Elements}\t{t.Bytes}");
            }

            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title(Cli.Markup(fileName));
        table.AddColumns("tensor", typeColumn, "shape", "elements", "size");
        foreach (T tensor in tensors.Take(rows))
        {
            var t = describe(tensor);
            table.AddRow(Cli.Markup(t.Name), t.Type, Cli.Shape(t.Shape), t.Elements.ToString("N0"), Cli.Bytes(t.Bytes));
        }

        AnsiConsole.Write(table);
        if (tensors.Count > rows) AnsiConsole.MarkupLine($"... and {Cli.Count(tensors.Count - rows, "more tensor")} (--all lists them).");
    }

    private static void PrintMetadata(List<(string Key, object Value)> metadata, int rows)
    {
        if (metadata.Count == 0) return;
        metadata.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        if (rows == int.MaxValue && metadata.Count > DefaultRows)
        {
            foreach (var (key, value) in metadata) Console.Out.WriteLine($"{Cli.Text(key)}\t{Cli.Text(Format(value, whole: true))}");
            return;
        }

        var table = new Table().Border(TableBorder.Rounded).Title("metadata").AddColumns("key", "value");
        foreach (var (key, value) in metadata.Take(rows)) table.AddRow(Cli.Markup(key), Cli.Markup(Format(value, whole: rows == int.MaxValue)));
        AnsiConsole.Write(table);
        if (metadata.Count > rows) AnsiConsole.MarkupLine($"... and " +
            $"{Cli.Count(metadata.Count - rows, "more metadata entry", "more metadata entries")} (--all lists them).");
    }

    /// <summary>A metadata value as text: numbers invariant, arrays as their length and first elements, long strings cut unless whole.</summary>
    internal static string Format(object value, bool whole)
    {
        switch (value)
        {
            case string s:
                return whole || s.Length <= ValueColumnChars ? s : $"{s[..ValueColumnChars]}... ({s.Length:N0} characters)";
            case Array array:
                {
                    string kind = array.GetType().GetElementType() is { } e && e == typeof(string) ? "string" : array is Array[]? "array"
                        : array.GetType().GetElementType()!.Name.ToLowerInvariant();
                    IEnumerable<object?> shown = array.Cast<object?>().Take(whole ? int.MaxValue : ArrayPreview);
                    string items = string.Join(", ", shown.Select(item => item is null ? "" : Format(item, whole)));
                    string more = !whole && array.Length > ArrayPreview ? ", ..." : "";
                    return $"[{Cli.Count(array.Length, kind)}: {items}{more}]";
                }
            case bool b:
                return b ? "true" : "false";
            case IFormattable f:
                return f.ToString(null, CultureInfo.InvariantCulture);
            default:
                return value.ToString() ?? "";
        }
    }
}
