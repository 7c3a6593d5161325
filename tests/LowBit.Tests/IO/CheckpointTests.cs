using LowBit.IO;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.IO;

/// <summary><see cref="ICheckpoint"/> over every reader: one way to list layers, load them and read tensors, whatever the format.</summary>
public class CheckpointTests
{
    private static string Fixture(string name) => Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", name);

    /// <summary>Every tensor of the ggml-written file reads as ggml's own dequantization, and every 2-D weight loads as a layer that dequantizes so
    /// too.</summary>
    [Test]
    public void Gguf_ReadsAndLoadsEveryTensorAsGgmlDequantizesIt()
    {
        using ICheckpoint checkpoint = Checkpoint.Open(Fixture("ggml-written.gguf"));
        Assert.That(checkpoint, Is.InstanceOf<GgufFile>());
        Dictionary<string, float[]> expected = GgufFileTests.GgmlDequantized((GgufFile)checkpoint);
        Assert.That(checkpoint.TensorNames, Is.EqualTo(expected.Keys.ToArray()));
        foreach (string name in checkpoint.TensorNames)
        {
            Assert.That(checkpoint.ReadFloats(name), Is.EqualTo(expected[name]), name);
        }

        string[] twoDimensional = checkpoint.TensorNames.Where(n => checkpoint.GetShape(n).Count == 2).Select(n => n[..^".weight".Length]).ToArray();
        Assert.That(checkpoint.Layers, Is.EqualTo(twoDimensional));
        foreach (string prefix in checkpoint.Layers)
        {
            ILinearLayer<float> layer = checkpoint.LoadLayer<float>(prefix);
            IReadOnlyList<long> shape = checkpoint.GetShape(prefix + ".weight");
            Assert.That((layer.OutFeatures, layer.InFeatures), Is.EqualTo(((int)shape[0], (int)shape[1])), prefix);
            var weights = new float[layer.OutFeatures * layer.InFeatures];
            layer.Dequantize(weights);
            Assert.That(weights, Is.EqualTo(expected[prefix + ".weight"]), prefix);
            var row = new float[layer.InFeatures];
            layer.DequantizeRow(layer.OutFeatures - 1, row);
            Assert.That(row, Is.EqualTo(weights[^layer.InFeatures..]), prefix);
        }

        Assert.That(checkpoint.LoadLayer<float>("token_embd"), Is.InstanceOf<DenseLinear<float>>(), "F16 loads as a dense layer");
    }

    /// <summary>A full-precision safetensors file: its 2-D <c>.weight</c> tensors are dense layers; quantizing it turns them into int8 or low-bit
    /// ones under the same names.</summary>
    [Test]
    public void SafeTensors_FullPrecisionAndQuantized_ListTheSameLayers([Values(8, 4)] int bits)
    {
        using var folder = new TempFolder();
        string source = folder.File("model.safetensors"), quantized = folder.File("q.safetensors");
        float[] up = TestData.Gaussian<float>(64 * 32, 1, 0.1), down = TestData.Gaussian<float>(32 * 64, 2, 0.1), norm = TestData.Gaussian<float>(32,
                                                                                                                                                  3);
        float[] upBias = TestData.Gaussian<float>(64, 4);
        SafeTensorsWriter.WriteAll(source,
        [
            SafeTensorData.Create("mlp.up.weight", up, 64, 32), SafeTensorData.Create("mlp.up.bias", upBias, 64),
            SafeTensorData.Create("mlp.down.weight", down, 32, 64), SafeTensorData.Create("norm.weight", norm, 32),
        ]);
        CheckpointQuantizer.Quantize(source, quantized, new CheckpointQuantizerOptions { Bits = bits, GroupSize = bits == 8 ? 0 : 32 });

        foreach (string path in new[] { source, quantized, folder.Path })
        {
            using ICheckpoint checkpoint = Checkpoint.Open(path);
            Assert.That(checkpoint.Layers, Is.EqualTo(new[] { "mlp.up", "mlp.down" }).Or.EqualTo(new[] { "mlp.down", "mlp.up" }), path);
            Assert.That(checkpoint.ReadFloats("norm.weight"), Is.EqualTo(norm));
            Assert.That(checkpoint.GetShape("norm.weight"), Is.EqualTo(new long[] { 32 }));
            ILinearLayer<float> layer = checkpoint.LoadLayer<float>("mlp.up");
            Assert.That(layer.HasBias, Is.True);
            var x = TestData.Gaussian<float>(32, 5);
            var y = new float[64];
            layer.Forward(x, y, 1, ActivationPrecision.Float);
            var weights = new float[64 * 32];
            layer.Dequantize(weights);
            if (path != quantized) Assert.That(weights, Is.EqualTo(up), "full precision loads as stored");
            for (int o = 0; o < 64; o++)
            {
                double exact = upBias[o];
                for (int i = 0; i < 32; i++) exact += (double)x[i] * weights[o * 32 + i];
                Assert.That(y[o], Is.EqualTo(exact).Within(1e-5), $"{path} [{o}]");
            }

            Assert.Throws<KeyNotFoundException>(() => checkpoint.LoadLayer<float>("mlp.missing"));
        }
    }
}
