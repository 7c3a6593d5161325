using LowBit.IO;

namespace LowBit.Cli.Commands;

/// <summary>
/// A BF16 checkpoint shaped like a small decoder-only transformer (Llama/Qwen naming): token
/// embeddings, blocks of attention (q/k/v with biases, o) and gated MLP projections with RMS norms,
/// a final norm and an LM head. Weights are Gaussian with per-row scales spread like trained models
/// (log-normal around 0.02) and rare large outliers, which is what stresses per-row absmax scales.
/// </summary>
internal static class SyntheticCheckpoint
{
    public sealed record Shape(int Hidden, int Intermediate, int Layers, int Vocabulary);

    public static readonly Shape Small = new(Hidden: 512, Intermediate: 1408, Layers: 4, Vocabulary: 8000);

    public static void Write(string path, Shape shape, int seed = 2026)
    {
        var random = new Random(seed);
        var tensors = new List<SafeTensorData> { Matrix("model.embed_tokens.weight", shape.Vocabulary, shape.Hidden, random) };
        for (int layer = 0; layer < shape.Layers; layer++)
        {
            string p = $"model.layers.{layer}.";
            tensors.Add(Norm(p + "input_layernorm.weight", shape.Hidden, random));
            foreach (string projection in new[] { "q_proj", "k_proj", "v_proj" })
            {
                tensors.Add(Matrix(p + "self_attn." + projection + ".weight", shape.Hidden, shape.Hidden, random));
                tensors.Add(Vector(p + "self_attn." + projection + ".bias", shape.Hidden, 0.01, random));
            }

            tensors.Add(Matrix(p + "self_attn.o_proj.weight", shape.Hidden, shape.Hidden, random));
            tensors.Add(Norm(p + "post_attention_layernorm.weight", shape.Hidden, random));
            tensors.Add(Matrix(p + "mlp.gate_proj.weight", shape.Intermediate, shape.Hidden, random));
            tensors.Add(Matrix(p + "mlp.up_proj.weight", shape.Intermediate, shape.Hidden, random));
            tensors.Add(Matrix(p + "mlp.down_proj.weight", shape.Hidden, shape.Intermediate, random));
        }

        tensors.Add(Norm("model.norm.weight", shape.Hidden, random));
        tensors.Add(Matrix("lm_head.weight", shape.Vocabulary, shape.Hidden, random));
        SafeTensorsWriter.WriteAll(path, tensors, new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["lowbit.synthetic"] = $"hidden={shape.Hidden} intermediate={shape.Intermediate} layers={shape.Layers} vocab={shape.Vocabulary}",
        });
    }

    private static SafeTensorData Matrix(string name, int rows, int columns, Random random)
    {
        var values = new BFloat16[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            double rowScale = 0.02 * Math.Exp(0.3 * Gaussian(random));
            for (int c = 0; c < columns; c++)
            {
                double w = rowScale * Gaussian(random);
                if (random.Next(2000) == 0) w *= 12; // an outlier: sets that row's absmax
                values[r * columns + c] = (BFloat16)(float)w;
            }
        }

        return SafeTensorData.Create(name, values, rows, columns);
    }

    private static SafeTensorData Vector(string name, int length, double std, Random random) =>
        SafeTensorData.Create(name, Enumerable.Range(0, length).Select(_ => (BFloat16)(float)(std * Gaussian(random))).ToArray(), length);

    private static SafeTensorData Norm(string name, int length, Random random) =>
        SafeTensorData.Create(name, Enumerable.Range(0, length).Select(_ => (BFloat16)(float)(1 + 0.05 * Gaussian(random))).ToArray(), length);

    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
