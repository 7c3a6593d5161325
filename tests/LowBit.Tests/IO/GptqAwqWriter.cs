using LowBit.IO;

namespace LowBit.Tests.IO;

/// <summary>
/// Writes GPTQ and AWQ checkpoints from each format's definition, packing as the reference implementations do:
/// AutoGPTQ's <c>QuantLinear.pack</c> (qlinear_cuda_old.py: <c>qweight[row] |= intweight[j] &lt;&lt; (bits * (j - i))</c>
/// along the input, zero points stored minus one in format "gptq" and packed along the output) and AutoAWQ's
/// <c>WQLinear_GEMM.from_linear</c> (<c>qweight[:, col] |= intweight[:, col * 8 + order_map[i]] &lt;&lt; (i * 4)</c>,
/// order_map = [0, 2, 4, 6, 1, 3, 5, 7]). The layer's values are random; the test's oracle is
/// <c>w[o, i] = s[g_idx[i], o] * (q[i, o] - z[g_idx[i], o])</c>.
/// </summary>
internal sealed class GptqAwqWriter(GptqAwqMethod method, int bits, int groupSize, int inFeatures, int outFeatures, int seed)
{
    private static readonly int[] AwqOrder = [0, 2, 4, 6, 1, 3, 5, 7];

    public int Groups => inFeatures / (groupSize == -1 ? inFeatures : groupSize);

    /// <summary>q[i, o], input-major as the formats keep it.</summary>
    public int[,] Codes { get; } = Random(inFeatures, outFeatures, 0, (1 << bits) - 1, seed);

    /// <summary>The true zero points z[g, o] (format "gptq" stores z - 1, so it says 1..2^bits).</summary>
    public int[,] Zeros { get; set; } = Random(inFeatures / (groupSize == -1 ? inFeatures : groupSize), outFeatures, 0, (1 << bits) - 1, seed + 1);

    /// <summary>s[g, o] as f16.</summary>
    public Half[,] Scales { get; } = RandomScales(inFeatures / (groupSize == -1 ? inFeatures : groupSize), outFeatures, seed + 2);

    /// <summary>The group of each input feature (GPTQ only); null writes none.</summary>
    public int[]? GroupIndex { get; set; }

    /// <summary>f16 bias, or null for none.</summary>
    public Half[]? Bias { get; set; }

    /// <summary>Format "gptq" (zero points stored minus one) rather than "gptq_v2".</summary>
    public bool ZerosMinusOne { get; set; } = true;

    /// <summary>The reference dequantization, [out, in] row-major, in float32 (f16 scale times a small integer: exact).</summary>
    public float[] Dequantized()
    {
        int size = groupSize == -1 ? inFeatures : groupSize;
        var w = new float[outFeatures * inFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int i = 0; i < inFeatures; i++)
            {
                int g = GroupIndex?[i] ?? i / size;
                w[o * inFeatures + i] = (float)Scales[g, o] * (Codes[i, o] - Zeros[g, o]);
            }
        }

        return w;
    }

    /// <summary>The layer's tensors under <paramref name="prefix"/>.</summary>
    public IEnumerable<SafeTensorData> Tensors(string prefix)
    {
        int per = 32 / bits, groups = Groups;
        if (method == GptqAwqMethod.Gptq)
        {
            var qweight = new int[inFeatures / per * outFeatures];
            for (int row = 0; row < inFeatures / per; row++)
            {
                for (int o = 0; o < outFeatures; o++)
                {
                    uint word = 0;
                    for (int k = 0; k < per; k++) word |= (uint)Codes[row * per + k, o] << (bits * k);
                    qweight[row * outFeatures + o] = (int)word;
                }
            }

            var qzeros = new int[groups * (outFeatures / per)];
            for (int g = 0; g < groups; g++)
            {
                for (int col = 0; col < outFeatures / per; col++)
                {
                    uint word = 0;
                    for (int k = 0; k < per; k++) word |= (uint)(Zeros[g, col * per + k] - (ZerosMinusOne ? 1 : 0)) << (bits * k);
                    qzeros[g * (outFeatures / per) + col] = (int)word;
                }
            }

            yield return SafeTensorData.Create(prefix + ".qweight", qweight, inFeatures / per, outFeatures);
            yield return SafeTensorData.Create(prefix + ".qzeros", qzeros, groups, outFeatures / per);
            if (GroupIndex is not null) yield return SafeTensorData.Create(prefix + ".g_idx", GroupIndex, inFeatures);
        }
        else
        {
            yield return SafeTensorData.Create(prefix + ".qweight", AwqPack(Codes, inFeatures), inFeatures, outFeatures / 8);
            yield return SafeTensorData.Create(prefix + ".qzeros", AwqPack(Zeros, groups), groups, outFeatures / 8);
        }

        var scales = new Half[groups * outFeatures];
        for (int g = 0; g < groups; g++)
        {
            for (int o = 0; o < outFeatures; o++) scales[g * outFeatures + o] = Scales[g, o];
        }

        yield return SafeTensorData.Create(prefix + ".scales", scales, groups, outFeatures);
        if (Bias is not null) yield return SafeTensorData.Create(prefix + ".bias", Bias, outFeatures);
    }

    private int[] AwqPack(int[,] values, int rows)
    {
        var packed = new int[rows * (outFeatures / 8)];
        for (int r = 0; r < rows; r++)
        {
            for (int col = 0; col < outFeatures / 8; col++)
            {
                uint word = 0;
                for (int n = 0; n < 8; n++) word |= (uint)values[r, col * 8 + AwqOrder[n]] << (4 * n);
                packed[r * (outFeatures / 8) + col] = (int)word;
            }
        }

        return packed;
    }

    /// <summary>GPTQ's act-order g_idx: features visited in a shuffled order, feature order[k] in group k / groupSize.</summary>
    public static int[] ActOrder(int inFeatures, int groupSize, int seed)
    {
        int[] order = Enumerable.Range(0, inFeatures).ToArray();
        new Random(seed).Shuffle(order);
        var groupOf = new int[inFeatures];
        for (int k = 0; k < inFeatures; k++) groupOf[order[k]] = k / groupSize;
        return groupOf;
    }

    private static int[,] Random(int rows, int columns, int min, int max, int seed)
    {
        var random = new Random(seed);
        var values = new int[rows, columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++) values[r, c] = random.Next(min, max + 1);
        }

        return values;
    }

    private static Half[,] RandomScales(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var values = new Half[rows, columns];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++) values[r, c] = (Half)((random.NextSingle() * 0.02f + 0.001f) * (random.Next(2) == 0 ? 1 : -1) * (r
                + 1));
        }

        return values;
    }
}
