using System.Diagnostics;

namespace LowBit.Internal;

/// <summary>
/// A fixed set of background threads that split one job's chunks with the calling thread.
/// Lighter than <c>Parallel.For</c> for kernels: no delegate or closure per call (the job is a
/// function pointer and a pointer to the caller's stack state), so a call allocates nothing.
/// One job runs at a time; a caller that finds the pool busy runs its job alone, so concurrent
/// callers never wait on each other and never deadlock.
/// </summary>
internal static unsafe class WorkerPool
{
    private static readonly object Gate = new();
    private static Thread[]? s_workers;
    private static SemaphoreSlim? s_start;
    private static readonly ManualResetEventSlim Done = new(false, spinCount: 2000);

    // The current job; written under Gate before workers are released.
    private static delegate*<void*, int, void> s_body;
    private static void* s_state;
    private static int s_chunks;
    private static int s_nextChunk;
    private static int s_pending;

    /// <summary>Threads a job may use: the machine's processors.</summary>
    public static int MaxThreads => Environment.ProcessorCount;

    /// <summary>
    /// Runs <paramref name="body"/>(<paramref name="state"/>, i) for every chunk i in [0, chunks), on up to
    /// <paramref name="maxThreads"/> threads including the caller. Returns when all chunks are done.
    /// </summary>
    public static void Run(delegate*<void*, int, void> body, void* state, int chunks, int maxThreads)
    {
        int helpers = Math.Min(Math.Min(maxThreads, MaxThreads) - 1, chunks - 1);
        if (helpers <= 0 || !Monitor.TryEnter(Gate))
        {
            for (int i = 0; i < chunks; i++) body(state, i);
            return;
        }

        try
        {
            EnsureStarted();
            s_body = body;
            s_state = state;
            s_chunks = chunks;
            s_nextChunk = 0;
            s_pending = helpers;
            Done.Reset();
            s_start!.Release(helpers);
            RunChunks();
            Done.Wait();
        }
        finally
        {
            s_body = null;
            s_state = null;
            Monitor.Exit(Gate);
        }
    }

    private static void RunChunks()
    {
        int chunk;
        while ((chunk = Interlocked.Increment(ref s_nextChunk) - 1) < s_chunks)
        {
            s_body(s_state, chunk);
        }
    }

    private static void EnsureStarted()
    {
        if (s_workers is not null) return;
        int count = MaxThreads - 1;
        s_start = new SemaphoreSlim(0);
        var workers = new Thread[count];
        for (int i = 0; i < count; i++)
        {
            workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"LowBit worker {i}" };
            workers[i].Start();
        }

        s_workers = workers;
    }

    private static void WorkerLoop()
    {
        Debug.Assert(s_start is not null);
        while (true)
        {
            s_start!.Wait();
            try
            {
                RunChunks();
            }
            finally
            {
                if (Interlocked.Decrement(ref s_pending) == 0) Done.Set();
            }
        }
    }
}
