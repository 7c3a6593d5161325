using System.Text.Json;
using LowBit.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// A random-weight BERT written as a Hugging Face folder (config.json with a sentence-transformers block, vocab.txt with
/// CRLF line ends, model.safetensors with HF names) for the encoder tests, and its float64 forward pass (as the MiniLM
/// peer's minilm_ref.py computes it: post-LN, exact-erf GELU, mean pooling, L2 normalization).
/// </summary>
public sealed record TinyEncoder
{
    public int Hidden { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int Intermediate { get; init; } = 128;
    public int MaxPositions { get; init; } = 64;
    public int MaxSequenceLength { get; init; } = 48;
    public string Pooling { get; init; } = "mean";
    public bool Normalize { get; init; } = true;
    public string HiddenAct { get; init; } = "gelu";
    public SafeTensorDType DType { get; init; } = SafeTensorDType.F32;
    public int Seed { get; init; } = 1;

    public static string VocabularyPath => Path.Combine(LowBit.Tests.Infrastructure.Repository.Root, "tests", "LowBit.Tests", "Models", "Fixtures",
                                                        "wordpiece-vocab.txt");

    public static int VocabularySize => File.ReadAllText(VocabularyPath).Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>The tensors by name (float values; written in <see cref="DType"/>).</summary>
    public Dictionary<string, (float[] Values, long[] Shape)> Tensors()
    {
        var random = new Random(Seed);
        var tensors = new Dictionary<string, (float[], long[])>();
        float[] Gaussian(int count, double std, double mean = 0)
        {
            var v = new float[count];
            for (int i = 0; i < count; i++) v[i] = (float)(mean
                + std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            return v;
        }

        void Linear(string prefix, int outFeatures, int inFeatures)
        {
            tensors[prefix + ".weight"] = (Gaussian(outFeatures * inFeatures, 1 / Math.Sqrt(inFeatures)), [outFeatures, inFeatures]);
            tensors[prefix + ".bias"] = (Gaussian(outFeatures, 0.1), [outFeatures]);
        }

        void Norm(string prefix)
        {
            tensors[prefix + ".weight"] = (Gaussian(Hidden, 0.1, 1), [Hidden]);
            tensors[prefix + ".bias"] = (Gaussian(Hidden, 0.1), [Hidden]);
        }

        int h = Hidden;
        tensors["embeddings.word_embeddings.weight"] = (Gaussian(VocabularySize * h, 0.5), [VocabularySize, h]);
        tensors["embeddings.position_embeddings.weight"] = (Gaussian(MaxPositions * h, 0.2), [MaxPositions, h]);
        tensors["embeddings.token_type_embeddings.weight"] = (Gaussian(2 * h, 0.2), [2, h]);
        Norm("embeddings.LayerNorm");
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            Linear(p + "attention.self.query", h, h);
            Linear(p + "attention.self.key", h, h);
            Linear(p + "attention.self.value", h, h);
            Linear(p + "attention.output.dense", h, h);
            Norm(p + "attention.output.LayerNorm");
            Linear(p + "intermediate.dense", Intermediate, h);
            Linear(p + "output.dense", h, Intermediate);
            Norm(p + "output.LayerNorm");
        }

        Linear("pooler.dense", h, h);
        return tensors;
    }

    public string Write(string folder)
    {
        Directory.CreateDirectory(folder);
        File.Copy(VocabularyPath, Path.Combine(folder, "vocab.txt"), overwrite: true);
        var config = new Dictionary<string, object>
        {
            ["model_type"] = "bert",
            ["hidden_size"] = Hidden,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["intermediate_size"] = Intermediate,
            ["hidden_act"] = HiddenAct,
            ["layer_norm_eps"] = 1e-12,
            ["max_position_embeddings"] = MaxPositions,
            ["vocab_size"] = VocabularySize,
            ["type_vocab_size"] = 2,
            ["sentence_transformers"] = new Dictionary<string, object>
            {
                ["max_seq_length"] = MaxSequenceLength,
                ["do_lower_case"] = true,
                ["pooling"] = Pooling,
                ["normalize"] = Normalize,
            },
        };
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(config));
        var data = new List<SafeTensorData>();
        foreach ((string name, (float[] values, long[] shape)) in Tensors())
        {
            data.Add(DType switch
            {
                SafeTensorDType.F16 => SafeTensorData.Create(name, values.Select(v => (Half)v).ToArray(), shape),
                SafeTensorDType.BF16 => SafeTensorData.Create(name, values.Select(v => (BFloat16)v).ToArray(), shape),
                _ => SafeTensorData.Create(name, values, shape),
            });
        }

        SafeTensorsWriter.WriteAll(Path.Combine(folder, "model.safetensors"), data);
        return folder;
    }

