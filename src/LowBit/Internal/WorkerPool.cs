using System.Diagnostics;

namespace LowBit.Internal;

/// <summary>
/// A fixed set of background threads that split one job's chunks with the calling thread.
/// Lighter than <c>Parallel.For</c> for kernels: no delegate or closure per call (the job is a
/// function pointer and a pointer to the caller's stack state), so a call allocates nothing.
/// One job runs at a time; a caller that finds the pool busy runs its job alone, so concurrent
/// callers never wait on each other and never deadlock. Each thread starts on a contiguous share
/// of the chunks and, when done, takes what is left of the others' shares.
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
    private static int s_threads;
    private static int s_nextThread;
    private static int s_pending;

    // Per thread of a job, the next chunk of its share (one cache line each: the counters are written by different cores).
    // Contiguous shares: chunks dealt out in turn had each core stream every other chunk, and two cores then read 10-20%
    // fewer weights per second from DRAM than with a half each (Zen 5, 4-bit GEMV of 65536x4096, in-process).
    private const int CounterStride = 16;
    private static readonly int[] s_next = new int[MaxThreads * CounterStride];

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
            s_threads = helpers + 1;
            s_nextThread = 0;
            for (int t = 0; t < s_threads; t++) s_next[t * CounterStride] = (int)((long)chunks * t / s_threads);
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

    /// <summary>Runs this thread's share of the chunks, then what is left of the other shares.</summary>
    private static void RunChunks()
    {
        int threads = s_threads, self = Interlocked.Increment(ref s_nextThread) - 1;
        for (int k = 0; k < threads; k++)
        {
            int share = (self + k) % threads, end = (int)((long)s_chunks * (share + 1) / threads), chunk;
            while ((chunk = Interlocked.Increment(ref s_next[share * CounterStride]) - 1) < end) s_body(s_state, chunk);
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
