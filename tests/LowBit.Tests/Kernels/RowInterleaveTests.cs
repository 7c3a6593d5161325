using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

/// <summary>
/// The row-interleaved int8 layout (<see cref="WeightLayout.Rows8"/>) and the layer's copy of it: where each code
/// goes, when the copy is made and dropped, and that callers without a layer never get its kernel. The kernel's results
/// against the float64 oracle are in <see cref="KernelRegistryTests"/> and <see cref="Int8ActivationTests"/>.
/// </summary>
[NonParallelizable]
public class RowInterleaveTests
{
    [Test]
    public void Int8Rows8_PutsRowRsFourCodesAtLaneR_AndPadsWithZeroWeights()
    {
        const int Rows = 13, Columns = 12;
        sbyte[] codes = Enumerable.Range(0, Rows * Columns).Select(i => (sbyte)(i % 255 - 127)).ToArray();
        var interleaved = new byte[RowInterleave.Bytes(LayerShape.Int8(Rows, Columns))];
        RowInterleave.Int8Rows8(codes, Rows, Columns, interleaved);
        Assert.That(interleaved, Has.Length.EqualTo(16 * Columns));
        for (int row = 0; row < 16; row++)
        {
            for (int column = 0; column < Columns; column++)
            {
                int at = row / 8 * 8 * Columns + column / 4 * 32 + row % 8 * 4 + column % 4;
                int expected = row < Rows ? codes[row * Columns + column] + 128 : 128;
                Assert.That(interleaved[at], Is.EqualTo(expected), $"row {row}, column {column}");
            }
        }
    }

    /// <summary>Group-wise: per group of 8 rows their 4-byte units at lane r, then per weight group the 8 scales, then the 8 zero terms.</summary>
    [Test]
    public void GroupRows8_InterleavesUnitsScalesAndZeroTerms_AndPadsWithZeros([Values(2, 4, 8)] int bits, [Values] bool offsets)
    {
        const int Rows = 11, Columns = 128, GroupSize = 32;
        LayerShape shape = LayerShape.Grouped(bits, Rows, Columns, GroupSize);
        int groups = shape.Groups, rowBytes = shape.RowBytes;
        byte[] packed = Enumerable.Range(0, Rows * rowBytes).Select(i => (byte)(i * 7 + 3)).ToArray();
        float[] scales = Enumerable.Range(0, Rows * groups).Select(i => 1f + i).ToArray();
        float[] zeroTerms = Enumerable.Range(0, Rows * groups).Select(i => -1f - i).ToArray();
        byte[] zeroPoints = Enumerable.Range(0, Rows * groups).Select(i => (byte)(i % 13 + 1)).ToArray();
        var interleaved = new byte[RowInterleave.Bytes(shape, offsets)];
        interleaved.AsSpan().Fill(0xEE);   // padding must be written, not left as it was
        RowInterleave.GroupRows8(shape, packed, scales, zeroTerms, zeroPoints, offsets, interleaved);
        long groupBytes = RowInterleave.GroupBytes(shape, offsets);
        Assert.That(groupBytes % 64, Is.Zero, "row groups start on a cache line");
        Assert.That(interleaved.LongLength, Is.EqualTo(2 * groupBytes));
        if (!offsets) Assert.That(interleaved.AsSpan((int)(groupBytes * 2 - 8)).ToArray(), Is.All.Not.EqualTo(0xEE), "tail padding written");
        for (int row = 0; row < 16; row++)
        {
            long rowGroup = row / 8 * groupBytes;
            for (int b = 0; b < rowBytes; b++)
            {
                long at = rowGroup + b / 4 * 32 + row % 8 * 4 + b % 4;
                Assert.That(interleaved[at], Is.EqualTo(row < Rows ? packed[row * rowBytes + b] : 0), $"row {row}, byte {b}");
            }

            for (int g = 0; g < groups; g++)
            {
                long scaleAt = rowGroup + 8L * rowBytes + (g * 8 + row % 8) * 4;
                Assert.That(BitConverter.ToSingle(interleaved, (int)scaleAt), Is.EqualTo(row < Rows ? scales[row * groups + g] : 0f));
                long zeroAt = rowGroup + 8L * rowBytes + 8L * groups * 4 + (g * 8 + row % 8) * (offsets ? 4 : 1);
                if (offsets) Assert.That(BitConverter.ToSingle(interleaved, (int)zeroAt), Is.EqualTo(row < Rows ? zeroTerms[row * groups + g] : 0f));
                else Assert.That(interleaved[zeroAt], Is.EqualTo(row < Rows ? zeroPoints[row * groups + g] : 0));
            }
        }
    }

