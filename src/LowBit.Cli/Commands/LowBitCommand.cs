using System.CommandLine;
using System.CommandLine.Help;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary>The <c>lowbit</c> command line: its commands, and how a command line that does not parse is reported.</summary>
internal static class LowBitCommand
{
    /// <summary>The root command with every subcommand; with none, it runs the demo.</summary>
    public static Command Create()
    {
        // A plain Command, not RootCommand: RootCommand names itself after the assembly (LowBit.Cli), the tool is "lowbit".
        var root = new Command("lowbit", "LowBit: int8 and 4/2-bit weights with 16-bit activations, in pure .NET. With no command, runs the demo.")
        {
            new HelpOption(),
            new VersionOption(),
            QuantizeCommand.Create(),
            ConvertCommand.Create(),
            InspectCommand.Create(),
            GenerateCommand.Create(),
            EmbedCommand.Create(),
            BenchCommand.Create(),
            PlanCommand.Create(),
            DemoCommand.Create(),
            SynthesizeCommand.Create(),
        };
        root.SetAction(_ => DemoCommand.Run(keepFiles: false));
        return root;
    }

    /// <summary>
    /// Parses and runs. A command line that does not parse gives one <c>lowbit: error:</c> line and a usage hint on stderr,
    /// exit code 1; help goes to stdout only when asked for.
    /// </summary>
    public static int Run(string[] args)
    {
        // Spectre assumes 80 columns when output is redirected; the tables need more.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
        ParseResult parsed = Create().Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            // The parser's own messages may span lines ("Must be one of:\n\t'8'..."): one line, as every error here.
            Cli.Error(Readable(parsed.Errors[0].Message));
            Command command = parsed.CommandResult.Command;
            Console.Error.WriteLine($"Usage: see 'lowbit{(command.Parents.Any() ? " " + command.Name : "")} --help'.");
            return 1;
        }

        return parsed.Invoke();
    }

    /// <summary>
    /// The parser's message on one line (it spans lines for "Must be one of:"), with CLR type names
    /// (<c>System.Nullable`1[System.Int32]</c>) said as a user would.
    /// </summary>
    internal static string Readable(string message)
    {
        string line = string.Join(' ', message.Split((char[])['\n', '\r', '\t'],
                                                     StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return Regex.Replace(line, @"as expected type '(?:System\.Nullable`1\[)?System\.(\w+)\]?'", match => match.Groups[1].Value switch
        {
            "Int32" or "Int64" => "as a whole number",
            "Single" or "Double" => "as a number",
            "Boolean" => "as true or false",
            string other => $"as {other}",
        });
    }
}
