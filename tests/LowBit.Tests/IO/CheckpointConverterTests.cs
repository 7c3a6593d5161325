using LowBit;
using LowBit.IO;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.IO;

/// <summary>
/// A converted checkpoint builds, through <see cref="QuantizedCheckpoint"/> alone, the very layers the source format's
/// own loader builds: same codes, scales, zero points, offsets and column order, so the same Dequantize bit for bit.
/// </summary>
public class CheckpointConverterTests
{
    private static string Fixture(string name) => Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", name);

    private static void AssertSameLayer(LowBitLinear<float> expected, LowBitLinear<float> actual, string label)
    {
        Assert.That((actual.InFeatures, actual.OutFeatures, actual.Bits, actual.GroupSize), Is.EqualTo((expected.InFeatures, expected.OutFeatures,
                                                                                                        expected.Bits, expected.GroupSize)), label);
        Assert.That(actual.PackedWeights.ToArray(), Is.EqualTo(expected.PackedWeights.ToArray()), label);
        Assert.That(actual.Scales.ToArray(), Is.EqualTo(expected.Scales.ToArray()), label);
        Assert.That(actual.ZeroPoints.ToArray(), Is.EqualTo(expected.ZeroPoints.ToArray()), label);
        Assert.That(actual.Offsets.ToArray(), Is.EqualTo(expected.Offsets.ToArray()), label);
        Assert.That(actual.InputPermutation.ToArray(), Is.EqualTo(expected.InputPermutation.ToArray()), label);
        Assert.That(actual.Bias.ToArray(), Is.EqualTo(expected.Bias.ToArray()), label);
        var a = new float[expected.InFeatures * expected.OutFeatures];
        var b = new float[a.Length];
        expected.Dequantize(a);
        actual.Dequantize(b);
        Assert.That(b, Is.EqualTo(a), label + ": Dequantize");
    }

    [Test]
    public void Gguf_EveryTensorConverts_AndLoadsAsTheGgufLoaderBuildsIt()
    {
        using var folder = new TempFolder();
        string output = folder.File("converted.safetensors");
        var progress = new List<CheckpointProgress>();
        CheckpointConversionReport report = CheckpointConverter.Convert(Fixture("ggml-written.gguf"), output,
                                                                        new SynchronousProgress<CheckpointProgress>(progress.Add));
        using GgufFile gguf = GgufFile.Open(Fixture("ggml-written.gguf"));
        Assert.That(report.Source, Is.EqualTo("gguf"));
        Assert.That(report.Tensors.Select(t => t.Name), Is.EqualTo(gguf.Tensors.Select(t => t.Name.EndsWith(".weight") && t.Type is not (GgufType.F32
            or GgufType.F16 or GgufType.BF16) ? t.Name[..^7] : t.Name)));
        Assert.That(progress[^1], Is.EqualTo(new CheckpointProgress(gguf.Tensors.Count, gguf.Tensors.Count, "")));
        using QuantizedCheckpoint checkpoint = QuantizedCheckpoint.Open(output);
        Assert.That(checkpoint.File.Metadata[CheckpointConverter.SourceKey], Is.EqualTo("gguf"));
        Assert.That(checkpoint.File.Metadata["gguf.general.architecture"], Is.EqualTo("llama"));
        Assert.That(checkpoint.File.Metadata["gguf.test.bool"], Is.EqualTo("true"));
        // Arrays as JSON (the tokenizer's vocabulary), so a converted model keeps its tokenizer.
        string[] tokens = System.Text.Json.JsonDocument.Parse(checkpoint.File.Metadata["gguf.tokenizer.ggml.tokens"]).RootElement.EnumerateArray()
            .Select(e => e.GetString()!).ToArray();
        Assert.That(tokens, Is.EqualTo((string[])gguf.Metadata["tokenizer.ggml.tokens"]));
        Assert.That(checkpoint.File.Metadata["gguf.test.i32_array"], Is.EqualTo("[1,-2,3,-4,5]"));
        int layers = 0;
        foreach (GgufTensorInfo tensor in gguf.Tensors)
        {
            if (tensor.Type is GgufType.F32 or GgufType.F16 or GgufType.BF16)
            {
                Assert.That(checkpoint.File.GetBytes(tensor.Name).ToArray(), Is.EqualTo(gguf.GetBytes(tensor).ToArray()), tensor.Name);
                Assert.That(checkpoint.File.GetTensor(tensor.Name).Shape, Is.EqualTo(tensor.Shape), tensor.Name);
                continue;
            }

            string prefix = tensor.Name[..^".weight".Length];
            AssertSameLayer(gguf.LoadLowBitLinear<float>(prefix), checkpoint.LoadLowBitLinear<float>(prefix), $"{prefix} ({tensor.Type})");
            layers++;
        }

        Assert.That(layers, Is.EqualTo(10));
        Assert.That(checkpoint.LowBitLayers, Has.Count.EqualTo(10));
        // The blocks of 32 keep f16 scales, so Half loads them exactly too.
        var q4 = checkpoint.LoadLowBitLinear<Half>("blk.0.ffn_gate");
        var h = new Half[q4.InFeatures * q4.OutFeatures];
        q4.Dequantize(h);
        var f = new float[h.Length];
        gguf.LoadLowBitLinear<float>("blk.0.ffn_gate").Dequantize(f);
        Assert.That(h, Is.EqualTo(f.Select(v => (Half)v).ToArray()));
    }

