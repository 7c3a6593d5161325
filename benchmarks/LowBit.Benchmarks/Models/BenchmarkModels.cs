using System.Buffers.Binary;
using LowBit.IO;

namespace LowBit.Benchmarks.Models;

/// <summary>
/// The models the model benchmarks run: the one an environment variable names (a real GGUF file or MiniLM folder, as
/// the peers write them), else a small random one written here, so the suites also run (and smoke-test) anywhere.
/// </summary>
internal static class BenchmarkModels
{
    /// <summary>LOWBIT_DECODER_MODEL, else the llama peer's TinyLlama Q4_0 if it is there, else a small random F32 llama.</summary>
    public static string Decoder()
    {
        string? path = Environment.GetEnvironmentVariable("LOWBIT_DECODER_MODEL");
        if (!string.IsNullOrEmpty(path)) return path;
        const string Peer = "/tmp/lowbit-peer-llama/models/tinyllama-q4_0.gguf";
        if (File.Exists(Peer)) return Peer;
        string small = Path.Combine(Path.GetTempPath(), "lowbit-bench-decoder.gguf");
        if (!File.Exists(small)) WriteSmallDecoder(small);
        return small;
    }

    /// <summary>LOWBIT_ENCODER_MODEL, else the MiniLM peer's all-MiniLM-L6-v2 if it is there, else a small random BERT folder.</summary>
    public static string Encoder()
    {
        string? path = Environment.GetEnvironmentVariable("LOWBIT_ENCODER_MODEL");
        if (!string.IsNullOrEmpty(path)) return path;
        const string Peer = "/tmp/lowbit-peer-minilm/model";
        if (File.Exists(Path.Combine(Peer, "model.safetensors"))) return Peer;
        string small = Path.Combine(Path.GetTempPath(), "lowbit-bench-encoder");
        if (!File.Exists(Path.Combine(small, "model.safetensors"))) WriteSmallEncoder(small);
        return small;
    }

