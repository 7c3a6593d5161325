using LowBit;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.Kernels;

/// <summary>
/// The row-interleaved layouts (<see cref="WeightLayout.Rows8"/>, <see cref="WeightLayout.Rows16"/>) and the layer's
/// copies of them: where each code goes, when a copy is made and dropped, and that callers without a layer never get their
/// kernels. The kernels' results against the float64 oracle are in <see cref="KernelRegistryTests"/> and
/// <see cref="Int8ActivationTests"/>.
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

    /// <summary>
    /// Group-wise, 8 or 16 rows at a time: per group of rows their 4-byte units at lane r, then per weight group the rows'
    /// scales, then their zero terms.
    /// </summary>
    [Test]
    public void GroupRows_InterleavesUnitsScalesAndZeroTerms_AndPadsWithZeros([Values(2, 4, 8)] int bits, [Values] bool offsets,
                                                                            [Values(8, 16)] int per)
    {
        const int Rows = 11, Columns = 128, GroupSize = 32;
        LayerShape shape = LayerShape.Grouped(bits, Rows, Columns, GroupSize);
        int groups = shape.Groups, rowBytes = shape.RowBytes;
        byte[] packed = Enumerable.Range(0, Rows * rowBytes).Select(i => (byte)(i * 7 + 3)).ToArray();
        float[] scales = Enumerable.Range(0, Rows * groups).Select(i => 1f + i).ToArray();
        float[] zeroTerms = Enumerable.Range(0, Rows * groups).Select(i => -1f - i).ToArray();
        byte[] zeroPoints = Enumerable.Range(0, Rows * groups).Select(i => (byte)(i % 13 + 1)).ToArray();
        GroupParameters parameters = GroupParameters.Float(offsets);
        var interleaved = new byte[RowInterleave.Bytes(shape, parameters, per)];
        interleaved.AsSpan().Fill(0xEE);   // padding must be written, not left as it was
        RowInterleave.GroupRows(shape, per, packed, scales, zeroTerms, zeroPoints, parameters, interleaved);
        long groupBytes = RowInterleave.GroupBytes(shape, parameters, per);
        int padded = (Rows + per - 1) / per * per;
        Assert.That(groupBytes % 64, Is.Zero, "row groups start on a cache line");
        Assert.That(interleaved.LongLength, Is.EqualTo(padded / per * groupBytes));
        if (!offsets) Assert.That(interleaved.AsSpan(interleaved.Length - 8).ToArray(), Is.All.Not.EqualTo(0xEE), "tail padding written");
        for (int row = 0; row < padded; row++)
        {
            long rowGroup = row / per * groupBytes;
            for (int b = 0; b < rowBytes; b++)
            {
                long at = rowGroup + b / 4 * 4 * per + row % per * 4 + b % 4;
                Assert.That(interleaved[at], Is.EqualTo(row < Rows ? packed[row * rowBytes + b] : 0), $"row {row}, byte {b}");
            }

            for (int g = 0; g < groups; g++)
            {
                long scaleAt = rowGroup + (long)per * rowBytes + (g * per + row % per) * 4;
                Assert.That(BitConverter.ToSingle(interleaved, (int)scaleAt), Is.EqualTo(row < Rows ? scales[row * groups + g] : 0f));
                long zeroAt = rowGroup + (long)per * rowBytes + (long)per * groups * 4 + (g * per + row % per) * (offsets ? 4 : 1);
                if (offsets) Assert.That(BitConverter.ToSingle(interleaved, (int)zeroAt), Is.EqualTo(row < Rows ? zeroTerms[row * groups + g] : 0f));
                else Assert.That(interleaved[zeroAt], Is.EqualTo(row < Rows ? zeroPoints[row * groups + g] : 0));
            }
        }
    }

    /// <summary>
    /// The compact parameters (Half scales, one zero point for the layer): every scale as a Half at its row's lane of its
    /// group, no zero-point bytes, and the row group that much shorter (16 rows of 128 4-bit columns in 4 groups: 1024 bytes
    /// of codes and 128 of Half scales, where float scales and zero-point bytes take 320).
    /// </summary>
    [Test]
    public void GroupRows_CompactParameters_HoldHalfScalesAndNoZeroPoints([Values(8, 16)] int per)
    {
        const int Rows = 11, Columns = 128, GroupSize = 32;
        LayerShape shape = LayerShape.Grouped(4, Rows, Columns, GroupSize);
        int groups = shape.Groups, rowBytes = shape.RowBytes;
        byte[] packed = Enumerable.Range(0, Rows * rowBytes).Select(i => (byte)(i * 7 + 3)).ToArray();
        float[] scales = Enumerable.Range(0, Rows * groups).Select(i => (float)(Half)((i % 2 == 0 ? 1 : -1) * 0.001f * (i + 1))).ToArray();
        byte[] zeroPoints = Enumerable.Repeat((byte)8, Rows * groups).ToArray();
        GroupParameters parameters = GroupParameters.Compact(scales, zeroPoints, offsets: false);
        Assert.That(parameters, Is.EqualTo(new GroupParameters(false, true, true, 8)));
        long groupBytes = RowInterleave.GroupBytes(shape, parameters, per);
        Assert.That(groupBytes, Is.EqualTo(per * (rowBytes + groups * 2)));
        Assert.That(groupBytes, Is.LessThan(RowInterleave.GroupBytes(shape, GroupParameters.Float(false), per)));
        var interleaved = new byte[RowInterleave.Bytes(shape, parameters, per)];
        RowInterleave.GroupRows(shape, per, packed, scales, [], zeroPoints, parameters, interleaved);
        for (int row = 0; row < Rows; row++)
        {
            for (int g = 0; g < groups; g++)
            {
                long at = row / per * groupBytes + (long)per * rowBytes + (g * per + row % per) * 2;
                Assert.That((float)BitConverter.ToHalf(interleaved, (int)at), Is.EqualTo(scales[row * groups + g]), $"row {row}, group {g}");
            }
        }

        var back = new byte[Rows * rowBytes];
        RowInterleave.GroupRowMajor(shape, per, interleaved, parameters, 0, back);
        Assert.That(back, Is.EqualTo(packed));
    }

    /// <summary>Half scales only when every scale is a Half (subnormal ones too); one zero point only when all are equal and
    /// there are no offsets.</summary>
    [Test]
    public void GroupParameters_Compact_KeepsEveryScaleAndZeroPointExactly()
    {
        float[] halves = [0.5f, -3.25f, (float)(Half)1e-6f, (float)(Half)0.1f, 0f];
        byte[] eights = [8, 8, 8, 8, 8], mixed = [8, 8, 7, 8, 8];
        Assert.That(GroupParameters.Compact(halves, eights, offsets: false), Is.EqualTo(new GroupParameters(false, true, true, 8)));
        Assert.That(GroupParameters.Compact([.. halves, 0.1f], [.. eights, 8], offsets: false).HalfScales, Is.False, "0.1f is no Half");
        Assert.That(GroupParameters.Compact([.. halves, 1e-9f], [.. eights, 8], offsets: false).HalfScales, Is.False, "below Half's range");
        Assert.That(GroupParameters.Compact(halves, mixed, offsets: false).OneZeroPoint, Is.False);
        Assert.That(GroupParameters.Compact(halves, eights, offsets: true), Is.EqualTo(new GroupParameters(true, true, false, 0)));
        Assert.That(GroupParameters.Float(true).ScaleBytes + GroupParameters.Float(true).ZeroBytes, Is.EqualTo(8));
        Assert.That(GroupParameters.Float(false).ZeroBytes, Is.EqualTo(1));
    }

    /// <summary>
    /// A layer whose scales are all Half numbers (negative and subnormal ones among them) and whose zero points are all the
    /// same, as GGUF Q4_0 weights load: the Rows16 kernel reads the compact layout and gives the Rows8 kernels' outputs (float
    /// parameters) bit for bit, and the copy it made is the compact one.
    /// </summary>
    [Test]
    public void Rows16Kernel_CompactParameters_EqualTheRows8Kernels_BitForBit([Values(2, 4)] int bits, [Values(1, 6)] int batch)
    {
        const int Out = 37, In = 256;
        LayerShape shape = LayerShape.Grouped(bits, Out, In, 32);
        if (!KernelRegistry.IntRows16Avx512.IsSupported)
        {
            Assert.Ignore("the Rows16 kernel needs AVX-512BW, which this machine (or the runtime's settings) does not run");
        }

        var layer = Q4_0LikeLayer(shape, seed: 81, out byte zeroPoint);
        float[] x = TestData.Gaussian<float>(batch * In, seed: 83);
        long canonical = layer.WeightBytes, packedBytes = (long)Out * shape.RowBytes;
        Rows16AgainstRows8(layer, shape, x, batch, "compact parameters");
        long compact = RowInterleave.Bytes(shape, new GroupParameters(false, true, true, zeroPoint), 16) + 63;
        Assert.That(layer.WeightBytes, Is.EqualTo(canonical - packedBytes + compact + LayoutBytes(layer, shape, WeightLayout.Rows8)),
                    "the compact Rows16 copy and the Rows8 one made by the comparison");
    }

    /// <summary>
    /// The Rows8 kernels (VNNI, AVX2, 128-bit: x64 and Arm64) read compact parameters too (a Q4_0-like layer: Half scales,
    /// subnormal and negative ones among them, one zero point): outputs against the float64 oracle, the 256-bit kernels bit
    /// for bit equal to one another, and the copy made is the compact one.
    /// </summary>
    [Test]
    public void Rows8Kernels_CompactParameters_MatchTheOracle([Values(2, 4, 8)] int bits, [Values(1, 3, 6)] int batch)
    {
        const int Out = 21, In = 256;
        LayerShape shape = LayerShape.Grouped(bits, Out, In, 32);
        MatMulKernel[] rows8 = InterleavedKernels.Where(k => k.Layout == WeightLayout.Rows8 && k.IsSupported && k.Takes(shape)).ToArray();
        if (rows8.Length == 0) Assert.Ignore($"no Rows8 kernel runs {shape} here");
        float[] expected = [];
        foreach (MatMulKernel kernel in rows8)
        {
            var layer = Q4_0LikeLayer(shape, seed: 91, out byte zeroPoint);
            float[] x = TestData.Gaussian<float>(batch * In, seed: 93);
            var y = new float[batch * Out];
            long canonical = layer.WeightBytes;
            layer.Run(kernel, x, y, maxThreads: 1);
            long compact = RowInterleave.Bytes(shape, new GroupParameters(false, true, true, zeroPoint), 8) + 63;
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical - (long)Out * shape.RowBytes + compact), $"{kernel}: the compact Rows8 copy only");
            Int8ActivationTests.CheckLowBitLayer(layer, x, layer.Bias.ToArray(), y, batch, $"{kernel} {shape}, compact parameters");
            if (kernel.Name.EndsWith("-128", StringComparison.Ordinal)) continue;
            if (expected.Length == 0) expected = y;
            else Assert.That(y, Is.EqualTo(expected), $"{kernel} against the other 256-bit Rows8 kernel");
        }
    }

    /// <summary>A group-wise layer makes its interleaved copy (codes, scales, zero terms) on the first int8 call routed there.</summary>
    [Test]
    public void GroupLayer_MakesTheCopyOnFirstUse([Values(2, 4, 8)] int bits)
    {
        LayerShape shape = LayerShape.Grouped(bits, 29, 256, 64);
        RequireKernel(shape);
        const int Out = 29, In = 256;
        var layer = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 11, std: 0.05), Out, In, bits, 64);
        long canonical = layer.WeightBytes;
        float[] x = TestData.Gaussian<float>(6 * In, seed: 12);
        var y = new float[6 * Out];
        WithTablePlans(() =>
        {
            MatMulKernel kernel = InterleavedKernel(shape);
            Assert.That(layer.Describe(6, ActivationPrecision.Int8), Is.EqualTo(kernel.Name));
            layer.Forward(x, y, 1, ActivationPrecision.Float);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical), "float calls make no copy");
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical + LayoutBytes(layer, shape, kernel.Layout)));
            Int8ActivationTests.CheckLowBitLayer(layer, x, [], y, 6, $"{bits}-bit");
        });
    }

    /// <summary>
    /// A group-wise layer's one-input-row pass (straight-line on the 256-bit kernels) and its tiles of 2-4 rows give the same
    /// outputs bit for bit: the same exact integer sums, then the same float operations. Batch 7 runs tiles (and a one-row
    /// pass for the last row); each row alone runs the one-row pass. 20 output rows: two whole groups of 8 and a partial one.
    /// </summary>
    [Test]
    public void GroupLayer_OneRowPass_EqualsTheTiles_BitForBit([Values(2, 4, 8)] int bits, [Values(32, 64)] int groupSize)
    {
        const int Out = 20, In = 512, Batch = 7;
        LayerShape shape = LayerShape.Grouped(bits, Out, In, groupSize);
        MatMulKernel[] kernels = InterleavedKernels.Where(k => k.IsSupported && k.Takes(shape)).ToArray();
        if (kernels.Length == 0) Assert.Ignore($"no interleaved kernel takes {shape} on this machine (or with the runtime's settings)");
        var layer = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 31, std: 0.05), Out, In, bits, groupSize);
        float[] x = TestData.Gaussian<float>(Batch * In, seed: 32);
        foreach (MatMulKernel kernel in kernels)
        {
            var all = new float[Batch * Out];
            layer.Run(kernel, x, all, maxThreads: 1);
            for (int row = 0; row < Batch; row++)
            {
                var one = new float[Out];
                layer.Run(kernel, x.AsSpan(row * In, In), one, maxThreads: 1);
                Assert.That(all.AsSpan(row * Out, Out).ToArray(), Is.EqualTo(one), $"{kernel} {shape}, input row {row}");
            }
        }
    }

    /// <summary>
    /// The Rows16 kernel (512 bits, int16 block sums) gives the Rows8 kernels' outputs bit for bit: the same exact integer
    /// block sums, then the same float operations per row. 37 output rows: two whole groups of 16 and a partial one.
    /// </summary>
    [Test]
    public void Rows16Kernel_EqualsTheRows8Kernels_BitForBit([Values(2, 4)] int bits, [Values(32, 64)] int groupSize, [Values] bool offsets,
                                                            [Values(1, 5, 9)] int batch)
    {
        const int Out = 37, In = 256;
        LayerShape shape = LayerShape.Grouped(bits, Out, In, groupSize);
        if (!KernelRegistry.IntRows16Avx512.IsSupported)
        {
            Assert.Ignore("the Rows16 kernel needs AVX-512BW, which this machine (or the runtime's settings) does not run");
        }

        var quantized = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 51, std: 0.05), Out, In, bits, groupSize);
        float[] offs = offsets ? TestData.Gaussian<float>(Out * In / groupSize, seed: 52, std: 0.01) : [];
        var layer = LowBitLinear<float>.FromQuantized(quantized.PackedWeights, quantized.Scales, quantized.ZeroPoints, Out, In, bits, groupSize,
                                                      TestData.Gaussian<float>(Out, seed: 53), offs);
        Rows16AgainstRows8(layer, shape, TestData.Gaussian<float>(batch * In, seed: 54), batch, "");
    }

    /// <summary>
    /// Runs the Rows16 kernel on <paramref name="x"/> (<paramref name="batch"/> rows), checks it against the float64 oracle
    /// and the 256-bit Rows8 kernels that run here bit for bit.
    /// </summary>
    private static void Rows16AgainstRows8(LowBitLinear<float> layer, LayerShape shape, float[] x, int batch, string what)
    {
        MatMulKernel rows16 = KernelRegistry.IntRows16Avx512;
        var y = new float[batch * shape.OutFeatures];
        layer.Run(rows16, x, y, maxThreads: 1);
        Int8ActivationTests.CheckLowBitLayer(layer, x, layer.Bias.ToArray(), y, batch, $"{rows16} {shape} {what}");
        foreach (MatMulKernel kernel in new[] { KernelRegistry.IntRows8Vnni256, KernelRegistry.IntRows8Avx2 }.Where(k => k.IsSupported))
        {
            var expected = new float[batch * shape.OutFeatures];
            layer.Run(kernel, x, expected, maxThreads: 1);
            Assert.That(y, Is.EqualTo(expected), $"{rows16} against {kernel}, {shape}, batch {batch} {what}");
        }
    }

    /// <summary>
    /// A layer as GGUF Q4_0 weights load (at <paramref name="shape"/>'s bits): random codes, every scale a Half number
    /// (negative ones, and every 13th subnormal as a Half), one zero point for all groups (returned).
    /// </summary>
    private static LowBitLinear<float> Q4_0LikeLayer(LayerShape shape, int seed, out byte zeroPoint)
    {
        var rng = new Random(seed);
        int count = shape.OutFeatures * shape.Groups;
        byte[] packed = new byte[shape.OutFeatures * shape.RowBytes];
        rng.NextBytes(packed);
        float[] scales = Enumerable.Range(0, count)
            .Select(i => (float)(Half)((rng.NextDouble() - 0.5) * (i % 13 == 0 ? 1e-5 : 0.02))).ToArray();
        Assert.That(scales.Count(s => Math.Abs(s) is > 0 and < 6.1e-5f), Is.GreaterThan(0), "some subnormal Half scales");
        zeroPoint = (byte)(1 << (shape.Bits - 1));
        float[] bias = TestData.Gaussian<float>(shape.OutFeatures, seed + 1);
        return LowBitLinear<float>.FromQuantized(packed, scales, Enumerable.Repeat(zeroPoint, count).ToArray(), shape.OutFeatures,
                                                 shape.InFeatures, shape.Bits, shape.GroupSize, bias);
    }

    /// <summary>
    /// Per-channel int8 on AVX-VNNI runs two groups of 8 rows at a time from batch 2 (the pair tile), a lone last group
    /// alone: outputs bit for bit those of the AVX2 Rows8 kernel (one group at a time, the same exact block sums and float
    /// operations). 45 output rows: two pairs, a whole lone group and a partial one.
    /// </summary>
    [Test]
    public void Int8PairTile_EqualsOneGroupAtATime_BitForBit([Values(2, 3, 5, 8)] int batch)
    {
        MatMulKernel vnni = KernelRegistry.IntRows8Vnni256, avx2 = KernelRegistry.IntRows8Avx2;
        if (!vnni.IsSupported || !avx2.IsSupported) Assert.Ignore("needs AVX-VNNI and AVX2");
        const int Out = 45, In = 256;
        float[] weights = TestData.Gaussian<float>(Out * In, seed: 71, std: 0.05);
        var layer = W8A16Linear<float>.FromWeights(weights, Out, In, TestData.Gaussian<float>(Out, 72));
        float[] x = TestData.Gaussian<float>(batch * In, seed: 73);
        float[] y = new float[batch * Out], expected = new float[batch * Out];
        layer.Run(vnni, x, y, maxThreads: 1);
        layer.Run(avx2, x, expected, maxThreads: 1);
        Assert.That(y, Is.EqualTo(expected));
        Int8ActivationTests.CheckInt8Layer(layer, x, layer.Bias.ToArray(), y, batch, $"pair tile, batch {batch}");
    }

    /// <summary>
    /// A layer whose calls run kernels of both interleaved layouts (as measured plans may choose) holds both: the second is
    /// made from a row-major view of the first (the row-major copy was dropped), and every kernel and view reads the codes
    /// unchanged.
    /// </summary>
    [Test]
    public void GroupLayer_BothInterleavedLayouts_AreMadeFromOneAnother([Values(2, 4)] int bits)
    {
        MatMulKernel rows16 = KernelRegistry.IntRows16Avx512, rows8 = Rows8Kernel;
        if (!rows16.IsSupported || !rows8.IsSupported) Assert.Ignore("needs the Rows16 (AVX-512BW) and a Rows8 kernel");
        const int Out = 45, In = 256, GroupSize = 64;
        LayerShape shape = LayerShape.Grouped(bits, Out, In, GroupSize);
        float[] w = TestData.Gaussian<float>(Out * In, seed: 61, std: 0.05);
        var layer = LowBitLinear<float>.FromWeights(w, Out, In, bits, GroupSize);
        var twin = LowBitLinear<float>.FromWeights(w, Out, In, bits, GroupSize);
        byte[] packed = layer.PackedWeights.ToArray();
        float[] dequantized = new float[Out * In];
        layer.Dequantize(dequantized);
        long canonical = layer.WeightBytes;
        long bytes16 = LayoutBytes(layer, shape, WeightLayout.Rows16), bytes8 = LayoutBytes(layer, shape, WeightLayout.Rows8);
        float[] x = TestData.Gaussian<float>(3 * In, seed: 62);
        float[] y = new float[3 * Out], expected = new float[3 * Out];

        layer.Run(rows16, x, y, maxThreads: 1);
        twin.Run(rows16, x, expected, maxThreads: 1);
        Assert.That(y, Is.EqualTo(expected));
        Assert.That(layer.WeightBytes, Is.EqualTo(canonical - packed.Length + bytes16), "Rows16 only");
        layer.Run(rows8, x, y, maxThreads: 1);
        twin.Run(rows8, x, expected, maxThreads: 1);
        Assert.That(y, Is.EqualTo(expected), "Rows8 made from Rows16");
        Assert.That(layer.WeightBytes, Is.EqualTo(canonical - packed.Length + bytes16 + bytes8), "both interleaved layouts");
        Assert.That(layer.PackedWeights.ToArray(), Is.EqualTo(packed));
        CheckDequantized(layer, dequantized);
        layer.Run(KernelRegistry.GroupScalar, x, y, maxThreads: 1);
        twin.Run(KernelRegistry.GroupScalar, x, expected, maxThreads: 1);
        Assert.That(y, Is.EqualTo(expected), "row-major codes made again");
    }

    /// <summary>
    /// Rows taken back out of Rows8 or Rows16 (all of them, or from any first row on) are the row-major codes they were made
    /// from (per-channel int8: Rows8 only).
    /// </summary>
    [Test]
    public void RowMajor_FromInterleavedRows_IsTheCodesItWasMadeFrom([Values(8, 4, 2)] int bits, [Values] bool offsets, [Values(8, 16)] int per,
                                                                    [Values] bool compact)
    {
        const int Rows = 21, Columns = 128;
        LayerShape shape = bits == 8 && !offsets ? LayerShape.Int8(Rows, Columns) : LayerShape.Grouped(bits, Rows, Columns, 32);
        if (shape.Format == WeightFormat.Int8PerChannel && per == 16) Assert.Ignore("per-channel int8 has no Rows16 layout");
        if (shape.Format == WeightFormat.Int8PerChannel && compact) Assert.Ignore("per-channel int8 has no group parameters");
        byte[] codes = Enumerable.Range(0, Rows * shape.RowBytes).Select(i => (byte)(i * 37 + 5)).ToArray();
        float[] floats = new float[Rows * shape.Groups];
        byte[] zeroPoints = new byte[Rows * shape.Groups];
        // All scales 0 and all zero points 0: the compact form (Half scales, one zero point) holds them.
        GroupParameters parameters = compact ? GroupParameters.Compact(floats, zeroPoints, offsets) : GroupParameters.Float(offsets);
        Assert.That(parameters.HalfScales, Is.EqualTo(compact));
        var interleaved = new byte[RowInterleave.Bytes(shape, parameters, per)];
        if (shape.Format == WeightFormat.Int8PerChannel) RowInterleave.Int8Rows8(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(
                                                                                      codes.AsSpan()), Rows, Columns, interleaved);
        else RowInterleave.GroupRows(shape, per, codes, floats, floats, zeroPoints, parameters, interleaved);
        foreach (int first in new[] { 0, 5, 8, 16, 20 })
        {
            var back = new byte[(Rows - first) * shape.RowBytes];
            if (shape.Format == WeightFormat.Int8PerChannel) RowInterleave.Int8RowMajor(interleaved, Columns, first, back);
            else RowInterleave.GroupRowMajor(shape, per, interleaved, parameters, first, back);
            Assert.That(back, Is.EqualTo(codes.AsSpan(first * shape.RowBytes).ToArray()), $"{shape}, from row {first}");
        }
    }

    /// <summary>
    /// One copy: a layer whose first call runs the interleaved kernel keeps only that layout (WeightBytes shrinks by the
    /// row-major codes), its views (codes, Dequantize, DequantizeRow) are made from it unchanged, and a float call after it
    /// makes the row-major copy again (then both are held) with the same results as a layer that never dropped it.
    /// </summary>
    [Test]
    public void Int8OnlyLayer_HoldsOneCopy_AndItsViewsAreUnchanged()
    {
        RequireKernel();
        const int Out = 37, In = 192;
        float[] w = TestData.Gaussian<float>(Out * In, seed: 21, std: 0.05);
        var layer = W8A16Linear<float>.FromWeights(w, Out, In);
        var twin = W8A16Linear<float>.FromWeights(w, Out, In);
        sbyte[] codes = layer.Int8Weights.ToArray();
        float[] dequantized = new float[Out * In];
        layer.Dequantize(dequantized);
        long canonical = layer.WeightBytes, layout = RowInterleave.Bytes(LayerShape.Int8(Out, In)) + 63;
        float[] x = TestData.Gaussian<float>(4 * In, seed: 22);
        float[] y = new float[4 * Out], expected = new float[4 * Out];
        WithTablePlans(() =>
        {
            Assert.That(layer.Describe(4, ActivationPrecision.Int8), Is.EqualTo(Rows8Kernel.Name));
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical - Out * In + layout), "the interleaved copy only");
            CheckViews(layer, codes, dequantized);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical - Out * In + layout), "views keep no copy");

            layer.Forward(x, y, 1, ActivationPrecision.Float);
            twin.Forward(x, expected, 1, ActivationPrecision.Float);
            Assert.That(y, Is.EqualTo(expected), "float call on the remade row-major codes");
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical + layout), "both layouts once both precisions ran");
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            twin.Forward(x, expected, 1, ActivationPrecision.Int8);
            Assert.That(y, Is.EqualTo(expected));
            CheckViews(layer, codes, dequantized);
        });

        static void CheckViews(W8A16Linear<float> layer, sbyte[] codes, float[] dequantized)
        {
            Assert.That(layer.Int8Weights.ToArray(), Is.EqualTo(codes));
            CheckDequantized(layer, dequantized);
        }
    }

    /// <summary>As <see cref="Int8OnlyLayer_HoldsOneCopy_AndItsViewsAreUnchanged"/> for group-wise layers, with and without offsets.</summary>
    [Test]
    public void GroupInt8OnlyLayer_HoldsOneCopy_AndItsViewsAreUnchanged([Values(2, 4, 8)] int bits, [Values] bool offsets)
    {
        LayerShape shape = LayerShape.Grouped(bits, 27, 256, 64);
        RequireKernel(shape);
        const int Out = 27, In = 256, GroupSize = 64;
        LowBitLinear<float> Make()
        {
            var quantized = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(Out * In, seed: 31, std: 0.05), Out, In, bits, GroupSize);
            float[] offs = offsets ? TestData.Gaussian<float>(Out * In / GroupSize, seed: 32, std: 0.01) : [];
            return LowBitLinear<float>.FromQuantized(quantized.PackedWeights, quantized.Scales, quantized.ZeroPoints, Out, In, bits, GroupSize,
                                                     TestData.Gaussian<float>(Out, seed: 33), offs);
        }

        LowBitLinear<float> layer = Make(), twin = Make();
        byte[] packed = layer.PackedWeights.ToArray();
        float[] dequantized = new float[Out * In];
        layer.Dequantize(dequantized);
        MatMulKernel kernel = InterleavedKernel(shape);
        long canonical = layer.WeightBytes, layout = LayoutBytes(layer, shape, kernel.Layout);
        float[] x = TestData.Gaussian<float>(5 * In, seed: 34);
        float[] y = new float[5 * Out], expected = new float[5 * Out];
        WithTablePlans(() =>
        {
            Assert.That(layer.Describe(5, ActivationPrecision.Int8), Is.EqualTo(kernel.Name));
            layer.Forward(x, y, 1, ActivationPrecision.Int8);
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical - packed.Length + layout), "the interleaved copy only");
            CheckViews(layer, packed, dequantized);
            layer.Forward(x, y, 1, ActivationPrecision.Float);
            twin.Forward(x, expected, 1, ActivationPrecision.Float);
            Assert.That(y, Is.EqualTo(expected), "float call on the remade packed rows");
            Assert.That(layer.WeightBytes, Is.EqualTo(canonical + layout), "both layouts once both precisions ran");
            CheckViews(layer, packed, dequantized);
        });

        static void CheckViews(LowBitLinear<float> layer, byte[] packed, float[] dequantized)
        {
            Assert.That(layer.PackedWeights.ToArray(), Is.EqualTo(packed));
            CheckDequantized(layer, dequantized);
        }
    }

    /// <summary>Bytes a layer's copy in <paramref name="layout"/> holds with its 63 bytes of alignment (with the compact
    /// parameters its scales and zero points allow: the tests' layers have few groups a row).</summary>
    private static long LayoutBytes(LowBitLinear<float> layer, LayerShape shape, WeightLayout layout) =>
        RowInterleave.Bytes(shape, GroupParameters.Compact(layer.Scales, layer.ZeroPoints, layer.HasOffsets), RowInterleave.RowsOf(layout)) + 63;

    /// <summary>Dequantize and every row's DequantizeRow give <paramref name="dequantized"/>.</summary>
    private static void CheckDequantized(ILinearLayer<float> layer, float[] dequantized)
    {
        int rows = layer.OutFeatures, columns = layer.InFeatures;
        float[] all = new float[rows * columns], row = new float[columns];
        layer.Dequantize(all);
        Assert.That(all, Is.EqualTo(dequantized));
        for (int o = 0; o < rows; o++)
        {
            layer.DequantizeRow(o, row);
            Assert.That(row, Is.EqualTo(dequantized.AsSpan(o * columns, columns).ToArray()), $"row {o}");
        }
    }

    /// <summary>
    /// Float and int8 first calls racing on fresh layers (one thread may drop the row-major copy while another reads it, or
    /// make it again) all give what one thread gives.
    /// </summary>
    [Test]
    public void Layer_RacingFloatAndInt8FirstCalls_AgreeWithOneThread()
    {
        RequireKernel();
        const int Out = 64, In = 256, Threads = 8;
        float[] w = TestData.Gaussian<float>(Out * In, seed: 41, std: 0.05);
        float[] x = TestData.Gaussian<float>(3 * In, seed: 42);
        var reference = W8A16Linear<float>.FromWeights(w, Out, In);
        float[][] expected = [new float[3 * Out], new float[3 * Out]];
        WithTablePlans(() =>
        {
            reference.Forward(x, expected[0], 1, ActivationPrecision.Float);
            reference.Forward(x, expected[1], 1, ActivationPrecision.Int8);
            for (int round = 0; round < 20; round++)
            {
                var layer = W8A16Linear<float>.FromWeights(w, Out, In);
                float[][] outputs = Enumerable.Range(0, Threads).Select(_ => new float[3 * Out]).ToArray();
                using var start = new Barrier(Threads);
                Thread[] threads = Enumerable.Range(0, Threads).Select(i => new Thread(() =>
                {
                    start.SignalAndWait();
                    for (int k = 0; k < 4; k++)
                    {
                        layer.Forward(x, outputs[i], 1, (i + k) % 2 == 0 ? ActivationPrecision.Float : ActivationPrecision.Int8);
                    }
                })).ToArray();
                foreach (Thread thread in threads) thread.Start();
                foreach (Thread thread in threads) thread.Join();
                for (int i = 0; i < Threads; i++) Assert.That(outputs[i], Is.EqualTo(expected[(i + 3) % 2]), $"round {round}, thread {i}");
                Assert.That(layer.Int8Weights.ToArray(), Is.EqualTo(reference.Int8Weights.ToArray()));
            }
        });
    }

    /// <summary>The layouts start on a cache line wherever the heap puts them (the kernels' 32-byte loads must not straddle two).</summary>
    [Test]
    public unsafe void Layouts_StartOnACacheLine()
    {
        for (int rows = 8; rows < 80; rows += 9)
        {
            var int8 = new Int8Layouts(new byte[rows * 64], rows, 64);
            var grouped = new GroupLayouts(LayerShape.Grouped(4, rows, 64, 32), new byte[rows * 32], new float[rows * 2], new float[rows * 2],
                                           new byte[rows * 2], offsets: false);
            fixed (byte* a = int8.Codes(WeightLayout.Rows8), b = grouped.Codes(WeightLayout.Rows8), c = grouped.Codes(WeightLayout.Rows16))
            {
                Assert.That((long)a % 64, Is.EqualTo(0L), $"int8, {rows} rows");
                Assert.That((long)b % 64, Is.EqualTo(0L), $"4-bit, {rows} rows");
                Assert.That((long)c % 64, Is.EqualTo(0L), $"4-bit Rows16, {rows} rows");
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
            Assert.That(layer.Describe(3, ActivationPrecision.Int8), Is.EqualTo(Rows8Kernel.Name));
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

    /// <summary>The Rows8 kernel the table picks on this machine: AVX-VNNI's, else AVX2's, else the 128-bit one.</summary>
    private static MatMulKernel Rows8Kernel =>
        new[] { KernelRegistry.IntRows8Vnni256, KernelRegistry.IntRows8Avx2 }.FirstOrDefault(k => k.IsSupported) ?? KernelRegistry.IntRows8Vector128;

    /// <summary>Every kernel over interleaved rows.</summary>
    private static MatMulKernel[] InterleavedKernels =>
        [KernelRegistry.IntRows16Avx512, KernelRegistry.IntRows8Vnni256, KernelRegistry.IntRows8Avx2, KernelRegistry.IntRows8Vector128];

    /// <summary>The interleaved kernel the table picks for a group-wise layer at batch 4 on this machine: AVX-512's Rows16 (2/4-bit;
    /// not on Intel with AVX-VNNI), else the Rows8 one.</summary>
    private static MatMulKernel InterleavedKernel(LayerShape shape)
    {
        MatMulKernel kernel = KernelPlan.TableRoute(shape, 4, ActivationPrecision.Int8, layouts: true).Kernel;
        Assert.That(kernel.Layout, Is.Not.EqualTo(WeightLayout.RowMajor), $"{shape}: the table picks {kernel}");
        return kernel;
    }

    private static void RequireKernel(LayerShape? shape = null)
    {
        if (!Rows8Kernel.IsSupported) Assert.Ignore("the Rows8 kernels need SSSE3 or Arm64 NEON, which this machine (or the runtime's settings) " +
            "does not run");
        if (shape is { } taken && !Rows8Kernel.Takes(taken)) Assert.Ignore($"{Rows8Kernel} does not take {taken}");
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
