using System.Runtime.InteropServices;
using LowBit.IO;

namespace LowBit.Cli.Commands;

/// <summary>
/// A BF16 checkpoint shaped like a small decoder-only transformer (Llama/Qwen naming): token
/// embeddings, blocks of attention (q/k/v with biases, o) and gated MLP projections with RMS norms,
/// a final norm and an LM head. Weights are Gaussian with per-row scales spread like trained models
/// (log-normal around 0.02) and rare large outliers, which is what stresses per-row absmax scales.
/// Written tensor by tensor, so any size fits in memory.
/// </summary>
internal static class SyntheticCheckpoint
{
    public sealed record Shape(int Hidden, int Intermediate, int Layers, int Vocabulary);

    public static readonly Shape Small = new(Hidden: 512, Intermediate: 1408, Layers: 4, Vocabulary: 8000);

    private enum Kind
    {
        Matrix,
        Bias,
        Norm,
    }

    public static void Write(string path, Shape shape, int seed = 2026)
    {
        var plan = new List<(SafeTensorSpec Spec, Kind Kind)> { Matrix("model.embed_tokens.weight", shape.Vocabulary, shape.Hidden) };
        for (int layer = 0; layer < shape.Layers; layer++)
        {
            string p = $"model.layers.{layer}.";
            plan.Add(Vector(p + "input_layernorm.weight", shape.Hidden, Kind.Norm));
            foreach (string projection in new[] { "q_proj", "k_proj", "v_proj" })
            {
                plan.Add(Matrix(p + "self_attn." + projection + ".weight", shape.Hidden, shape.Hidden));
                plan.Add(Vector(p + "self_attn." + projection + ".bias", shape.Hidden, Kind.Bias));
            }

            plan.Add(Matrix(p + "self_attn.o_proj.weight", shape.Hidden, shape.Hidden));
            plan.Add(Vector(p + "post_attention_layernorm.weight", shape.Hidden, Kind.Norm));
            plan.Add(Matrix(p + "mlp.gate_proj.weight", shape.Intermediate, shape.Hidden));
            plan.Add(Matrix(p + "mlp.up_proj.weight", shape.Intermediate, shape.Hidden));
            plan.Add(Matrix(p + "mlp.down_proj.weight", shape.Hidden, shape.Intermediate));
        }

        plan.Add(Vector("model.norm.weight", shape.Hidden, Kind.Norm));
        plan.Add(Matrix("lm_head.weight", shape.Vocabulary, shape.Hidden));

        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["lowbit.synthetic"] = $"hidden={shape.Hidden} intermediate={shape.Intermediate} layers={shape.Layers} vocab={shape.Vocabulary}",
        };
        var random = new Random(seed);
        using SafeTensorsWriter writer = SafeTensorsWriter.Create(path, plan.Select(p => p.Spec).ToArray(), metadata);
        foreach (var (spec, kind) in plan)
        {
            BFloat16[] values = kind switch
            {
                Kind.Matrix => MatrixValues((int)spec.Shape[0], (int)spec.Shape[1], random),
                Kind.Bias => VectorValues((int)spec.Shape[0], 0, 0.01, random),
                _ => VectorValues((int)spec.Shape[0], 1, 0.05, random),
            };
            writer.Append(MemoryMarshal.AsBytes(values.AsSpan()));
        }

        writer.Commit();
    }

    private static (SafeTensorSpec, Kind) Matrix(string name, int rows, int columns) => (new SafeTensorSpec(name, SafeTensorDType.BF16, [rows,
        columns]), Kind.Matrix);

    private static (SafeTensorSpec, Kind) Vector(string name, int length, Kind kind) => (new SafeTensorSpec(name, SafeTensorDType.BF16, [length]),
                                                                                         kind);

    private static BFloat16[] MatrixValues(int rows, int columns, Random random)
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

        return values;
    }

    private static BFloat16[] VectorValues(int length, double mean, double std, Random random) =>
        Enumerable.Range(0, length).Select(_ => (BFloat16)(float)(mean + std * Gaussian(random))).ToArray();

    public static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
