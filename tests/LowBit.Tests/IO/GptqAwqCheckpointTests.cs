using LowBit;
using LowBit.IO;

namespace LowBit.Tests.IO;

/// <summary>
/// GPTQ and AWQ checkpoints written by <see cref="GptqAwqWriter"/> (the reference implementations' packing) load into
/// LowBit layers whose Dequantize is the format's <c>s (q - z)</c> bit for bit, and whose Forward agrees.
/// </summary>
public class GptqAwqCheckpointTests
{
    private const string Prefix = "model.layers.0.self_attn.q_proj";

    private static void WriteCheckpoint(string folder, string configName, string configJson, params GptqAwqWriter[] layers)
    {
        File.WriteAllText(Path.Combine(folder, configName), configJson);
        var tensors = new List<SafeTensorData>();
        for (int k = 0; k < layers.Length; k++) tensors.AddRange(layers[k].Tensors(k == 0 ? Prefix : $"model.layers.{k}.mlp.up_proj"));
        tensors.Add(SafeTensorData.Create("model.norm.weight", new Half[16], 16));
        SafeTensorsWriter.WriteAll(Path.Combine(folder, "model.safetensors"), tensors);
    }

    private static void CheckLayer(LowBitLinear<float> layer, GptqAwqWriter writer, int inFeatures, int outFeatures, Half[]? bias)
    {
        float[] expected = writer.Dequantized();
        var actual = new float[expected.Length];
        layer.Dequantize(actual);
        Assert.That(actual, Is.EqualTo(expected), "Dequantize is s (q - z), bit for bit");
        var random = new Random(5);
        const int batch = 3;
        float[] x = Enumerable.Range(0, batch * inFeatures).Select(_ => random.NextSingle() * 2 - 1).ToArray();
        foreach (ActivationPrecision precision in new[] { ActivationPrecision.Float, ActivationPrecision.Int8 })
        {
            var y = new float[batch * outFeatures];
            layer.Forward(x, y, 0, precision);
            for (int b = 0; b < batch; b++)
            {
                for (int o = 0; o < outFeatures; o++)
                {
                    double sum = bias is null ? 0 : (double)bias[o], magnitude = 0;
                    for (int i = 0; i < inFeatures; i++)
                    {
                        sum += (double)x[b * inFeatures + i] * expected[o * inFeatures + i];
                        magnitude += Math.Abs((double)x[b * inFeatures + i] * expected[o * inFeatures + i]);
                    }

                    // Int8 activations carry the input's rounding to 8 bits per block of 32 (about 1/254 of each block's max).
                    double tolerance = precision == ActivationPrecision.Float ? 1e-5 * magnitude + 1e-6 : 0.01 * magnitude + 1e-4;
                    Assert.That(y[b * outFeatures + o], Is.EqualTo(sum).Within(tolerance), $"{precision} row {b}, output {o}");
                }
            }
        }
    }

    [TestCase(4, 32, false)]
    [TestCase(4, 32, true)]
    [TestCase(8, 64, false)]
    [TestCase(2, 16, true)]
    public void Gptq_LoadsLosslessly_WithEitherZeroPointConvention(int bits, int groupSize, bool v2)
    {
        const int inFeatures = 128, outFeatures = 48;
        using var folder = new TempFolder();
        var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, bits, groupSize, inFeatures, outFeatures, seed: bits + groupSize)
        {
            ZerosMinusOne = !v2,
            Bias = Enumerable.Range(0, outFeatures).Select(o => (Half)(o * 0.01f - 0.2f)).ToArray(),
        };
        if (!v2)
        {
            // Format "gptq" stores z - 1, so its zero points run 1..2^bits; 2^bits itself needs the float offset.
            for (int g = 0; g < writer.Groups; g++)
            {
                for (int o = 0; o < outFeatures; o++) writer.Zeros[g, o] = 1 + (g * 7 + o * 3) % (1 << bits);
            }

            writer.Zeros[1, 5] = 1 << bits;
        }

