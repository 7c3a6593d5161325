using LowBit.Internal;

namespace LowBit.Tests.Kernels;

/// <summary>
/// The worker pool runs every chunk of a job exactly once, whatever the split: each thread's contiguous share, and what a
/// thread that finishes early takes from the others' shares.
/// </summary>
[NonParallelizable]
public unsafe class WorkerPoolTests
{
    private static int[] s_runs = [];

    [Test]
    public void Run_RunsEveryChunkOnce([Values(1, 2, 3, 7, 100, 1001)] int chunks, [Values(1, 2, 8)] int maxThreads, [Values] bool uneven)
    {
        s_runs = new int[chunks];
        // Uneven: the first half of the chunks spins for a while, so a thread done with a later share takes from the first one.
        WorkerPool.Run(uneven ? &SlowFirstHalf : &Count, null, chunks, maxThreads);
        Assert.That(s_runs, Is.All.EqualTo(1), $"{chunks} chunks, up to {maxThreads} threads");
    }

    private static void Count(void* state, int chunk) => Interlocked.Increment(ref s_runs[chunk]);

    private static void SlowFirstHalf(void* state, int chunk)
    {
        if (chunk < s_runs.Length / 2) Thread.SpinWait(20_000);
        Interlocked.Increment(ref s_runs[chunk]);
    }
}