    private static byte[] Gaussian(Random random, int count, double std, double mean = 0)
    {
        var bytes = new byte[count * 4];
        for (int i = 0; i < count; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), (float)(mean + std * g));
        }

        return bytes;
    }

    private static void WriteSmallDecoder(string path)
    {
        const int Hidden = 256, Layers = 2, Heads = 8, KvHeads = 2, Ffn = 512, Vocabulary = 512;
        var random = new Random(1);
        var gguf = new GgufWriter()
            .Set("general.architecture", "llama").Set("llama.context_length", 512u).Set("llama.embedding_length", (uint)Hidden)
            .Set("llama.block_count", (uint)Layers).Set("llama.feed_forward_length", (uint)Ffn).Set("llama.attention.head_count", (uint)Heads)
            .Set("llama.attention.head_count_kv", (uint)KvHeads).Set("llama.rope.freq_base", 10000f).Set("llama.attention.layer_norm_rms_epsilon",
                                                                                                         1e-5f)
            .Set("tokenizer.ggml.model", "llama").Set("tokenizer.ggml.bos_token_id", 1u).Set("tokenizer.ggml.eos_token_id", 2u);
        string[] tokens = ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, Vocabulary - 3).Select(i => "\u2581t" + i)];
        gguf.Set("tokenizer.ggml.tokens", tokens).Set("tokenizer.ggml.scores", tokens.Select((_, i) => (float)-i).ToArray())
            .Set("tokenizer.ggml.token_type", tokens.Select((_, i) => i is 1 or 2 ? 3 : 1).ToArray());
        int q = Hidden, kv = KvHeads * Hidden / Heads;
        gguf.Tensor("token_embd.weight", GgufType.F32, [Hidden, Vocabulary], Gaussian(random, Hidden * Vocabulary, 1));
        for (int l = 0; l < Layers; l++)
        {
            string p = $"blk.{l}.";
            gguf.Tensor(p + "attn_norm.weight", GgufType.F32, [Hidden], Gaussian(random, Hidden, 0.1, 1));
            gguf.Tensor(p + "attn_q.weight", GgufType.F32, [Hidden, q], Gaussian(random, Hidden * q, 1 / Math.Sqrt(Hidden)));
            gguf.Tensor(p + "attn_k.weight", GgufType.F32, [Hidden, kv], Gaussian(random, Hidden * kv, 1 / Math.Sqrt(Hidden)));
            gguf.Tensor(p + "attn_v.weight", GgufType.F32, [Hidden, kv], Gaussian(random, Hidden * kv, 1 / Math.Sqrt(Hidden)));
            gguf.Tensor(p + "attn_output.weight", GgufType.F32, [q, Hidden], Gaussian(random, Hidden * q, 1 / Math.Sqrt(q)));
            gguf.Tensor(p + "ffn_norm.weight", GgufType.F32, [Hidden], Gaussian(random, Hidden, 0.1, 1));
            gguf.Tensor(p + "ffn_gate.weight", GgufType.F32, [Hidden, Ffn], Gaussian(random, Hidden * Ffn, 1 / Math.Sqrt(Hidden)));
            gguf.Tensor(p + "ffn_up.weight", GgufType.F32, [Hidden, Ffn], Gaussian(random, Hidden * Ffn, 1 / Math.Sqrt(Hidden)));
            gguf.Tensor(p + "ffn_down.weight", GgufType.F32, [Ffn, Hidden], Gaussian(random, Hidden * Ffn, 1 / Math.Sqrt(Ffn)));
        }

        gguf.Tensor("output_norm.weight", GgufType.F32, [Hidden], Gaussian(random, Hidden, 0.1, 1));
        gguf.Save(path);
    }

    private static void WriteSmallEncoder(string folder)
    {
        const int Hidden = 384, Layers = 2, Heads = 12, Intermediate = 1536, Positions = 512;
        Directory.CreateDirectory(folder);
        string[] vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Enumerable.Range('a', 26).Select(c => ((char)c).ToString()),
                               .. Enumerable.Range('a', 26).Select(c => "##" + (char)c)];
        File.WriteAllText(Path.Combine(folder, "vocab.txt"), string.Join("\r\n", vocabulary) + "\r\n");
        File.WriteAllText(Path.Combine(folder, "config.json"),
            $"{{\"model_type\":\"bert\",\"hidden_size\":{Hidden},\"num_hidden_layers\":{Layers},\"num_attention_heads\":{Heads}," +
            $"\"intermediate_size\":{Intermediate},\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-12,\"max_position_embeddings\":{Positions}," +
            $"\"type_vocab_size\":2,\"vocab_size\":{vocabulary.Length}}}");
        var random = new Random(2);
        var tensors = new List<SafeTensorData>();
        void Add(string name, double std, double mean, params long[] shape) =>
            tensors.Add(new SafeTensorData(new SafeTensorSpec(name, SafeTensorDType.F32, shape), Gaussian(random, (int)shape.Aggregate(1L, (a, b) =>
                a * b), std, mean)));
        Add("embeddings.word_embeddings.weight", 0.5, 0, vocabulary.Length, Hidden);
        Add("embeddings.position_embeddings.weight", 0.2, 0, Positions, Hidden);
        Add("embeddings.token_type_embeddings.weight", 0.2, 0, 2, Hidden);
        Add("embeddings.LayerNorm.weight", 0.1, 1, Hidden);
        Add("embeddings.LayerNorm.bias", 0.1, 0, Hidden);
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string name in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                Add(p + name + ".weight", 1 / Math.Sqrt(Hidden), 0, Hidden, Hidden);
                Add(p + name + ".bias", 0.1, 0, Hidden);
            }

            Add(p + "intermediate.dense.weight", 1 / Math.Sqrt(Hidden), 0, Intermediate, Hidden);
            Add(p + "intermediate.dense.bias", 0.1, 0, Intermediate);
            Add(p + "output.dense.weight", 1 / Math.Sqrt(Intermediate), 0, Hidden, Intermediate);
            Add(p + "output.dense.bias", 0.1, 0, Hidden);
            foreach (string norm in new[] { "attention.output.LayerNorm", "output.LayerNorm" })
            {
                Add(p + norm + ".weight", 0.1, 1, Hidden);
                Add(p + norm + ".bias", 0.1, 0, Hidden);
            }
        }

        SafeTensorsWriter.WriteAll(Path.Combine(folder, "model.safetensors"), tensors);
    }
}
