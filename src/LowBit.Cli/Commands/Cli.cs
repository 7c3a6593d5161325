using LowBit.IO;

namespace LowBit.Cli.Commands;

/// <summary>What every command shares: error reporting and size formatting.</summary>
internal static class Cli
{
    /// <summary>
    /// Runs a command body; expected failures (missing or invalid files, bad arguments) become one line
    /// on stderr and exit code 1, never a stack trace.
    /// </summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or KeyNotFoundException)
        {
            Console.Error.WriteLine($"lowbit: error: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"lowbit: unexpected {e.GetType().Name}: {e.Message} (please report this)");
            return 2;
        }
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
