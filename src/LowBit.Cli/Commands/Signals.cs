using System.Runtime.InteropServices;

namespace LowBit.Cli.Commands;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM as a cancellation: a command that writes files listens, passes <see cref="Token"/> down,
/// and lets the writer remove its temp file before the process exits (<see cref="Cli.Guard"/> maps it to 130 or 143).
/// </summary>
internal static class Signals
{
    private static readonly CancellationTokenSource Source = new();
    private static PosixSignalRegistration? _interrupt, _terminate;
    private static volatile int _received;

    /// <summary>Cancelled by the first SIGINT or SIGTERM after <see cref="Listen"/>.</summary>
    public static CancellationToken Token => Source.Token;

    /// <summary>The signal that cancelled the run, if one did.</summary>
    public static PosixSignal? Received => _received == 0 ? null : (PosixSignal)_received;

    /// <summary>From now on, SIGINT and SIGTERM cancel <see cref="Token"/> instead of ending the process at once.</summary>
    public static void Listen()
    {
        _interrupt ??= PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        _terminate ??= PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
    }

    private static void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // the command exits by itself once the writer has cleaned up
        Interlocked.CompareExchange(ref _received, (int)context.Signal, 0);
        Source.Cancel();
    }
}
