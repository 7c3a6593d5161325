using LowBit.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// A float64 forward pass of a Llama / Qwen2 GGUF model, written from llama.cpp's graph as the peer's llama_ref.py is
/// (RMSNorm, q/k/v with biases when present, RoPE adjacent for llama and split halves for qwen2, grouped-query causal
/// softmax attention, SwiGLU, final norm, output head or the tied embedding). The weights are the file's own values as
/// <see cref="ICheckpoint.ReadFloats"/> dequantizes them (bit for bit ggml's, tested on a ggml-written file), in double.
/// </summary>
internal sealed class DecoderReference
{
    private readonly Dictionary<string, double[]> _tensors = [];
    private readonly Dictionary<string, IReadOnlyList<long>> _shapes = [];
    private readonly string _arch;
    private readonly int _hidden, _layers, _heads, _kvHeads, _headSize, _ffn, _vocab, _ropeDims;
    private readonly double _ropeBase, _epsilon;

    public DecoderReference(string path)
    {
        using var file = GgufFile.Open(path);
        ICheckpoint checkpoint = file;
        foreach (string name in checkpoint.TensorNames)
        {
            _tensors[name] = Array.ConvertAll(checkpoint.ReadFloats(name), v => (double)v);
            _shapes[name] = checkpoint.GetShape(name);
        }

        _arch = (string)file.Metadata["general.architecture"];
        long Get(string key) => Convert.ToInt64(file.Metadata[$"{_arch}.{key}"]);
        _hidden = (int)Get("embedding_length");
        _layers = (int)Get("block_count");
        _heads = (int)Get("attention.head_count");
        _kvHeads = (int)Get("attention.head_count_kv");
        _ffn = (int)Get("feed_forward_length");
        _headSize = _hidden / _heads;
        _ropeDims = (int)Get("rope.dimension_count");
        _ropeBase = Convert.ToDouble(file.Metadata[$"{_arch}.rope.freq_base"]);
        _epsilon = Convert.ToDouble(file.Metadata[$"{_arch}.attention.layer_norm_rms_epsilon"]);
        _vocab = _tensors["token_embd.weight"].Length / _hidden;
    }

    public int Vocabulary => _vocab;

    /// <summary>The logits of every position of <paramref name="tokens"/> (a fresh context), tokens x vocabulary.</summary>
    public double[] Logits(IReadOnlyList<int> tokens)
    {
        int t = tokens.Count, d = _hidden, hd = _headSize, group = _heads / _kvHeads;
        var x = new double[t * d];
        for (int i = 0; i < t; i++) Array.Copy(_tensors["token_embd.weight"], tokens[i] * d, x, i * d, d);
        for (int l = 0; l < _layers; l++)
        {
            string p = $"blk.{l}.";
            double[] h = RmsNorm(x, _tensors[p + "attn_norm.weight"]);
            double[] q = Linear(h, p + "attn_q"), k = Linear(h, p + "attn_k"), v = Linear(h, p + "attn_v");
            Rope(q, _heads);
            Rope(k, _kvHeads);
            var attended = new double[t * _heads * hd];
            for (int i = 0; i < t; i++)
            {
                for (int head = 0; head < _heads; head++)
                {
                    int kvHead = head / group;
                    var scores = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int e = 0; e < hd; e++) dot += q[(i * _heads + head) * hd + e] * k[(j * _kvHeads + kvHead) * hd + e];
                        scores[j] = dot / Math.Sqrt(hd);
                    }

                    double max = scores.Max(), sum = 0;
                    for (int j = 0; j <= i; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                    for (int j = 0; j <= i; j++)
                    {
                        for (int e = 0; e < hd; e++) attended[(i * _heads + head) * hd + e] += scores[j] / sum * v[(j * _kvHeads + kvHead) * hd + e];
                    }
                }
            }

            double[] o = Linear(attended, p + "attn_output");
            for (int i = 0; i < x.Length; i++) x[i] += o[i];
            h = RmsNorm(x, _tensors[p + "ffn_norm.weight"]);
            double[] gate = Linear(h, p + "ffn_gate"), up = Linear(h, p + "ffn_up");
            for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
            o = Linear(gate, p + "ffn_down");
            for (int i = 0; i < x.Length; i++) x[i] += o[i];
        }

        double[] final = RmsNorm(x, _tensors["output_norm.weight"]);
        return Linear(final, _tensors.ContainsKey("output.weight") ? "output" : "token_embd");
    }

    /// <summary>Greedy generation from <paramref name="prompt"/>: the argmax at each step, and the gap between the two best logits.</summary>
    public (int[] Ids, double[] Gaps) Greedy(IReadOnlyList<int> prompt, int count)
    {
        var tokens = new List<int>(prompt);
        var ids = new int[count];
        var gaps = new double[count];
        for (int s = 0; s < count; s++)
        {
            double[] logits = Logits(tokens);
            ReadOnlySpan<double> last = logits.AsSpan((tokens.Count - 1) * _vocab, _vocab);
            int best = 0;
            for (int i = 1; i < _vocab; i++) if (last[i] > last[best]) best = i;
            double second = double.NegativeInfinity;
            for (int i = 0; i < _vocab; i++) if (i != best && last[i] > second) second = last[i];
            ids[s] = best;
            gaps[s] = last[best] - second;
            tokens.Add(best);
        }

        return (ids, gaps);
    }

    private double[] RmsNorm(double[] x, double[] weight)
    {
        var y = new double[x.Length];
        for (int row = 0; row < x.Length; row += _hidden)
        {
            double sum = 0;
            for (int i = 0; i < _hidden; i++) sum += x[row + i] * x[row + i];
            double scale = 1 / Math.Sqrt(sum / _hidden + _epsilon);
            for (int i = 0; i < _hidden; i++) y[row + i] = x[row + i] * scale * weight[i];
        }

        return y;
    }

    private double[] Linear(double[] x, string prefix)
    {
        double[] w = _tensors[prefix + ".weight"];
        _tensors.TryGetValue(prefix + ".bias", out double[]? bias);
        int outFeatures = (int)_shapes[prefix + ".weight"][0], inFeatures = (int)_shapes[prefix + ".weight"][1], rows = x.Length / inFeatures;
        var y = new double[rows * outFeatures];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                double sum = bias?[o] ?? 0;
                for (int i = 0; i < inFeatures; i++) sum += x[r * inFeatures + i] * w[o * inFeatures + i];
                y[r * outFeatures + o] = sum;
            }
        }

        return y;
    }

    private void Rope(double[] x, int heads)
    {
        int rows = x.Length / (heads * _headSize), half = _ropeDims / 2;
        bool neox = _arch == "qwen2";
        for (int t = 0; t < rows; t++)
        {
            for (int h = 0; h < heads; h++)
            {
                int at = (t * heads + h) * _headSize;
                for (int i = 0; i < half; i++)
                {
                    double angle = t * Math.Pow(_ropeBase, -2.0 * i / _ropeDims);
                    int a = at + (neox ? i : 2 * i), b = at + (neox ? i + half : 2 * i + 1);
                    double x0 = x[a], x1 = x[b];
                    x[a] = x0 * Math.Cos(angle) - x1 * Math.Sin(angle);
                    x[b] = x0 * Math.Sin(angle) + x1 * Math.Cos(angle);
                }
            }
        }
    }
}
