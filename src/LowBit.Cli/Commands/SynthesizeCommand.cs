using System.CommandLine;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary><c>lowbit synthesize &lt;output&gt;</c>: a synthetic BF16 transformer checkpoint of any size, to try <c>quantize</c> on.</summary>
internal static class SynthesizeCommand
{
    public static Command Create()
    {
        var output = new Argument<string>("output") { Description = "Where to write the checkpoint." };
        var hidden = new Option<int>("--hidden") { Description = "Hidden size.", DefaultValueFactory = _ => SyntheticCheckpoint.Small.Hidden };
        var intermediate = new Option<int>("--intermediate")
        {
            Description = "MLP size.",
            DefaultValueFactory = _ =>
            SyntheticCheckpoint.Small.Intermediate
        };
        var layers = new Option<int>("--layers") { Description = "Transformer blocks.", DefaultValueFactory = _ => SyntheticCheckpoint.Small.Layers };
        var vocabulary = new Option<int>("--vocab")
        {
            Description = "Vocabulary size.",
            DefaultValueFactory = _ =>
            SyntheticCheckpoint.Small.Vocabulary
        };
        var command = new Command("synthesize", "Write a synthetic BF16 transformer checkpoint (realistic weight statistics) to try quantize on.")
        {
            output, hidden, intermediate, layers, vocabulary,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            var shape = new SyntheticCheckpoint.Shape(result.GetValue(hidden), result.GetValue(intermediate), result.GetValue(layers),
                                                      result.GetValue(vocabulary));
            if (shape.Hidden <= 0 || shape.Intermediate <= 0 || shape.Layers < 0 || shape.Vocabulary <= 0)
            {
                throw new ArgumentException("--hidden, --intermediate and --vocab must be positive and --layers not negative.");
            }

            if ((long)shape.Vocabulary * shape.Hidden > int.MaxValue || (long)shape.Intermediate * shape.Hidden > int.MaxValue)
            {
                throw new ArgumentException("A tensor of that shape would exceed 2^31 elements.");
            }

            string path = result.GetValue(output)!;
            Cli.WithStatus("Generating weights...", () => SyntheticCheckpoint.Write(path, shape));
            AnsiConsole.MarkupLine($"Wrote {Cli.Markup(path)} ({Cli.Bytes(new FileInfo(path).Length)}).");
            return 0;
        }));
        return command;
    }
}
