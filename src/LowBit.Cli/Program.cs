using System.CommandLine;
using LowBit.Cli.Commands;
using Spectre.Console;

// Spectre assumes 80 columns when output is redirected; the tables need more.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;

// lowbit: quantize safetensors checkpoints to W8A16, inspect them, benchmark the kernel, or run the demo.
var root = new RootCommand("LowBit: int8 weights with 16-bit activations, in pure .NET. With no command, runs the demo.")
{
    QuantizeCommand.Create(),
    InspectCommand.Create(),
    BenchCommand.Create(),
    DemoCommand.Create(),
    SynthesizeCommand.Create(),
};
root.SetAction(_ => DemoCommand.Run(keepFiles: false));
return root.Parse(args).Invoke();
