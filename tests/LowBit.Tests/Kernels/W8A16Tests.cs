using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class W8A16Tests<T>
{
    private static readonly int[] Features = [1, 15, 16, 17, 33, 257, 1000];

    /// <summary>batch x in x out, every combination up to a budget of multiply-adds, plus a few large ones.</summary>
    public static IEnumerable<TestCaseData> Shapes()
    {
        foreach (int batch in new[] { 1, 2, 3, 7, 64, 100 })
        {
            foreach (int inFeatures in Features)
            {
                foreach (int outFeatures in Features)
                {
                    if ((long)batch * inFeatures * outFeatures <= 300_000 || (inFeatures == 1000 && outFeatures == 1000 && batch <= 3))
                    {
                        yield return new TestCaseData(batch, inFeatures, outFeatures);
                    }
                }
            }
        }

        yield return new TestCaseData(64, 257, 1000);
        yield return new TestCaseData(100, 1000, 33);
    }

    private sealed record Problem(T[] Input, sbyte[] Weights, T[] Scales, T[] Bias, int Batch, int InFeatures, int OutFeatures);

    private static Problem Make(int batch, int inFeatures, int outFeatures, bool withBias, int seed) => new(
        TestData.Gaussian<T>(batch * inFeatures, seed),
        TestData.Codes(outFeatures * inFeatures, seed + 1),
        TestData.Uniform<T>(outFeatures, seed + 2, 0.002, 0.05),
        withBias ? TestData.Gaussian<T>(outFeatures, seed + 3) : [],
        batch, inFeatures, outFeatures);

    private static void AssertWithinTolerance(Problem p, ReadOnlySpan<T> output, string label) =>
        Oracle.CheckInt8<T>(p.Input, p.Weights, p.Scales, p.Bias, output, p.Batch, p.InFeatures, p.OutFeatures, label);

    private static void RunAndCheck(Problem p, int maxThreads, string label)
    {
        int count = p.Batch * p.OutFeatures;
        var output = new T[count + 1];
        output[count] = TestData.Of<T>(12345f);
        W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output.AsSpan(0, count), p.InFeatures, p.OutFeatures, maxThreads);
        AssertWithinTolerance(p, output.AsSpan(0, count), label);
        Assert.That(TestData.F(output[count]), Is.EqualTo(TestData.F(TestData.Of<T>(12345f))), $"{label}: sentinel overwritten");
    }

    [TestCaseSource(nameof(Shapes))]
    public void MatMul_EveryPath_WithinToleranceOfFloat64Reference(int batch, int inFeatures, int outFeatures)
    {
        foreach (bool withBias in new[] { true, false })
        {
            Problem p = Make(batch, inFeatures, outFeatures, withBias, batch * 7919 + inFeatures * 31 + outFeatures);
            string shape = $"{batch}x{inFeatures}->{outFeatures} bias={withBias}";
            // Batches 1, 2, 3 and 7 (= 4 + 2 + 1) reach every tile: GEMV, 4 x 2 and 4 x 4.
            RunAndCheck(p, 1, $"one thread {shape}");
            RunAndCheck(p, 0, $"all threads {shape}");
        }
    }

    [TestCase(1, 1000, 4100)]
    [TestCase(3, 1000, 1000)]
    [TestCase(64, 257, 1000)]
    public void MatMul_Threaded_EqualsSingleThreadedBitForBit(int batch, int inFeatures, int outFeatures)
    {
        Problem p = Make(batch, inFeatures, outFeatures, true, 77);
        Assert.That((long)batch * inFeatures * outFeatures, Is.GreaterThanOrEqualTo(LowBit.Kernels.MatMulRunner.ParallelMinMultiplyAdds),
                    "shape must be large enough to thread");
        var single = new T[batch * outFeatures];
        var threaded = new T[batch * outFeatures];
        W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, single, inFeatures, outFeatures, maxThreads: 1);
        W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, threaded, inFeatures, outFeatures, maxThreads: 0);
        // Each output is computed by one thread with the same code, so threading changes nothing.
        for (int i = 0; i < single.Length; i++)
        {
            if (!TestData.SameBits(single[i], threaded[i])) Assert.Fail($"index {i}: {single[i]} vs {threaded[i]}");
        }

        AssertWithinTolerance(p, threaded, "threaded");
    }

    [Test]
    public void MatMul_ScalarReference_WithinTolerance()
    {
        Problem p = Make(3, 257, 33, true, 5);
        var output = new T[3 * 33];
        W8A16.MatMulScalar<T>(p.Input, p.Weights, p.Scales, p.Bias, output, 257, 33);
        AssertWithinTolerance(p, output, "scalar reference");
    }

    [Test]
    public void MatMul_ValidationErrors_LeaveOutputUntouched()
    {
        Problem p = Make(2, 8, 4, true, 1);
        var output = new T[8];
        T sentinel = TestData.Of<T>(-3f);
        output.AsSpan().Fill(sentinel);

        void Check(TestDelegate call, string param)
        {
            var ex = Assert.Catch<ArgumentException>(call);
            Assert.That(ex!.ParamName, Is.EqualTo(param), ex.Message);
            Assert.That(output.Select(TestData.F), Is.All.EqualTo(TestData.F(sentinel)));
        }

        using (Assert.EnterMultipleScope())
        {
            Check(() => W8A16.MatMul<T>(p.Input.AsSpan(0, 15), p.Weights, p.Scales, p.Bias, output, 8, 4), "input");
            Check(() => W8A16.MatMul<T>(ReadOnlySpan<T>.Empty, p.Weights, p.Scales, p.Bias, output, 8, 4), "input");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights.AsSpan(0, 31), p.Scales, p.Bias, output, 8, 4), "weights");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales.AsSpan(0, 3), p.Bias, output, 8, 4), "scales");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias.AsSpan(0, 3), output, 8, 4), "bias");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output.AsSpan(0, 7), 8, 4), "output");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output, 0, 4), "inFeatures");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output, 8, -1), "outFeatures");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output, 8, 4, maxThreads: -1), "maxThreads");
            Check(() => W8A16.MatMul<T>(p.Input, p.Weights, p.Scales, p.Bias, output, 65536, 65536), "inFeatures");
        }
    }

    [Test]
    public void MatMul_OutputOverlappingInput_Throws()
    {
        T[] buffer = TestData.Gaussian<T>(64, 3);
        var ex = Assert.Throws<ArgumentException>(() =>
            W8A16.MatMul<T>(buffer.AsSpan(0, 32), TestData.Codes(8 * 8, 1), TestData.Uniform<T>(8, 1, 0.01, 0.1), [], buffer.AsSpan(16, 32), 8, 8));
        Assert.That(ex!.ParamName, Is.EqualTo("output"));
    }
}
