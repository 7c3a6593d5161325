using LowBit.Kernels;

namespace LowBit.Tests.Kernels;

/// <summary>The per-call input arrangements, exactly, at every size around their 8 x 8 blocks.</summary>
public unsafe class InputArrangementTests
{
    [Test]
    public void Transpose_EveryShapeUpTo13Rows_MovesEveryElement()
    {
        var random = new Random(5);
        for (int rows = 1; rows <= 13; rows++)
        {
            foreach (int columns in new[] { 1, 7, 8, 9, 16, 23, 64 })
            {
                float[] source = Enumerable.Range(0, rows * columns).Select(_ => random.NextSingle()).ToArray();
                var destination = new float[rows * columns + 1];
                destination[^1] = 99;
                fixed (float* ps = source, pd = destination) InputArrangement.Transpose(ps, pd, rows, columns);
                for (int r = 0; r < rows; r++)
                {
                    for (int c = 0; c < columns; c++)
                    {
                        Assert.That(destination[c * rows + r], Is.EqualTo(source[r * columns + c]), $"{rows}x{columns} [{r},{c}]");
                    }
                }

                Assert.That(destination[^1], Is.EqualTo(99f), "wrote past the end");
            }
        }
    }

    [Test]
    public void GroupSums_MatchTheSumOfEachGroup()
    {
        foreach (int groupSize in new[] { 8, 16, 24, 40, 64 })
        {
            float[] x = Enumerable.Range(0, groupSize * 5).Select(i => (float)(i % 7) - 3).ToArray();
            var sums = new float[5];
            fixed (float* px = x, ps = sums) InputArrangement.GroupSums(px, x.Length, groupSize, ps, scale: 0.5f);
            for (int g = 0; g < 5; g++) Assert.That(sums[g], Is.EqualTo(x.Skip(g * groupSize).Take(groupSize).Sum() * 0.5f),
                                                    $"group size {groupSize}, group {g}");
        }
    }

    [Test]
    public void Deinterleave_SplitsARowIntoStreams()
    {
        float[] x = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        foreach (int per in new[] { 2, 4 })
        {
            var streams = new float[24];
            fixed (float* px = x, ps = streams) InputArrangement.Deinterleave(px, ps, 24 / per, per);
            for (int j = 0; j < 24 / per; j++)
            {
                for (int k = 0; k < per; k++) Assert.That(streams[k * (24 / per) + j], Is.EqualTo(x[j * per + k]));
            }
        }
    }
}