        string format = v2 ? ", \"checkpoint_format\": \"gptq_v2\"" : "";
        WriteCheckpoint(folder.Path, "config.json",
            $"{{\"model_type\": \"qwen2\", \"quantization_config\": {{\"quant_method\": \"gptq\", \"bits\": {bits}, \"group_size\": {groupSize}, " +
                $"\"desc_act\": false, \"sym\": false{format}}}}}",
            writer);
        using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path);
        Assert.That((checkpoint.Method, checkpoint.Bits, checkpoint.GroupSize), Is.EqualTo((GptqAwqMethod.Gptq, bits, groupSize)));
        Assert.That(checkpoint.Layers, Is.EqualTo(new[] { Prefix }));
        Assert.That(checkpoint.QuantizationConfig["desc_act"], Is.EqualTo("false"));
        LowBitLinear<float> layer = checkpoint.LoadLowBitLinear<float>(Prefix);
        Assert.That((layer.InFeatures, layer.OutFeatures, layer.Bits, layer.GroupSize), Is.EqualTo((inFeatures, outFeatures, bits, groupSize)));
        Assert.That(layer.HasOffsets, Is.EqualTo(!v2), "only format gptq can say z = 2^bits");
        Assert.That(layer.InputPermutation.IsEmpty, "no act-order");
        CheckLayer(layer, writer, inFeatures, outFeatures, writer.Bias);

        LowBitLinear<Half> half = checkpoint.LoadLowBitLinear<Half>(Prefix + ".qweight");
        var halves = new Half[inFeatures * outFeatures];
        half.Dequantize(halves);
        Assert.That(halves, Is.EqualTo(writer.Dequantized().Select(v => (Half)v).ToArray()), "Half: torch's fp16 s * (q - z), rounded once");
        Assert.That(() => checkpoint.LoadLowBitLinear<BFloat16>(Prefix), Throws.TypeOf<NotSupportedException>().With.Message.Contains("F16"));
    }

    [Test]
    public void Gptq_ActOrder_PermutesColumnsOnce_AndComputesTheSameLayer()
    {
        const int inFeatures = 256, outFeatures = 40, groupSize = 64;
        using var folder = new TempFolder();
        var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, groupSize, inFeatures, outFeatures, seed: 21)
        {
            GroupIndex = GptqAwqWriter.ActOrder(inFeatures, groupSize, seed: 4),
        };
        for (int g = 0; g < writer.Groups; g++)
        {
            for (int o = 0; o < outFeatures; o++) writer.Zeros[g, o] = 1 + (g + o) % 15;
        }

        // AutoGPTQ's own config file, which has no quant_method.
        WriteCheckpoint(folder.Path, "quantize_config.json", "{\"bits\": 4, \"group_size\": 64, \"desc_act\": true, \"sym\": true}", writer);
        using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(Path.Combine(folder.Path, "model.safetensors"));
        Assert.That(checkpoint.Method, Is.EqualTo(GptqAwqMethod.Gptq));
        LowBitLinear<float> layer = checkpoint.LoadLowBitLinear<float>(Prefix);
        Assert.That(layer.InputPermutation.Length, Is.EqualTo(inFeatures));
        for (int j = 0; j < inFeatures; j++)
        {
            Assert.That(writer.GroupIndex[layer.InputPermutation[j]], Is.EqualTo(j / groupSize), $"column {j} lies in its group");
        }

        CheckLayer(layer, writer, inFeatures, outFeatures, bias: null);
    }

    [TestCase("config.json",
              "{\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 64, \"zero_point\": true, \"version\": \"gemm\"}}")]
    [TestCase("quant_config.json", "{\"zero_point\": true, \"q_group_size\": 64, \"w_bit\": 4, \"version\": \"GEMM\"}")]
    public void Awq_LoadsLosslessly_InAwqsNibbleOrder(string configName, string configJson)
    {
        const int inFeatures = 192, outFeatures = 64;
        using var folder = new TempFolder();
        var first = new GptqAwqWriter(GptqAwqMethod.Awq, 4, 64, inFeatures, outFeatures, seed: 8) { Bias = new Half[outFeatures] };
        var second = new GptqAwqWriter(GptqAwqMethod.Awq, 4, 64, 128, 16, seed: 9);
        WriteCheckpoint(folder.Path, configName, configJson, first, second);
        using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path);
        Assert.That((checkpoint.Method, checkpoint.Bits, checkpoint.GroupSize), Is.EqualTo((GptqAwqMethod.Awq, 4, 64)));
        Assert.That(checkpoint.Layers, Is.EqualTo(new[] { Prefix, "model.layers.1.mlp.up_proj" }));
        LowBitLinear<float> layer = checkpoint.LoadLowBitLinear<float>(Prefix);
        Assert.That((layer.InFeatures, layer.OutFeatures, layer.HasBias, layer.HasOffsets), Is.EqualTo((inFeatures, outFeatures, true, false)));
        CheckLayer(layer, first, inFeatures, outFeatures, first.Bias);
        CheckLayer(checkpoint.LoadLowBitLinear<float>("model.layers.1.mlp.up_proj"), second, 128, 16, bias: null);
    }

    [Test]
    public void Shards_AreReadTogether()
    {
        using var folder = new TempFolder();
        var a = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 1);
        var b = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 2);
        File.WriteAllText(folder.File("quantize_config.json"), "{\"bits\": 4, \"group_size\": 32}");
        for (int g = 0; g < 2; g++)
        {
            for (int o = 0; o < 16; o++) a.Zeros[g, o] = b.Zeros[g, o] = 8;
        }

        SafeTensorsWriter.WriteAll(folder.File("model-00001-of-00002.safetensors"), a.Tensors("x").ToList());
        SafeTensorsWriter.WriteAll(folder.File("model-00002-of-00002.safetensors"), b.Tensors("y").ToList());
        using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path);
        Assert.That(checkpoint.Files, Has.Count.EqualTo(2));
        Assert.That(checkpoint.Layers, Is.EqualTo(new[] { "x", "y" }));
        var w = new float[64 * 16];
        checkpoint.LoadLowBitLinear<float>("y").Dequantize(w);
        Assert.That(w, Is.EqualTo(b.Dequantized()));
        Assert.That(GptqAwqCheckpoint.IsGptqOrAwq(folder.Path), Is.True);
        Assert.That(GptqAwqCheckpoint.IsGptqOrAwq(folder.File("model-00001-of-00002.safetensors")), Is.True);
        Assert.That(GptqAwqCheckpoint.IsGptqOrAwq(folder.File("quantize_config.json")), Is.False);

        // With an index, only the files it names are shards.
        File.WriteAllText(folder.File("model.safetensors.index.json"),
                          "{\"metadata\": {}, \"weight_map\": {\"y.qweight\": \"model-00002-of-00002.safetensors\"}}");
        using (GptqAwqCheckpoint indexed = GptqAwqCheckpoint.Open(folder.Path))
        {
            Assert.That(indexed.Layers, Is.EqualTo(new[] { "y" }));
        }

        File.WriteAllText(folder.File("model.safetensors.index.json"), "{\"weight_map\": {\"y.qweight\": \"../elsewhere.safetensors\"}}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("not a file name"));
    }

    /// <summary>What LowBit cannot read, or a file that lies about itself: one clear exception naming the field, nothing else.</summary>
    [Test]
    public void BadConfigsAndTensors_GiveClearErrors()
    {
        using var folder = new TempFolder();
        var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 3);
        for (int g = 0; g < 2; g++)
        {
            for (int o = 0; o < 16; o++) writer.Zeros[g, o] = 8;
        }

        void Config(string json) => File.WriteAllText(folder.File("quantize_config.json"), json);
        SafeTensorsWriter.WriteAll(folder.File("model.safetensors"), writer.Tensors("l").ToList());
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<FileNotFoundException>().With.Message.Contains("quantization config"));
        Assert.That(() => GptqAwqCheckpoint.Open(folder.File("missing")), Throws.TypeOf<FileNotFoundException>());
        Config("{\"bits\": 3, \"group_size\": 32}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<NotSupportedException>().With.Message.Contains("3 bits"));
        Config("{\"bits\": 4, \"group_size\": 32, \"checkpoint_format\": \"marlin\"}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<NotSupportedException>().With.Message.Contains("marlin"));
        Config("{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 32, \"version\": \"gemv\"}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<NotSupportedException>().With.Message.Contains("gemv"));
        Config("{\"quant_method\": \"bitsandbytes\", \"bits\": 4, \"group_size\": 32}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("bitsandbytes"));
        Config("{\"bits\": \"four\", \"group_size\": 32}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("'bits'"));
        Config("{\"bits\": 4, \"group_size\": 0}");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("group size 0"));
        Config("{\"bits\": 4, \"group_size\": 32");
        Assert.That(() => GptqAwqCheckpoint.Open(folder.Path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("not valid JSON"));

        // The config is fine; the tensors are not.
        Config("{\"bits\": 4, \"group_size\": 24}");
        using (GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path))
        {
            Assert.That(() => checkpoint.LoadLowBitLinear<float>("l"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("group size 24"));
            Assert.That(() => checkpoint.LoadLowBitLinear<float>("nope"), Throws.TypeOf<KeyNotFoundException>());
        }

        Config("{\"bits\": 4, \"group_size\": 16}");
        using (GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path))
        {
            Assert.That(() => checkpoint.LoadLowBitLinear<float>("l"), Throws.TypeOf<InvalidDataException>().With.Message.Contains("l.scales"));
        }

        Config("{\"bits\": 4, \"group_size\": 32}");
        foreach ((string name, SafeTensorData replacement, string message) in new[]
        {
            ("l.qzeros", SafeTensorData.Create("l.qzeros", new int[6], 2, 3), "l.qzeros"),
            ("l.qweight", SafeTensorData.Create("l.qweight", new float[128], 8, 16), "qweight"),
            ("l.g_idx", SafeTensorData.Create("l.g_idx", Enumerable.Range(0, 64).Select(i => i == 5 ? 2 : i / 32).ToArray(), 64), "l.g_idx'[5] is 2"),
            ("l.g_idx", SafeTensorData.Create("l.g_idx", Enumerable.Range(0, 64).Select(i => i < 40 ? 0 : 1).ToArray(), 64),
             "40 input features in group 0"),
            ("l.g_idx", SafeTensorData.Create("l.g_idx", new long[64], 64), "I32"),
            ("l.bias", SafeTensorData.Create("l.bias", new Half[15], 15), "l.bias"),
        })
        {
            var tensors = writer.Tensors("l").Where(t => t.Spec.Name != name).Append(replacement).ToList();
            SafeTensorsWriter.WriteAll(folder.File("model.safetensors"), tensors);
            using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path);
            Assert.That(() => checkpoint.LoadLowBitLinear<float>("l"), Throws.TypeOf<InvalidDataException>().With.Message.Contains(message), name);
        }
    }

    /// <summary>
    /// 300 checkpoints with one thing wrong (a config value, or a tensor's dtype, shape or contents): opening, loading and
    /// converting give only the documented exceptions, and a failed conversion leaves no file behind.
    /// </summary>
    [Test]
    public void Fuzz_MutatedCheckpoints_FailCleanly()
    {
        string[] configs =
        [
            "{\"bits\": 4, \"group_size\": 32}", "{\"bits\": 8, \"group_size\": 32}", "{\"bits\": 2, \"group_size\": -1}",
            "{\"bits\": 4, \"group_size\": 2147483647}", "{\"bits\": -4, \"group_size\": 32}", "{\"bits\": 4}", "[]", "",
            "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 32}", "{\"bits\": 4, \"group_size\": 8, \"checkpoint_format\": \"gptq_v2\"}",
        ];
        SafeTensorDType[] dtypes = [SafeTensorDType.I32, SafeTensorDType.F16, SafeTensorDType.F32, SafeTensorDType.U8, SafeTensorDType.I64,
                                    SafeTensorDType.BF16];
        var random = new Random(11);
        using var folder = new TempFolder();
        var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 5)
        {
            GroupIndex = GptqAwqWriter.ActOrder(64, 32, 3),
            Bias = new Half[16]
        };
        List<SafeTensorData> valid = writer.Tensors("l").ToList();
        int failures = 0;
        for (int round = 0; round < 300; round++)
        {
            string config = configs[random.Next(configs.Length)];
            var tensors = valid.ToList();
            if (round % 3 != 0)
            {
                int victim = random.Next(tensors.Count);
                string name = tensors[victim].Spec.Name;
                SafeTensorDType dtype = dtypes[random.Next(dtypes.Length)];
                long[] shape = random.Next(3) switch
                {
                    0 => [random.Next(0, 70)],
                    1 => [random.Next(0, 9), random.Next(0, 70)],
                    _ => [random.Next(1, 3), random.Next(1, 9), random.Next(1, 17)],
                };
                var bytes = new byte[shape.Aggregate(1L, (a, b) => a * b) * dtype.SizeOf()];
                random.NextBytes(bytes);
                tensors[victim] = new SafeTensorData(new SafeTensorSpec(name, dtype, shape), bytes);
            }

            File.WriteAllText(folder.File("quantize_config.json"), config);
            SafeTensorsWriter.WriteAll(folder.File("model.safetensors"), tensors);
            string output = Path.Combine(Path.GetTempPath(), $"lowbit-fuzz-{Guid.NewGuid():N}.safetensors");
            try
            {
                using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(folder.Path);
                foreach (string layer in checkpoint.Layers)
                {
                    checkpoint.LoadLowBitLinear<float>(layer).Forward(new float[checkpoint.LoadLowBitLinear<float>(layer).InFeatures]);
                }

                CheckpointConverter.Convert(folder.Path, output);
                File.Delete(output);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException or KeyNotFoundException or FileNotFoundException)
            {
                failures++;
                Assert.That(File.Exists(output), Is.False, $"round {round}: a failed conversion left {output}");
            }
            catch (Exception e)
            {
                Assert.Fail($"round {round} ({config}, " +
                    $"{string.Join(", ", tensors.Select(t => $"{t.Spec.Name} {t.Spec.DType} [{string.Join(",", t.Spec.Shape)}]"))}): {e}");
            }
        }

        Assert.That(failures, Is.InRange(150, 299), "most mutations are caught, and some rounds are valid");
    }
}
