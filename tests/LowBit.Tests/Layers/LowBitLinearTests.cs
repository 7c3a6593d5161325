using LowBit;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Layers;

[TestFixture(typeof(float))]
[TestFixture(typeof(Half))]
[TestFixture(typeof(BFloat16))]
public class LowBitLinearTests<T>
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (int bits in new[] { 2, 4, 8 })
        {
            foreach (int groupSize in new[] { 8, 32, 64, 128 })
            {
                foreach (int inFeatures in new[] { 128, 256 })
                {
                    yield return new TestCaseData(bits, groupSize, inFeatures);
                }
            }
        }

        yield return new TestCaseData(4, 8, 8);
        yield return new TestCaseData(2, 16, 48);

        // Columns that are not whole 64-byte blocks, so the table-lookup kernels (not the field kernel) run batches 1 to 5.
        yield return new TestCaseData(4, 32, 96);
        yield return new TestCaseData(2, 64, 192);
    }

    [TestCaseSource(nameof(Cases))]
    public void Forward_WithinToleranceOfFloat64OnDequantizedWeights(int bits, int groupSize, int inFeatures)
    {
        foreach (int outFeatures in new[] { 1, 7, 33 })
        {
            T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, bits * 100 + groupSize + outFeatures, std: 0.05);
            T[] bias = outFeatures == 7 ? [] : TestData.Gaussian<T>(outFeatures, 5);
            var layer = LowBitLinear<T>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
            var dequantized = new T[outFeatures * inFeatures];
            layer.Dequantize(dequantized);
            foreach (int batch in new[] { 1, 2, 3, 5, 8, 17 })
            {
                T[] input = TestData.Gaussian<T>(batch * inFeatures, batch);
                foreach (int threads in new[] { 1, 0 })
                {
                    var output = new T[batch * outFeatures + 1];
                    output[^1] = TestData.Of<T>(77f);
                    layer.Forward(input, output.AsSpan(0, batch * outFeatures), threads);
                    Assert.That(TestData.F(output[^1]), Is.EqualTo(TestData.F(TestData.Of<T>(77f))), "sentinel");
                    AssertClose(layer, input, dequantized, bias, output, batch,
                                $"bits={bits} group={groupSize} {batch}x{inFeatures}->{outFeatures} threads={threads}");
                }
            }
        }
    }

    /// <summary>
    /// One input row (the GEMV kernels): every way groups can lie over a 64-byte block of packed weights (16 groups
    /// per block down to one group over several blocks), and inputs far from 1 in magnitude, because the 4-bit and
    /// 2-bit kernels scale the input by powers of two: all tiny, all huge, and a mix spanning 40 orders of magnitude.
    /// </summary>
    [TestCase(4, 8)]
    [TestCase(4, 16)]
    [TestCase(4, 32)]
    [TestCase(4, 64)]
    [TestCase(4, 128)]
    [TestCase(4, 512)]
    [TestCase(2, 8)]
    [TestCase(2, 16)]
    [TestCase(2, 32)]
    [TestCase(2, 64)]
    [TestCase(2, 128)]
    [TestCase(2, 256)]
    [TestCase(2, 1024)]
    public void Forward_OneInputRow_EveryGroupLayout_AndExtremeInputMagnitudes(int bits, int groupSize)
    {
        const int outFeatures = 37, inFeatures = 1024;
        T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, bits * 1000 + groupSize, std: 0.05);
        T[] bias = [];  // a bias of order 1 would hide errors in outputs of order 1e-36
        var layer = LowBitLinear<T>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
        var dequantized = new T[outFeatures * inFeatures];
        layer.Dequantize(dequantized);
        bool half = typeof(T) == typeof(Half);
        double[] magnitudes = half ? [1, 1e-3, 1e3] : [1, 1e-36, 1e36];
        foreach (double magnitude in magnitudes)
        {
            T[] input = TestData.Gaussian<T>(inFeatures, groupSize, std: magnitude);
            Check(input, $"std={magnitude}");
        }

        // A mix: every eighth element huge, the rest tiny (relative size 1e-40 for float and BFloat16).
        T[] mixed = TestData.Gaussian<T>(inFeatures, 11);
        for (int i = 0; i < inFeatures; i++) mixed[i] = TestData.Of<T>(TestData.F(mixed[i]) * (i % 8 == 0 ? (half ? 1e4f : 1e20f) : (half ? 1e-4f
            : 1e-20f)));
        Check(mixed, "mixed");

        void Check(T[] input, string label)
        {
            var output = new T[outFeatures + 1];
            output[^1] = TestData.Of<T>(77f);
            layer.Forward(input, output.AsSpan(0, outFeatures), 1);
            Assert.That(TestData.F(output[^1]), Is.EqualTo(TestData.F(TestData.Of<T>(77f))), "sentinel");
            AssertClose(layer, input, dequantized, bias, output, 1, $"bits={bits} group={groupSize} {label}");
        }
    }

    /// <summary>
    /// Two to fifteen input rows on a layer large enough for the field kernel (which shares each unpacked field between
    /// input rows): 2560 columns are several 1024-column slices with a partial last one, and 820 rows are several work
    /// items with a partial last one.
    /// </summary>
    [TestCase(4, 64)]
    [TestCase(4, 32)]
    [TestCase(2, 32)]
    [TestCase(2, 128)]
    [TestCase(2, 8)]
    public void Forward_TwoToFifteenInputRows_OverSeveralColumnSlices(int bits, int groupSize)
    {
        const int outFeatures = 820, inFeatures = 2560;
        T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, bits * 100 + groupSize, std: 0.05);
        T[] bias = TestData.Gaussian<T>(outFeatures, 4);
        var layer = LowBitLinear<T>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
        var dequantized = new T[outFeatures * inFeatures];
        layer.Dequantize(dequantized);
        foreach (int batch in new[] { 2, 3, 5, 9, 15 })
        {
            T[] input = TestData.Gaussian<T>(batch * inFeatures, batch + 50);
            var output = new T[batch * outFeatures + 1];
            output[^1] = TestData.Of<T>(77f);
            layer.Forward(input, output.AsSpan(0, batch * outFeatures), 0);
            Assert.That(TestData.F(output[^1]), Is.EqualTo(TestData.F(TestData.Of<T>(77f))), "sentinel");
            AssertClose(layer, input, dequantized, bias, output, batch, $"bits={bits} group={groupSize} {batch}x{inFeatures}->{outFeatures}");
        }
    }

    /// <summary>
    /// The batched paths at their edges: more than one 256-column slice with a partial last one (384 columns), more than
    /// one 256-row work item with a partial last panel (300 rows), and batches that use every input tile width of the
    /// panel kernel (6 = 4 + 2, 7 = 4 + 2 + 1, 16 = 12 + 4, 26 = 12 + 12 + 2, 64 = 5 x 12 + 4, 93 = 7 x 12 + 8 + 1).
    /// </summary>
    [TestCase(4, 64)]
    [TestCase(4, 8)]
    [TestCase(2, 32)]
    [TestCase(2, 16)]
    [TestCase(2, 8)]
    [TestCase(8, 128)]
    public void Forward_BatchedPaths_AtTileSliceAndPanelEdges(int bits, int groupSize)
    {
        const int outFeatures = 300, inFeatures = 384;
        T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, bits * 1000 + groupSize, std: 0.05);
        T[] bias = TestData.Gaussian<T>(outFeatures, 9);
        var layer = LowBitLinear<T>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize, bias);
        var dequantized = new T[outFeatures * inFeatures];
        layer.Dequantize(dequantized);
        foreach (int batch in new[] { 6, 7, 16, 26, 64, 93 })
        {
            T[] input = TestData.Gaussian<T>(batch * inFeatures, batch + 100);
            var output = new T[batch * outFeatures + 1];
            output[^1] = TestData.Of<T>(77f);
            layer.Forward(input, output.AsSpan(0, batch * outFeatures), 0);
            Assert.That(TestData.F(output[^1]), Is.EqualTo(TestData.F(TestData.Of<T>(77f))), "sentinel");
            AssertClose(layer, input, dequantized, bias, output, batch, $"bits={bits} group={groupSize} {batch}x{inFeatures}->{outFeatures}");
        }
    }

    /// <summary>
    /// A float offset per group (<c>w = (q - z) s - m</c>, GGUF's Q4_1 and K-quants): Dequantize applies the formula in
    /// float32 and rounds once, Forward matches float64 on those weights at every batch regime, and a layer without
    /// offsets is unchanged by empty ones.
    /// </summary>
    [TestCase(4, 32)]
    [TestCase(2, 16)]
    [TestCase(8, 32)]
    public void Offsets_DequantizeByTheFormula_AndForwardMatchesFloat64(int bits, int groupSize)
    {
        const int outFeatures = 70, inFeatures = 256;
        int groups = outFeatures * inFeatures / groupSize;
        var source = LowBitLinear<T>.FromWeights(TestData.Gaussian<T>(outFeatures * inFeatures, bits + groupSize, std: 0.05), outFeatures, inFeatures,
                                                 bits, groupSize);
        T[] offsets = TestData.Gaussian<T>(groups, 31, std: 0.03);
        T[] bias = TestData.Gaussian<T>(outFeatures, 32);
        var layer = LowBitLinear<T>.FromQuantized(source.PackedWeights, source.Scales, source.ZeroPoints, outFeatures, inFeatures, bits, groupSize,
                                                  bias, offsets);
        Assert.That((layer.HasOffsets, layer.Offsets.ToArray()), Is.EqualTo((true, offsets)));
        var dequantized = new T[outFeatures * inFeatures];
        layer.Dequantize(dequantized);
        var plain = new T[outFeatures * inFeatures];
        source.Dequantize(plain);
        var codes = new byte[inFeatures];
        int rowBytes = BitPacking.GetPackedLength(inFeatures, bits);
        for (int o = 0; o < outFeatures; o++)
        {
            BitPacking.Unpack(layer.PackedWeights.Slice(o * rowBytes, rowBytes), bits, codes);
            for (int i = 0; i < inFeatures; i++)
            {
                int g = (o * inFeatures + i) / groupSize;
                float expected = (codes[i] - (float)layer.ZeroPoints[g]) * TestData.F(layer.Scales[g]) - TestData.F(offsets[g]);
                Assert.That(TestData.F(dequantized[o * inFeatures + i]), Is.EqualTo(TestData.F(TestData.Of<T>(expected))), $"[{o},{i}]");
            }
        }

        foreach (int batch in new[] { 1, 2, 4, 7, 12, 16, 33 })
        {
            T[] input = TestData.Gaussian<T>(batch * inFeatures, batch + 40);
            var output = new T[batch * outFeatures];
            layer.Forward(input, output, 0);
            AssertClose(layer, input, dequantized, bias, output, batch, $"offsets bits={bits} group={groupSize} batch {batch}");
        }

        var noOffsets = LowBitLinear<T>.FromQuantized(source.PackedWeights, source.Scales, source.ZeroPoints, outFeatures, inFeatures, bits,
                                                      groupSize, offsets: []);
        noOffsets.Dequantize(dequantized);
        Assert.That((noOffsets.HasOffsets, dequantized), Is.EqualTo((false, plain)));
        Assert.That(() => LowBitLinear<T>.FromQuantized(source.PackedWeights, source.Scales, source.ZeroPoints, outFeatures, inFeatures, bits,
                                                        groupSize,
                                                        offsets: new T[groups - 1]), Throws.ArgumentException.With.Message.Contains("offsets"));
    }

    /// <summary>
    /// Columns kept in another order (GPTQ act-order): Forward gathers the input into that order, so it equals the
    /// unpermuted layer on the gathered input bit for bit, at every batch regime and in both activation precisions;
    /// Dequantize writes input order; a non-permutation is refused.
    /// </summary>
    [TestCase(4, 32)]
    [TestCase(2, 16)]
    public void InputPermutation_ForwardGathersTheInput_AndDequantizeWritesInputOrder(int bits, int groupSize)
    {
        const int outFeatures = 40, inFeatures = 128;
        T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, 12, std: 0.05);
        int[] permutation = Enumerable.Range(0, inFeatures).OrderBy(i => (i * 37 + 11) % inFeatures).ToArray();
        Assert.That(permutation.Order(), Is.EqualTo(Enumerable.Range(0, inFeatures)), "the test's permutation");
        var permuted = new T[weights.Length];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int j = 0; j < inFeatures; j++) permuted[o * inFeatures + j] = weights[o * inFeatures + permutation[j]];
        }

        T[] bias = TestData.Gaussian<T>(outFeatures, 13);
        var inOrder = LowBitLinear<T>.FromWeights(permuted, outFeatures, inFeatures, bits, groupSize, bias);
        var layer = LowBitLinear<T>.FromQuantized(inOrder.PackedWeights, inOrder.Scales, inOrder.ZeroPoints, outFeatures, inFeatures, bits, groupSize,
                                                  bias,
                                                  inputPermutation: permutation);
        Assert.That(layer.InputPermutation.ToArray(), Is.EqualTo(permutation));
        foreach (int batch in new[] { 1, 3, 8, 20 })
        {
            T[] x = TestData.Gaussian<T>(batch * inFeatures, batch + 70);
            var gathered = new T[x.Length];
            for (int b = 0; b < batch; b++)
            {
                for (int j = 0; j < inFeatures; j++) gathered[b * inFeatures + j] = x[b * inFeatures + permutation[j]];
            }

            foreach (ActivationPrecision precision in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
            {
                var expected = new T[batch * outFeatures];
                var actual = new T[batch * outFeatures];
                inOrder.Forward(gathered, expected, 1, precision);
                layer.Forward(x, actual, 1, precision);
                Assert.That(actual, Is.EqualTo(expected), $"batch {batch}, {precision}");
            }
        }

        var columns = new T[weights.Length];
        var dequantized = new T[weights.Length];
        inOrder.Dequantize(columns);
        layer.Dequantize(dequantized);
        for (int o = 0; o < outFeatures; o++)
        {
            for (int j = 0; j < inFeatures; j++)
            {
                Assert.That(TestData.F(dequantized[o * inFeatures + permutation[j]]), Is.EqualTo(TestData.F(columns[o * inFeatures + j])),
                            $"[{o},{j}]");
            }
        }

        int[] repeated = [.. permutation];
        repeated[5] = repeated[6];
        Assert.That(() => LowBitLinear<T>.FromQuantized(inOrder.PackedWeights, inOrder.Scales, inOrder.ZeroPoints, outFeatures, inFeatures, bits,
                                                        groupSize,
                                                        inputPermutation: repeated), Throws.ArgumentException.With.Message.Contains("entry 6"));
        Assert.That(() => LowBitLinear<T>.FromQuantized(inOrder.PackedWeights, inOrder.Scales, inOrder.ZeroPoints, outFeatures, inFeatures, bits,
                                                        groupSize,
                                                        inputPermutation: new int[inFeatures - 1]), Throws.ArgumentException);
    }

    private static void AssertClose(LowBitLinear<T> layer, T[] input, T[] dequantized, T[] bias, T[] output, int batch, string label) =>
        Oracle.CheckGrouped(layer, dequantized, input, bias, output, batch, label);

    [Test]
    public void PackedWeights_AreBitPackingOfEachRowsCodes_AndBuffersHaveTheDocumentedShapes()
    {
        int outFeatures = 5, inFeatures = 64, groupSize = 32;
        T[] weights = TestData.Gaussian<T>(outFeatures * inFeatures, 3);
        foreach (int bits in new[] { 2, 4, 8 })
        {
            var layer = LowBitLinear<T>.FromWeights(weights, outFeatures, inFeatures, bits, groupSize);
            var codes = new byte[outFeatures * inFeatures];
            var scales = new T[outFeatures * 2];
            var zeros = new byte[outFeatures * 2];
            GroupQuantizer.Quantize<T>(weights, outFeatures, inFeatures, bits, groupSize, codes, scales, zeros);
            int rowBytes = BitPacking.GetPackedLength(inFeatures, bits);
            Assert.That(layer.PackedWeights.Length, Is.EqualTo(outFeatures * rowBytes));
            for (int o = 0; o < outFeatures; o++)
            {
                Assert.That(layer.PackedWeights.Slice(o * rowBytes, rowBytes).ToArray(), Is.EqualTo(BitPacking.Pack(codes.AsSpan(o * inFeatures,
                                                                                                                                 inFeatures), bits)));
            }

            Assert.That(layer.Scales.ToArray(), Is.EqualTo(scales));
            Assert.That(layer.ZeroPoints.ToArray(), Is.EqualTo(zeros));
            Assert.That((layer.Bits, layer.GroupSize, layer.HasBias), Is.EqualTo((bits, groupSize, false)));

            var reloaded = LowBitLinear<T>.FromQuantized(layer.PackedWeights, layer.Scales, layer.ZeroPoints, outFeatures, inFeatures, bits,
                                                         groupSize);
            T[] x = TestData.Gaussian<T>(2 * inFeatures, 4);
            Assert.That(reloaded.Forward(x), Is.EqualTo(layer.Forward(x)));
        }
    }

    [Test]
    public void ValidationErrors()
    {
        T[] weights = TestData.Gaussian<T>(4 * 64, 1);
        var layer = LowBitLinear<T>.FromWeights(weights, 4, 64, 4, 32);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(() => LowBitLinear<T>.FromWeights(weights, 4, 64, 3, 32), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => LowBitLinear<T>.FromWeights(weights, 4, 64, 4, 24), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => LowBitLinear<T>.FromWeights(weights, 4, 63, 4, 32), Throws.ArgumentException);
            Assert.That(() => LowBitLinear<T>.FromWeights(weights, 4, 64, 4, 32, new T[3]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(new T[63]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(new T[64], new T[3]), Throws.ArgumentException);
            Assert.That(() => layer.Forward(new T[64], new T[4], -1), Throws.InstanceOf<ArgumentOutOfRangeException>());
            Assert.That(() => layer.Dequantize(new T[255]), Throws.ArgumentException);
            Assert.That(() => LowBitLinear<T>.FromQuantized(new byte[128], new T[8], new byte[8], 4, 64, 4, 32), Throws.Nothing);
            Assert.That(() => LowBitLinear<T>.FromQuantized(new byte[127], new T[8], new byte[8], 4, 64, 4, 32), Throws.ArgumentException);
            Assert.That(() => LowBitLinear<T>.FromQuantized(new byte[128], new T[8], [.. new byte[7], 16], 4, 64, 4, 32), Throws.ArgumentException);
        }
    }

    [Test]
    public void Forward_FromManyThreadsAtOnce_GivesTheSingleThreadedResult()
    {
        var layer = LowBitLinear<T>.FromWeights(TestData.Gaussian<T>(1024 * 512, 8), 1024, 512, 4, 64, TestData.Gaussian<T>(1024, 9));
        T[][] inputs = Enumerable.Range(0, 6).Select(i => TestData.Gaussian<T>((i % 3 + 1) * 4 * 512, 100 + i)).ToArray();
        T[][] expected = inputs.Select(x => { var y = new T[x.Length / 512 * 1024]; layer.Forward(x, y, maxThreads: 1); return y; }).ToArray();
        int failures = 0;
        Parallel.For(0, 48, new ParallelOptions { MaxDegreeOfParallelism = 6 }, k =>
        {
            int i = k % inputs.Length;
            if (!layer.Forward(inputs[i]).AsSpan().SequenceEqual(expected[i])) Interlocked.Increment(ref failures);
        });
        Assert.That(failures, Is.Zero);
    }
}