    /// <summary>The float64 embedding of a token sequence (already [CLS] ... [SEP]) on weights as stored (rounded to the dtype).</summary>
    public double[] Reference(int[] ids)
    {
        var w = Tensors().ToDictionary(t => t.Key, t => t.Value.Values.Select(v => Stored(v)).ToArray());
        int h = Hidden, n = ids.Length, hd = h / Heads;
        var x = new double[n * h];
        for (int t = 0; t < n; t++)
        {
            for (int e = 0; e < h; e++)
            {
                x[t * h + e] = w["embeddings.word_embeddings.weight"][ids[t] * h + e] + w["embeddings.position_embeddings.weight"][t * h + e]
                    + w["embeddings.token_type_embeddings.weight"][e];
            }
        }

        x = LayerNorm(x, w, "embeddings.LayerNorm");
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            double[] q = Linear(x, w, p + "attention.self.query", h), k = Linear(x, w, p + "attention.self.key", h), v = Linear(x, w, p
                + "attention.self.value", h);
            var context = new double[n * h];
            for (int head = 0; head < Heads; head++)
            {
                for (int i = 0; i < n; i++)
                {
                    var s = new double[n];
                    for (int j = 0; j < n; j++)
                    {
                        for (int e = 0; e < hd; e++) s[j] += q[i * h + head * hd + e] * k[j * h + head * hd + e];
                        s[j] /= Math.Sqrt(hd);
                    }

                    double max = s.Max(), sum = 0;
                    for (int j = 0; j < n; j++) sum += s[j] = Math.Exp(s[j] - max);
                    for (int j = 0; j < n; j++)
                    {
                        for (int e = 0; e < hd; e++) context[i * h + head * hd + e] += s[j] / sum * v[j * h + head * hd + e];
                    }
                }
            }

            double[] o = Linear(context, w, p + "attention.output.dense", h);
            for (int i = 0; i < x.Length; i++) x[i] += o[i];
            x = LayerNorm(x, w, p + "attention.output.LayerNorm");
            double[] mid = Linear(x, w, p + "intermediate.dense", Intermediate);
            for (int i = 0; i < mid.Length; i++) mid[i] = 0.5 * mid[i] * (1 + Erf(mid[i] / Math.Sqrt(2)));
            o = Linear(mid, w, p + "output.dense", h);
            for (int i = 0; i < x.Length; i++) x[i] += o[i];
            x = LayerNorm(x, w, p + "output.LayerNorm");
        }

        var pooled = new double[h];
        for (int e = 0; e < h; e++)
        {
            pooled[e] = Pooling switch
            {
                "cls" => x[e],
                "max" => Enumerable.Range(0, n).Max(t => x[t * h + e]),
                _ => Enumerable.Range(0, n).Average(t => x[t * h + e]),
            };
        }

        double norm = Normalize ? Math.Sqrt(pooled.Sum(v => v * v)) : 1;
        return pooled.Select(v => v / norm).ToArray();
    }

    private double Stored(float v) => DType switch
    {
        SafeTensorDType.F16 => (double)(float)(Half)v,
        SafeTensorDType.BF16 => (float)(BFloat16)v,
        _ =>
        v
    };

    private double[] Linear(double[] x, Dictionary<string, double[]> w, string prefix, int outFeatures)
    {
        double[] weight = w[prefix + ".weight"], bias = w[prefix + ".bias"];
        int inFeatures = weight.Length / outFeatures, rows = x.Length / inFeatures;
        var y = new double[rows * outFeatures];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias[o];
                for (int i = 0; i < inFeatures; i++) sum += x[r * inFeatures + i] * weight[o * inFeatures + i];
                y[r * outFeatures + o] = sum;
            }
        }

        return y;
    }

    private double[] LayerNorm(double[] x, Dictionary<string, double[]> w, string prefix)
    {
        double[] g = w[prefix + ".weight"], b = w[prefix + ".bias"];
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / Hidden; r++)
        {
            double mean = 0, variance = 0;
            for (int e = 0; e < Hidden; e++) mean += x[r * Hidden + e] / Hidden;
            for (int e = 0; e < Hidden; e++) variance += (x[r * Hidden + e] - mean) * (x[r * Hidden + e] - mean) / Hidden;
            for (int e = 0; e < Hidden; e++) y[r * Hidden + e] = (x[r * Hidden + e] - mean) / Math.Sqrt(variance + 1e-12) * g[e] + b[e];
        }

        return y;
    }

    /// <summary>erf to double precision: its Taylor series below 3, the continued fraction of erfc above.</summary>
    internal static double Erf(double x)
    {
        // Series for |x| < 3 (converges fast enough in double), continued-fraction asymptotics beyond.
        double ax = Math.Abs(x);
        if (ax < 3)
        {
            double sum = x, term = x, x2 = x * x;
            for (int n = 1; n < 200; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            }

            return 2 / Math.Sqrt(Math.PI) * sum;
        }

        // erfc(ax) by a continued fraction (Lentz), accurate for ax >= 3.
        double f = ax, c = ax, d = 0;
        for (int n = 1; n < 200; n++)
        {
            double an = n / 2.0;
            d = ax + an * d;
            d = 1 / d;
            c = ax + an / c;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }

        double erfc = Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
        return Math.Sign(x) * (1 - erfc);
    }
}