    /// <summary>A group-wise layer makes its interleaved copy (codes, scales, zero terms) on the first int8 call routed there.</summary>
    [Test]
    public void GroupLayer_MakesTheCopyOnFirstUse([Values(2, 4, 8)] int bits)
    {
        RequireKernel();
        const int Out = 29, In = 256;
        var layer = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 11, std: 0.05), Out, In, bits, 64);
        long canonical = layer.WeightBytes;
        float[] x = TestData.Gaussian<float>(6 * In, seed: 12);
        var y = new float[6 * Out];
        WithTablePlans(() =>
        {
            Assert.That(layer.Describe(6, ActivationPrecision.Int8), Is.EqualTo(KernelRegistry.IntRows8Vnni256.Name));
            layer.Forward(x, y, 1, ActivationPrecision.Float);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical), "float calls make no copy");
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical + RowInterleave.Bytes(LayerShape.Grouped(bits, Out, In, 64)) + 63));
            Int8ActivationTests.CheckLowBitLayer(layer, x, [], y, 6, $"{bits}-bit");
        });
    }

    /// <summary>The layouts start on a cache line wherever the heap puts them (the kernels' 32-byte loads must not straddle two).</summary>
    [Test]
    public unsafe void Layouts_StartOnACacheLine()
    {
        for (int rows = 8; rows < 80; rows += 9)
        {
            var int8 = new Int8Layouts(new sbyte[rows * 64], rows, 64);
            var grouped = new GroupLayouts(LayerShape.Grouped(4, rows, 64, 32), new byte[rows * 32], new float[rows * 2], new float[rows * 2],
                                           new byte[rows * 2], offsets: false);
            fixed (byte* a = int8.Codes(WeightLayout.Rows8), b = grouped.Codes(WeightLayout.Rows8))
            {
                Assert.That((long)a % 64, Is.EqualTo(0L), $"int8, {rows} rows");
                Assert.That((long)b % 64, Is.EqualTo(0L), $"4-bit, {rows} rows");
            }
        }
    }

    [Test]
    public void Int8Rows8_RejectsColumnsNotAMultipleOf4() =>
        Assert.Throws<ArgumentException>(() => RowInterleave.Int8Rows8(new sbyte[3 * 6], 3, 6, new byte[8 * 6]));

    /// <summary>
    /// The copy is made on the first int8 call routed to the kernel (WeightBytes grows by it), made again from the new codes
    /// after Quantize, and never made by float calls.
    /// </summary>
    [Test]
    public void Layer_MakesTheCopyOnFirstUse_AndRemakesItAfterQuantize()
    {
        RequireKernel();
        const int Out = 45, In = 256;
        var layer = W8A16Linear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 1, std: 0.05), Out, In, TestData.Gaussian<float>(Out, 2));
        long canonical = layer.WeightBytes;
        float[] x = TestData.Gaussian<float>(3 * In, seed: 3);
        var y = new float[3 * Out];
        WithTablePlans(() =>
        {
            Assert.That(layer.Describe(3, ActivationPrecision.Int8), Is.EqualTo(KernelRegistry.IntRows8Vnni256.Name));
            layer.Forward(x, y, 1, ActivationPrecision.Float);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical), "float calls make no copy");
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical + RowInterleave.Bytes(LayerShape.Int8(Out, In)) + 63));
            Int8ActivationTests.CheckInt8Layer(layer, x, layer.Bias.ToArray(), y, 3, "first codes");

            layer.Quantize(TestData.Gaussian<float>(Out * In, seed: 4, std: 0.2));
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical), "new codes, no copy yet");
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Int8ActivationTests.CheckInt8Layer(layer, x, layer.Bias.ToArray(), y, 3, "after Quantize");
        });
    }

    /// <summary>Eight threads making the first int8 call at once all get the one result (one copy wins, the others are dropped).</summary>
    [Test]
    public void Layer_ConcurrentFirstCalls_AgreeBitForBit()
    {
        RequireKernel();
        const int Out = 200, In = 512, Threads = 8;
        var layer = W8A16Linear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 5, std: 0.05), Out, In);
        float[] x = TestData.Gaussian<float>(5 * In, seed: 6);
        float[][] outputs = Enumerable.Range(0, Threads).Select(_ => new float[5 * Out]).ToArray();
        WithTablePlans(() =>
        {
            using var start = new Barrier(Threads);
            Thread[] threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                layer.Forward(x, outputs[i], 1, ActivationPrecision.Int8);
            })).ToArray();
            foreach (Thread thread in threads) thread.Start();
            foreach (Thread thread in threads) thread.Join();
        });
        foreach (float[] output in outputs) Assert.That(output, Is.EqualTo(outputs[0]));
        Int8ActivationTests.CheckInt8Layer(layer, x, [], outputs[0], 5, "concurrent first calls");
    }

    /// <summary>The static W8A16.MatMul has no layer to keep a copy in: its plans keep to the canonical layout in both modes.</summary>
    [Test]
    public void StaticMatMulPlans_NeverChooseAnInterleavedKernel()
    {
        PlanMode before = KernelPlanning.Mode;
        try
        {
            foreach (PlanMode mode in new[] { PlanMode.Table, PlanMode.Measure })
            {
                KernelPlanning.Mode = mode;
                foreach (LayerShape shape in new[] { LayerShape.Int8(64, 256), LayerShape.Int8(1536, 384) })
                {
                    KernelPlan plan = KernelPlan.Cached(shape);
                    foreach (int batch in new[] { 1, 2, 8, 64 })
                    {
                        KernelRoute route = plan.Route(batch, ActivationPrecision.Int8);
                        Assert.That(route.Kernel.Layout, Is.EqualTo(WeightLayout.RowMajor), $"{mode} {shape} batch {batch}: {route}");
                    }
                }
            }
        }
        finally
        {
            KernelPlanning.Mode = before;
        }
    }

    private static void RequireKernel()
    {
        if (!KernelRegistry.IntRows8Vnni256.IsSupported) Assert.Ignore("int8act-rows8-vnni-256 needs AVX-VNNI, which this machine (or the " +
            "runtime's settings) does not run");
    }

    private static void WithTablePlans(Action action)
    {
        PlanMode before = KernelPlanning.Mode;
        KernelPlanning.Mode = PlanMode.Table;
        try
        {
            action();
        }
        finally
        {
            KernelPlanning.Mode = before;
        }
    }
}
