using System.CommandLine;
using LowBit.IO;
using LowBit.Kernels;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary>
/// <c>lowbit plan &lt;model&gt;</c>: the kernel each distinct layer of a checkpoint runs at the given batch sizes, in both
/// activation precisions, and why: the planner's timings on this machine (<see cref="PlanMode.Measure"/>), or with
/// <c>--table</c> the table's choice (<see cref="PlanMode.Table"/>, what layers run by default).
/// </summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("model") { Description = "A GGUF file, a LowBit or safetensors checkpoint, or a GPTQ / AWQ folder." };
        var batches = new Option<string>("--batch")
        {
            Description = "Batch sizes to plan, comma-separated.",
            DefaultValueFactory = _ => "1,8,64",
        };
        var table = new Option<bool>("--table")
        {
            Description = "Show the built-in table's choices (what layers run by default) instead of measuring.",
        };
        var load = new Option<string>("--load")
        {
            Description = "Take the plans of a file --save wrote (on this machine) before planning: those shapes are not timed again.",
        };
        var save = new Option<string>("--save")
        {
            Description = "Write the plans to a file, for --load or KernelPlanning.Load in a later process on this machine.",
        };
        var command = new Command("plan", "Show which kernel each layer shape of a model runs on this machine, and why.")
        {
            file, batches, table, load, save,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            string path = result.GetValue(file)!;
            int[] sizes = ParseBatches(result.GetValue(batches)!);
            string? loadPath = result.GetValue(load), savePath = result.GetValue(save);
            bool tableMode = result.GetValue(table);
            if (tableMode && (loadPath is not null || savePath is not null))
            {
                throw new ArgumentException("--load and --save are for measured plans; the table plan (--table) needs no file.");
            }

            if (!Directory.Exists(path)) Cli.CheckInputFile(path);
            if (loadPath is not null && !File.Exists(loadPath))
            {
                throw new FileNotFoundException($"Plan file '{loadPath}' does not exist (lowbit plan MODEL --save FILE writes one).", loadPath);
            }

            KernelPlanning.Mode = tableMode ? PlanMode.Table : PlanMode.Measure;
            if (loadPath is not null) ReportLoad(loadPath, KernelPlanning.Load(loadPath));
            using ICheckpoint checkpoint = Checkpoint.Open(path);
            Print(checkpoint, sizes);
            if (savePath is not null)
            {
                int written = KernelPlanning.Save(savePath);
                AnsiConsole.MarkupLine($"Wrote {written} plan{(written == 1 ? "" : "s")} to {Cli.Markup(savePath)}.");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Says how many plans a file gave, and why none when it was written on another machine.</summary>
    private static void ReportLoad(string path, int taken)
    {
        AnsiConsole.MarkupLine($"Took {taken} plan{(taken == 1 ? "" : "s")} from {Cli.Markup(path)}.");
        string? written = PlanFile.WrittenOn(path);
        if (taken == 0 && written is not null && written != KernelPlanning.Machine)
        {
            AnsiConsole.MarkupLine($"[yellow]Its plans were measured on another machine or LowBit version; they do not apply here.[/]");
            AnsiConsole.MarkupLine($"[grey]  file: {Cli.Markup(written)}[/]");
            AnsiConsole.MarkupLine($"[grey]  here: {Cli.Markup(KernelPlanning.Machine)}[/]");
        }
    }

    /// <summary>Parses "1,8,64": positive whole numbers.</summary>
    internal static int[] ParseBatches(string text)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], out sizes[i]) || sizes[i] <= 0 || sizes[i] > 1 << 16)
            {
                throw new ArgumentException($"--batch must list batch sizes from 1 to 65536, like 1,8,64; '{parts[i]}' is not one.");
            }
        }

        if (sizes.Length == 0) throw new ArgumentException("--batch must list at least one batch size, like 1,8,64.");
        return sizes.Distinct().Order().ToArray();
    }

    private static void Print(ICheckpoint checkpoint, int[] batches)
    {
        // One layer per distinct format and shape: the plan is the same for every layer that shares them.
        var distinct = new List<(ILinearLayer<float> Layer, int Count)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        Cli.WithStatus($"Reading the layers of {Path.GetFileName(checkpoint.Path)}", () =>
        {
            foreach (string name in checkpoint.Layers)
            {
                ILinearLayer<float> layer = checkpoint.LoadLayer<float>(name);
                string key = $"{layer.Format} {layer.OutFeatures}x{layer.InFeatures}";
                if (index.TryGetValue(key, out int at)) distinct[at] = (distinct[at].Layer, distinct[at].Count + 1);
                else
                {
                    index[key] = distinct.Count;
                    distinct.Add((layer, 1));
                }
            }
        });

        if (distinct.Count == 0)
        {
            AnsiConsole.MarkupLine($"{Cli.Markup(Path.GetFileName(checkpoint.Path))} has no linear layers LowBit loads.");
            return;
        }

        string mode = KernelPlanning.Mode.ToString().ToLowerInvariant();
        var grid = new Table().Border(TableBorder.Rounded)
            .Title($"{Cli.Markup(Path.GetFileName(checkpoint.Path))}: kernels by layer shape ({mode} plan)")
            .AddColumns("weights", "out x in", "layers", "batch", "float activations", "int8 activations");
        Cli.WithStatus("Planning (timing each kernel that takes a shape, a few ms each)", () =>
        {
            foreach ((ILinearLayer<float> layer, int count) in distinct)
            {
                foreach (int batch in batches)
                {
                    string floats = layer.Describe(batch, ActivationPrecision.Float), int8 = layer.Describe(batch, ActivationPrecision.Int8);
                    grid.AddRow(Cli.Markup(layer.Format), $"{layer.OutFeatures}x{layer.InFeatures}", count.ToString(), batch.ToString(),
                                Cli.Markup(floats), Cli.Markup(int8));
                }
            }
        });
        AnsiConsole.Write(grid);
        if (KernelPlanning.Mode == PlanMode.Table)
        {
            AnsiConsole.MarkupLine("[grey]Table plan (the default): the registry's batch ranges (README, 'How the kernels work'). "
                                   + "Without --table each choice is timed here (LOWBIT_PLAN=measure makes layers use such plans).[/]");
            return;
        }

        AnsiConsole.MarkupLine("Why (one thread, estimated microseconds per call on the whole layer, fastest first):");
        foreach (string line in KernelPlanning.Measurements) AnsiConsole.MarkupLine($"  {Cli.Markup(line)}");
    }
}
