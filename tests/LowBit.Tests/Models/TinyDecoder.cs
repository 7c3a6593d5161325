using System.Buffers.Binary;
using LowBit.IO;

namespace LowBit.Tests.Models;

/// <summary>
/// Random-weight Llama / Qwen2 GGUF files for the decoder tests, shaped as the llama.cpp peer's <c>tiny</c> configs by
/// default and with any hyperparameter and weight type. Float weights are N(0, 1/n_in) (norms 1 + 0.1 g, biases 0.2 g) as
/// llama_gen draws them; quantized types get random blocks whose scales are set so the weights have that spread too.
/// </summary>
internal sealed record TinyDecoder
{
    public string Architecture { get; init; } = "llama";
    public int Hidden { get; init; } = 256;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 8;
    public int KvHeads { get; init; } = 2;
    public int FeedForward { get; init; } = 768;
    public int Vocabulary { get; init; } = 1024;
    public int Context { get; init; } = 512;
    public float RopeBase { get; init; } = 10000f;
    public int? RopeDimensions { get; init; }
    public float Epsilon { get; init; } = 1e-5f;
    public bool Tied { get; init; }
    public bool Biases { get; init; }
    public GgufType Type { get; init; } = GgufType.F32;
    public GgufType? EmbeddingType { get; init; }
    public int Seed { get; init; } = 1;
    public TestVocabularies.Vocabulary? Tokenizer { get; init; }
    public Action<GgufWriter>? Edit { get; init; }

    public int HeadSize => Hidden / Heads;

    /// <summary>Writes the model to <paramref name="path"/> and returns the path.</summary>
    public string Write(string path)
    {
        var gguf = new GgufWriter();
        string a = Architecture;
        gguf.Set("general.architecture", a).Set($"{a}.vocab_size", (uint)Vocabulary).Set($"{a}.context_length", (uint)Context)
            .Set($"{a}.embedding_length", (uint)Hidden).Set($"{a}.block_count", (uint)Layers).Set($"{a}.feed_forward_length", (uint)FeedForward)
            .Set($"{a}.attention.head_count", (uint)Heads).Set($"{a}.attention.head_count_kv", (uint)KvHeads)
            .Set($"{a}.rope.dimension_count", (uint)(RopeDimensions ?? HeadSize)).Set($"{a}.rope.freq_base", RopeBase)
            .Set($"{a}.attention.layer_norm_rms_epsilon", Epsilon);
        (Tokenizer ?? TestVocabularies.SentencePiece(Vocabulary)).WriteTo(gguf);
        var random = new Random(Seed);
        int q = Heads * HeadSize, kv = KvHeads * HeadSize;
        gguf.Tensor("token_embd.weight", EmbeddingType ?? Type, [Hidden, Vocabulary], Weights(random, EmbeddingType ?? Type, Vocabulary, Hidden,
                                                                                              1.0));
        for (int l = 0; l < Layers; l++)
        {
            string p = $"blk.{l}.";
            gguf.Tensor(p + "attn_norm.weight", GgufType.F32, [Hidden], Floats(random, Hidden, 0.1, 1));
            gguf.Tensor(p + "attn_q.weight", Type, [Hidden, q], Weights(random, Type, q, Hidden));
            gguf.Tensor(p + "attn_k.weight", Type, [Hidden, kv], Weights(random, Type, kv, Hidden));
            gguf.Tensor(p + "attn_v.weight", Type, [Hidden, kv], Weights(random, Type, kv, Hidden));
            if (Biases)
            {
                gguf.Tensor(p + "attn_q.bias", GgufType.F32, [q], Floats(random, q, 0.2, 0));
                gguf.Tensor(p + "attn_k.bias", GgufType.F32, [kv], Floats(random, kv, 0.2, 0));
                gguf.Tensor(p + "attn_v.bias", GgufType.F32, [kv], Floats(random, kv, 0.2, 0));
            }

            gguf.Tensor(p + "attn_output.weight", Type, [q, Hidden], Weights(random, Type, Hidden, q));
            gguf.Tensor(p + "ffn_norm.weight", GgufType.F32, [Hidden], Floats(random, Hidden, 0.1, 1));
            gguf.Tensor(p + "ffn_gate.weight", Type, [Hidden, FeedForward], Weights(random, Type, FeedForward, Hidden));
            gguf.Tensor(p + "ffn_up.weight", Type, [Hidden, FeedForward], Weights(random, Type, FeedForward, Hidden));
            gguf.Tensor(p + "ffn_down.weight", Type, [FeedForward, Hidden], Weights(random, Type, Hidden, FeedForward));
        }

        gguf.Tensor("output_norm.weight", GgufType.F32, [Hidden], Floats(random, Hidden, 0.1, 1));
        if (!Tied) gguf.Tensor("output.weight", Type, [Hidden, Vocabulary], Weights(random, Type, Vocabulary, Hidden));
        Edit?.Invoke(gguf);
        gguf.Save(path);
        return path;
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static byte[] Floats(Random random, int count, double std, double mean)
    {
        var bytes = new byte[count * 4];
        for (int i = 0; i < count; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), (float)(mean + std * Gaussian(random)));
        return bytes;
    }

