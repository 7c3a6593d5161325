using System.Runtime.InteropServices;
using LowBit.IO;
using Spectre.Console;

namespace LowBit.Cli.Commands;

/// <summary>What every command shares: error reporting and size formatting.</summary>
internal static class Cli
{
    /// <summary>Exit code for a run cancelled by Ctrl-C (SIGINT), as shells report it: 128 + 2.</summary>
    public const int ExitInterrupted = 130;

    /// <summary>Exit code for a run stopped by SIGTERM: 128 + 15.</summary>
    public const int ExitTerminated = 143;

    /// <summary>
    /// Runs a command body; expected failures (missing or invalid files, bad arguments) become one line
    /// on stderr and exit code 1, never a stack trace. A cancelled run (Ctrl-C, SIGTERM) exits 130 or 143.
    /// </summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (OperationCanceledException) when (Signals.Received is { } signal)
        {
            Error(signal == PosixSignal.SIGTERM ? "terminated; nothing was written" : "interrupted; nothing was written");
            return signal == PosixSignal.SIGTERM ? ExitTerminated : ExitInterrupted;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or KeyNotFoundException
                                   or NotSupportedException)
        {
            Error(Message(e));
            return 1;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"lowbit: unexpected {e.GetType().Name}: {Text(Message(e))} (please report this)");
            return 2;
        }
    }

    /// <summary>Writes <c>lowbit: error: message</c> to stderr, on one line whatever the message holds.</summary>
    public static void Error(string message) => Console.Error.WriteLine($"lowbit: error: {Text(message)}");

    /// <summary>An exception's message without the " (Parameter 'x')" that names a library parameter the user never saw.</summary>
    public static string Message(Exception e) =>
        e is ArgumentException { ParamName: { } name } a ? a.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    /// <summary>
    /// Text from a file or the user, made safe for a terminal: control characters (ESC, BEL, NUL, newlines, the C1 range)
    /// and Unicode line and bidirectional controls are shown as escapes (\x1b, \n, \u202e), so a tensor name or metadata
    /// value can neither drive the terminal nor split a line.
    /// </summary>
    public static string Text(string value)
    {
        if (!value.Any(NeedsEscape)) return value;
        var builder = new System.Text.StringBuilder(value.Length + 16);
        foreach (char c in value)
        {
            if (!NeedsEscape(c)) builder.Append(c);
            else if (c == '\n') builder.Append("\\n");
            else if (c == '\r') builder.Append("\\r");
            else if (c == '\t') builder.Append("\\t");
            else if (c < 0x100) builder.Append($"\\x{(int)c:x2}");
            else builder.Append($"\\u{(int)c:x4}");
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c) || c is '\u2028' or '\u2029' or (>= '\u200e' and <= '\u200f') or (>= '\u202a' and <= '\u202e')
            or (>= '\u2066' and <= '\u2069');

    /// <summary><see cref="Text"/>, then escaped for Spectre markup.</summary>
    public static string Markup(string value) => Spectre.Console.Markup.Escape(Text(value));

    /// <summary>True when both stdout and stderr are a terminal: only then are progress bars drawn.</summary>
    public static bool IsInteractive => !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> under a spinner on a terminal, plainly otherwise.</summary>
    public static void WithStatus(string status, Action work)
    {
        if (IsInteractive) Spectre.Console.AnsiConsole.Status().Start(status, _ => work());
        else work();
    }

    /// <summary>
    /// Runs <paramref name="work"/> (given the progress sink to report to) under a progress bar over the tensors on a
    /// terminal; redirected output gets no progress lines (work gets null).
    /// </summary>
    public static T WithTensorProgress<T>(string title, Func<IProgress<CheckpointProgress>?, T> work)
    {
        if (!IsInteractive) return work(null);
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(title);
                result = work(new InlineProgress(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = p.Done < p.Total ? Markup(p.Tensor.Length <= 48 ? p.Tensor : "..." + p.Tensor[^45..]) : "Done";
                }));
            });
        return result;
    }

    private sealed class InlineProgress(Action<CheckpointProgress> report) : IProgress<CheckpointProgress>
    {
        public void Report(CheckpointProgress value) => report(value);
    }

    /// <summary>Throws the user-facing error for an input path that is missing or is a directory.</summary>
    public static void CheckInputFile(string path)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"'{path}' is a directory; give a .safetensors file.");
        if (!File.Exists(path)) throw new FileNotFoundException($"Input file '{path}' does not exist.", path);
    }

    /// <summary>Repeated timings in seconds: the median and the range.</summary>
    public readonly record struct Spread(double Median, double Min, double Max)
    {
        public static Spread Of(double[] seconds)
        {
            double[] sorted = [.. seconds.Order()];
            return new Spread(sorted[sorted.Length / 2], sorted[0], sorted[^1]);
        }
    }

    /// <summary>A spread as "1.23 ms (1.20 - 1.31)".</summary>
    public static string Duration(Spread s) => $"{s.Median * 1e3:0.00} ms ({s.Min * 1e3:0.00} - {s.Max * 1e3:0.00})";

    /// <summary>"1 more tensor", "2 more tensors": a count with its noun, singular or plural.</summary>
    public static string Count(long count, string singular, string? plural = null) =>
        $"{count:N0} {(count == 1 ? singular : plural ?? singular + "s")}";

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.00} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };

    /// <summary>A shape as Spectre markup-safe text: [[4096, 11008]] renders as [4096, 11008].</summary>
    public static string Shape(IReadOnlyList<long> shape) => Spectre.Console.Markup.Escape("[" + string.Join(", ", shape) + "]");

    public static string Snr(QuantizationError? error) => error is { } e ? $"{e.SignalToNoiseDb:0.0}" : "";

    public static bool IsFloat(SafeTensorDType dtype) => dtype is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;
}
