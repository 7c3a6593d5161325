using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LowBit.Benchmarks.Infrastructure;

namespace LowBit.Benchmarks.Kernels;

/// <summary>
/// What this machine can do at most, measured the same way as the kernels so every table can state a
/// fraction of the limit: read bandwidth (a streaming sum over 256 MiB, far beyond the caches) on one
/// and on all cores, and the FMA peak (independent FMA chains, no memory) at 256 and 512 bits.
/// GB/s applies to the Read rows, GFLOP/s to the Fma rows.
/// </summary>
[Config(typeof(Config))]
public class MachineLimits
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn("GB/s", c => c.Descriptor.WorkloadMethod.Name.StartsWith("Read") ? Bytes : double.NaN));
            AddColumn(new ThroughputColumn("GFLOP/s", c => c.Descriptor.WorkloadMethod.Name switch
            {
                nameof(Fma256) => FmaIterations * 12.0 * 8 * 2,
                nameof(Fma512) => FmaIterations * 12.0 * (Vector512.IsHardwareAccelerated ? 16 : 8) * 2,
                _ => double.NaN,
            }));
        }
    }

    private const int Bytes = 256 * 1024 * 1024;
    private const int FmaIterations = 1_000_000;
    private float[] _data = [];

    [GlobalSetup]
    public void Setup()
    {
        _data = new float[Bytes / sizeof(float)];
        _data.AsSpan().Fill(1f);
    }

    [Benchmark]
    public float ReadOneCore() => Sum(_data);

    [Benchmark]
    public float ReadAllCores()
    {
        int parts = Environment.ProcessorCount;
        var partial = new float[parts];
        int chunk = _data.Length / parts;
        Parallel.For(0, parts, p => partial[p] = Sum(_data.AsSpan(p * chunk, chunk)));
        return partial.Sum();
    }

    /// <summary>Twelve independent 256-bit FMA chains: 4-cycle latency x 2 pipes needs at least 8 in flight.</summary>
    [Benchmark]
    public float Fma256()
    {
        Vector256<float> a = Vector256.Create(0.999f), b = Vector256.Create(1e-7f);
        Vector256<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
        for (int i = 0; i < FmaIterations; i++)
        {
            c0 = Vector256.MultiplyAddEstimate(c0, a, b); c1 = Vector256.MultiplyAddEstimate(c1, a, b);
            c2 = Vector256.MultiplyAddEstimate(c2, a, b); c3 = Vector256.MultiplyAddEstimate(c3, a, b);
            c4 = Vector256.MultiplyAddEstimate(c4, a, b); c5 = Vector256.MultiplyAddEstimate(c5, a, b);
            c6 = Vector256.MultiplyAddEstimate(c6, a, b); c7 = Vector256.MultiplyAddEstimate(c7, a, b);
            c8 = Vector256.MultiplyAddEstimate(c8, a, b); c9 = Vector256.MultiplyAddEstimate(c9, a, b);
            c10 = Vector256.MultiplyAddEstimate(c10, a, b); c11 = Vector256.MultiplyAddEstimate(c11, a, b);
        }

        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    /// <summary>As <see cref="Fma256"/> at 512 bits (Vector512 where accelerated; otherwise it runs at 256 bits and says so in GFLOP/s).</summary>
    [Benchmark]
    public float Fma512()
    {
        if (!Vector512.IsHardwareAccelerated) return Fma256();
        Vector512<float> a = Vector512.Create(0.999f), b = Vector512.Create(1e-7f);
        Vector512<float> c0 = a, c1 = a, c2 = a, c3 = a, c4 = a, c5 = a, c6 = a, c7 = a, c8 = a, c9 = a, c10 = a, c11 = a;
        for (int i = 0; i < FmaIterations; i++)
        {
            c0 = Vector512.MultiplyAddEstimate(c0, a, b); c1 = Vector512.MultiplyAddEstimate(c1, a, b);
            c2 = Vector512.MultiplyAddEstimate(c2, a, b); c3 = Vector512.MultiplyAddEstimate(c3, a, b);
            c4 = Vector512.MultiplyAddEstimate(c4, a, b); c5 = Vector512.MultiplyAddEstimate(c5, a, b);
            c6 = Vector512.MultiplyAddEstimate(c6, a, b); c7 = Vector512.MultiplyAddEstimate(c7, a, b);
            c8 = Vector512.MultiplyAddEstimate(c8, a, b); c9 = Vector512.MultiplyAddEstimate(c9, a, b);
            c10 = Vector512.MultiplyAddEstimate(c10, a, b); c11 = Vector512.MultiplyAddEstimate(c11, a, b);
        }

        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Sum(ReadOnlySpan<float> data)
    {
        ref float p = ref MemoryMarshal.GetReference(data);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        nuint n = (nuint)data.Length, i = 0;
        for (; i + 32 <= n; i += 32)
        {
            s0 += Vector256.LoadUnsafe(ref p, i);
            s1 += Vector256.LoadUnsafe(ref p, i + 8);
            s2 += Vector256.LoadUnsafe(ref p, i + 16);
            s3 += Vector256.LoadUnsafe(ref p, i + 24);
        }

        return Vector256.Sum(s0 + s1 + s2 + s3);
    }
}