    /// <summary>An out x in weight of <paramref name="type"/> whose values have a spread of about <paramref name="gain"/>/sqrt(in).</summary>
    private static byte[] Weights(Random random, GgufType type, int rows, int columns, double gain = 1.0)
    {
        double std = gain / Math.Sqrt(columns);
        int count = rows * columns;
        switch (type)
        {
            case GgufType.F32:
                return Floats(random, count, std, 0);
            case GgufType.F16:
            case GgufType.BF16:
                {
                    var bytes = new byte[count * 2];
                    for (int i = 0; i < count; i++)
                    {
                        float v = (float)(std * Gaussian(random));
                        ushort bits = type == GgufType.F16 ? BitConverter.HalfToUInt16Bits((Half)v) : ((BFloat16)v).Bits;
                        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), bits);
                    }

                    return bytes;
                }
        }

        // Random blocks, then every block's f16 scale (and minimum scale) set so the spread comes out right.
        (int blockWeights, int blockBytes, int[] scaleOffsets) = Layout(type);
        var blocks = new byte[count / blockWeights * blockBytes];
        random.NextBytes(blocks);
        for (int b = 0; b < blocks.Length; b += blockBytes)
        {
            foreach (int offset in scaleOffsets) BinaryPrimitives.WriteHalfLittleEndian(blocks.AsSpan(b + offset), (Half)((0.5
                + random.NextDouble()) * (2 * random.Next(2) - 1)));
        }

        double rms = Rms(type, blocks, rows, columns);
        for (int b = 0; b < blocks.Length; b += blockBytes)
        {
            foreach (int offset in scaleOffsets)
            {
                float d = (float)BinaryPrimitives.ReadHalfLittleEndian(blocks.AsSpan(b + offset));
                BinaryPrimitives.WriteHalfLittleEndian(blocks.AsSpan(b + offset), (Half)(d * std / rms));
            }
        }

        return blocks;
    }

    /// <summary>Weights per block, bytes per block, and where its f16 scales sit (ggml's block structs).</summary>
    private static (int Weights, int Bytes, int[] ScaleOffsets) Layout(GgufType type) => type switch
    {
        GgufType.Q4_0 => (32, 18, [0]),
        GgufType.Q4_1 => (32, 20, [0, 2]),
        GgufType.Q5_0 => (32, 22, [0]),
        GgufType.Q5_1 => (32, 24, [0, 2]),
        GgufType.Q8_0 => (32, 34, [0]),
        GgufType.Q2_K => (256, 84, [80, 82]),
        GgufType.Q3_K => (256, 110, [108]),
        GgufType.Q4_K => (256, 144, [0, 2]),
        GgufType.Q5_K => (256, 176, [0, 2]),
        GgufType.Q6_K => (256, 210, [208]),
        _ => throw new ArgumentException($"No block layout for {type}"),
    };

    /// <summary>The root mean square of the weights the blocks hold, as LowBit's GGUF reader dequantizes them.</summary>
    private static double Rms(GgufType type, byte[] blocks, int rows, int columns)
    {
        string path = Path.GetTempFileName();
        try
        {
            new GgufWriter().Set("general.architecture", "none").Tensor("w.weight", type, [columns, rows], blocks).Save(path);
            using var file = GgufFile.Open(path);
            float[] values = ((ICheckpoint)file).ReadFloats("w.weight");
            return Math.Sqrt(values.Average(v => (double)v * v));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