    [Test]
    public void Gguf_UnsupportedType_IsNamed_AndNothingIsWritten()
    {
        var builder = new GgufBuilder();
        builder.Tensors.Add(("blk.0.ffn_up.weight", [256, 2], (uint)GgufType.Q8_K, 0));
        using var folder = new TempFolder();
        string input = builder.Write(folder.File("x.gguf"), dataBytes: 2 * 292);
        string output = folder.File("out.safetensors");
        Assert.That(() => CheckpointConverter.Convert(input, output),
                    Throws.TypeOf<NotSupportedException>().With.Message.Contains("Q8_K").And.Message.Contains("blk.0.ffn_up.weight"));
        Assert.That(Directory.GetFiles(folder.Path).Select(Path.GetFileName), Is.EqualTo(new[] { "x.gguf" }));
        Assert.That(() => CheckpointConverter.Convert(input, input), Throws.ArgumentException);
        File.WriteAllText(folder.File("plain.bin"), "not a model");
        Assert.That(() => CheckpointConverter.Convert(folder.File("plain.bin"), output),
                    Throws.TypeOf<InvalidDataException>().With.Message.Contains("neither"));
        Assert.That(() => CheckpointConverter.Convert(folder.File("missing"), output), Throws.TypeOf<FileNotFoundException>());
    }

    [TestCase(GptqAwqMethod.Gptq)]
    [TestCase(GptqAwqMethod.Awq)]
    public void GptqAndAwq_Convert_AndLoadAsTheirLoaderBuildsThem(GptqAwqMethod method)
    {
        const int inFeatures = 128, outFeatures = 32;
        using var folder = new TempFolder();
        var writer = new GptqAwqWriter(method, 4, 32, inFeatures, outFeatures, seed: 17)
        {
            Bias = Enumerable.Range(0, outFeatures).Select(o => (Half)(o * 0.125f)).ToArray(),
        };
        if (method == GptqAwqMethod.Gptq)
        {
            writer.GroupIndex = GptqAwqWriter.ActOrder(inFeatures, 32, seed: 2);
            for (int g = 0; g < writer.Groups; g++)
            {
                for (int o = 0; o < outFeatures; o++) writer.Zeros[g, o] = 1 + (g * 5 + o) % 16;  // 16 included: offsets
            }
        }

        File.WriteAllText(folder.File("config.json"),
            $"{{\"quantization_config\": {{\"quant_method\": \"{method.ToString().ToLowerInvariant()}\", \"bits\": 4, \"group_size\": 32, " +
                $"\"desc_act\": true}}}}");
        var tensors = writer.Tensors("model.layers.0.mlp.down_proj").ToList();
        tensors.Add(SafeTensorData.Create("model.embed_tokens.weight", TestData.Gaussian<Half>(64, 3), 8, 8));
        SafeTensorsWriter.WriteAll(folder.File("model.safetensors"), tensors);
        // Written into the model's own folder: opening the folder again skips it (it is a LowBit checkpoint, not a shard).
        string output = folder.File("out.safetensors");
        CheckpointConversionReport report = CheckpointConverter.Convert(folder.Path, output);
        Assert.That(report.Tensors.Select(t => (t.Name, t.Layer)), Is.EquivalentTo(new[]
        {
            ("model.layers.0.mlp.down_proj", true), ("model.layers.0.mlp.down_proj.bias", false), ("model.embed_tokens.weight", false),
        }));
        using GptqAwqCheckpoint source = GptqAwqCheckpoint.Open(folder.Path);
        using QuantizedCheckpoint converted = QuantizedCheckpoint.Open(output);
        LowBitLinear<float> expected = source.LoadLowBitLinear<float>("model.layers.0.mlp.down_proj");
        Assert.That((expected.HasOffsets, expected.InputPermutation.IsEmpty), Is.EqualTo((method == GptqAwqMethod.Gptq,
                                                                                          method == GptqAwqMethod.Awq)));
        AssertSameLayer(expected, converted.LoadLowBitLinear<float>("model.layers.0.mlp.down_proj"), method.ToString());
        Assert.That(converted.File.Metadata[$"{method.ToString().ToLowerInvariant()}.desc_act"], Is.EqualTo("true"));
        Assert.That(converted.File.GetBytes("model.embed_tokens.weight").ToArray(),
                    Is.EqualTo(source.Files[0].GetBytes("model.embed_tokens.weight").ToArray()));
    }

    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
