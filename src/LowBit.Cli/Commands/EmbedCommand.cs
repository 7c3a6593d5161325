using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LowBit.Models;

namespace LowBit.Cli.Commands;

/// <summary>
/// <c>lowbit embed MODEL_FOLDER (--text TEXT ... | --file lines.txt)</c>: sentence embeddings from a BERT-family model
/// folder, written as raw float32 (<c>.f32</c>) or JSON, with a line of sentences per second on stderr.
/// </summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var folder = new Argument<string>("model")
        {
            Description = "A Hugging Face model folder: config.json, vocab.txt, model.safetensors (float " +
            "or quantized by lowbit quantize)."
        };
        var text = new Option<string[]>("--text") { Description = "A text to embed (repeat for more).", AllowMultipleArgumentsPerToken = false };
        var file = new Option<string?>("--file") { Description = "A UTF-8 file with one text per line." };
        var threads = new Option<int>("--threads") { Description = "Threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var activations = new Option<string>("--activations")
        {
            Description = "float: exact float32 activations; int8: rounded to int8 per block of 32 (faster on quantized layers).",
            DefaultValueFactory = _ => "float",
        };
        activations.AcceptOnlyFromAmong("float", "int8");
        var output = new Option<string?>("--output")
        {
            Description = "Write the embeddings to a .f32 file (raw float32, texts x dimension) or a " +
            ".json file; default: JSON on stdout."
        };
        var command = new Command("embed", "Sentence embeddings from a BERT-family model (all-MiniLM-L6-v2 and the like), with sentences/s.")
        {
            folder, text, file, threads, activations, output,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            string[] texts = result.GetValue(text) ?? [];
            string? lines = result.GetValue(file);
            if ((texts.Length == 0) == (lines is null)) throw new ArgumentException("Give the texts with --text (one or more) or --file, not both.");
            if (lines is not null)
            {
                Cli.CheckInputFile(lines);
                texts = File.ReadAllLines(lines, Encoding.UTF8);
            }

            int maxThreads = result.GetValue(threads);
            if (maxThreads < 0) throw new ArgumentException($"--threads must be 0 (all cores) or positive, not {maxThreads}.");
            string? outputPath = result.GetValue(output);
            if (outputPath is not null && !outputPath.EndsWith(".f32", StringComparison.OrdinalIgnoreCase) && !outputPath.EndsWith(".json",
                StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"--output must end in .f32 or .json, not '{outputPath}'.");
            }

            var options = new EncoderOptions
            {
                MaxThreads = maxThreads,
                Activations = result.GetValue(activations) == "int8" ? ActivationPrecision.Int8 : ActivationPrecision.Float,
            };
            return Run(result.GetValue(folder)!, texts, options, outputPath);
        }));
        return command;
    }

    private static int Run(string folder, string[] texts, EncoderOptions options, string? outputPath)
    {
        if (!Directory.Exists(folder)) throw new ArgumentException($"'{folder}' is not a model folder.");
        var load = Stopwatch.StartNew();
        using var model = EncoderModel.Open(folder, options);
        double loadSeconds = load.Elapsed.TotalSeconds;
        var embeddings = new float[texts.Length * model.Dimension];
        model.Embed(texts.Take(Math.Min(texts.Length, 4)).ToArray(), embeddings);  // warm-up: the timing below is steady-state
        var clock = Stopwatch.StartNew();
        model.Embed(texts, embeddings);
        double seconds = clock.Elapsed.TotalSeconds;
        if (outputPath is null)
        {
            WriteJson(Console.OpenStandardOutput(), texts, embeddings, model.Dimension);
        }
        else
        {
            string temporary = outputPath + ".tmp";
            using (FileStream stream = File.Create(temporary))
            {
                if (outputPath.EndsWith(".f32",
                    StringComparison.OrdinalIgnoreCase)) stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(embeddings.AsSpan()));
                else WriteJson(stream, texts, embeddings, model.Dimension);
            }

            File.Move(temporary, outputPath, overwrite: true);
        }

        Console.Error.WriteLine($"{Cli.Count(texts.Length, "text")} x {model.Dimension} in {seconds * 1e3:0.0} ms: " +
            $"{texts.Length / Math.Max(seconds, 1e-9):0.0} sentences/s " +
                                $"({options.Activations.ToString().ToLowerInvariant()} activations, " +
                                    $"{(options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads)} threads; " +
                                $"load {loadSeconds:0.00} s)");
        return 0;
    }

    private static void WriteJson(Stream stream, string[] texts, float[] embeddings, int dimension)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false });
        json.WriteStartArray();
        for (int t = 0; t < texts.Length; t++)
        {
            json.WriteStartObject();
            json.WriteString("text", texts[t]);
            json.WriteStartArray("embedding");
            for (int e = 0; e < dimension; e++) json.WriteNumberValue(embeddings[t * dimension + e]);
            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }
}
