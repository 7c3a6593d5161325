using System.Numerics.Tensors;
using System.Text.RegularExpressions;
using LowBit;
using LowBit.IO;
using LowBit.Models;
using LowBit.Tests.Infrastructure;
using LowBit.Tests.IO;
using LowBit.Tests.Models;

namespace LowBit.Tests.Readme;

/// <summary>
/// The README's C# blocks, compiled and run. <see cref="EveryReadmeBlock_IsCompiledHere"/> fails when a README block has a
/// line that is not, in order, in this file: edit the code here and paste it there (the method bodies are the snippets).
/// </summary>
[NonParallelizable]
public class ReadmeSnippetTests
{
    private static void ThirtySecondExample()
    {
        // Full-precision weights, outFeatures x inFeatures as in PyTorch's Linear.weight, and a batch of 6 inputs (here random).
        var random = new Random(0);
        BFloat16[] weights = new BFloat16[32 * 16];
        for (int i = 0; i < weights.Length; i++) weights[i] = (BFloat16)(random.NextSingle() - 0.5f);
        BFloat16[] x = new BFloat16[6 * 16];
        for (int i = 0; i < x.Length; i++) x[i] = (BFloat16)(random.NextSingle() * 2 - 1);

        var layer = W8A16Linear<BFloat16>.FromWeights(weights, outFeatures: 32, inFeatures: 16);
        BFloat16[] y = layer.Forward(x);                     // 6 x 32: (x @ int8^T) * scales + bias
        Console.WriteLine($"y[0] = {(float)y[0]:0.0000}; weights: {layer.Int8Weights.Length} bytes instead of {weights.Length * 2}");

        // Opt-in int8 activations: each input row quantized per block of 32, integer dot products (see Performance).
        BFloat16[] yq = new BFloat16[6 * 32];
        layer.Forward(x, yq, maxThreads: 0, ActivationPrecision.Int8);
        Console.WriteLine($"y[0] with int8 activations = {(float)yq[0]:0.0000}");

        // With shapes, as the PyTorch recipe's (1, 6, 16) -> (1, 6, 32):
        Tensor<BFloat16> y3 = layer.Forward(Tensor.Create(x, [1, 6, 16]).AsReadOnlyTensorSpan());
        Console.WriteLine($"shape [{string.Join(", ", y3.Lengths.ToArray())}]");

        // The pieces on their own:
        var codes = new sbyte[32 * 16];
        var scales = new BFloat16[32];
        Int8Quantizer.QuantizePerChannel<BFloat16>(weights, 32, 16, codes, scales);
        W8A16.MatMul<BFloat16>(x, codes, scales, bias: [], y, inFeatures: 16, outFeatures: 32, maxThreads: 1);
        byte[] packed = BitPacking.Pack([1, 0, 3, 2], bits: 2);  // [177]: first value in the lowest bits
        Console.WriteLine($"packed: {packed[0]}");

        // 4-bit weights, one scale and zero point per 8 weights, kept packed:
        var small = LowBitLinear<BFloat16>.FromWeights(weights, 32, 16, bits: 4, groupSize: 8);
        BFloat16[] y4 = small.Forward(x);
        Console.WriteLine($"4-bit: y[0] = {(float)y4[0]:0.0000}; weights: {small.PackedWeights.Length} bytes");
    }

    private static void InAService()
    {
        using var checkpoint = QuantizedCheckpoint.Open("model.w8a16.safetensors");
        W8A16Linear<BFloat16> upProj = checkpoint.LoadLinear<BFloat16>("model.layers.0.mlp.up_proj"); // bias too, if stored
        BFloat16[] hidden = new BFloat16[upProj.InFeatures];  // one token's activations
        for (int i = 0; i < hidden.Length; i++) hidden[i] = (BFloat16)Random.Shared.NextSingle();
        BFloat16[] up = upProj.Forward(hidden);
        upProj.Forward(hidden, up, maxThreads: 0, ActivationPrecision.Int8);  // this layer with int8 activations
        Console.WriteLine($"{upProj.OutFeatures} outputs, up[0] = {(float)up[0]:0.000}");
        // 4-bit or 2-bit checkpoints: checkpoint.LoadLowBitLinear<BFloat16>(prefix)
    }

    private static void PublishedModels()
    {
        using var gguf = GgufFile.Open("model.gguf");
        LowBitLinear<float> q = gguf.LoadLowBitLinear<float>("blk.0.attn_q");      // Q4_K, Q6_K, Q8_0, ...
        using var gptq = GptqAwqCheckpoint.Open("model-gptq");                       // folder with config.json
        LowBitLinear<float> down = gptq.LoadLowBitLinear<float>(gptq.Layers[0]);
        CheckpointConverter.Convert("model.gguf", "model.lowbit.safetensors");        // what lowbit convert does
        using var converted = QuantizedCheckpoint.Open("model.lowbit.safetensors");
        LowBitLinear<float> same = converted.LoadLowBitLinear<float>("blk.0.attn_q");  // the same layer, no GGUF needed
        Console.WriteLine($"{q.OutFeatures}x{q.InFeatures}, {q.Bits}-bit, group {q.GroupSize}, offsets: {q.HasOffsets}");
        Assert.That(same.PackedWeights.ToArray(), Is.EqualTo(q.PackedWeights.ToArray()));
        Assert.That(down.InFeatures, Is.EqualTo(64));
    }

    private static void RunAModel()
    {
        using var model = DecoderModel.Open("tinyllama.Q4_0.gguf", new DecoderOptions { Activations = ActivationPrecision.Int8 });
        foreach (string piece in model.Generate("Once upon a time", new GenerationOptions { MaxTokens = 64, Seed = 1 })) Console.Write(piece);

        // Logits, as llama.cpp's llama_decode gives them: a session per conversation, the prompt in one batched pass.
        using DecoderSession session = model.CreateSession();
        int[] prompt = [model.Tokenizer.BosId ?? 1, .. model.Tokenizer.EncodeToIds("The capital of France is")];
        float[] logits = new float[prompt.Length * model.VocabularySize];
        session.Evaluate(prompt, logits);   // every position's logits; the KV cache now holds the prompt
        Console.WriteLine($"\n{prompt.Length} tokens, {model.Config.Architecture}, {model.Config.Layers} layers");
    }

    private static void SentenceEmbeddings()
    {
        using var encoder = EncoderModel.Open("all-MiniLM-L6-v2");   // config.json, vocab.txt, model.safetensors (float or quantized)
        float[] a = encoder.Embed("A cat sits on the mat."), b = encoder.Embed("A kitten rests on a rug.");
        Console.WriteLine($"cosine {TensorPrimitives.Dot(a, b):0.000}");   // embeddings are L2-normalized
        float[] many = new float[3 * encoder.Dimension];
        encoder.Embed(["first text", "second", "third, packed with the others without padding"], many);
    }

    [Test]
    public void RunAModel_GeneratesAndEvaluates()
    {
        using var folder = new TempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder.Path;
            new TinyDecoder { Type = GgufType.Q4_0 }.Write("tinyllama.Q4_0.gguf");
            Assert.That(Capture(RunAModel), Does.EndWith("tokens, llama, 2 layers" + Environment.NewLine));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Test]
    public void SentenceEmbeddings_Embed()
    {
        using var folder = new TempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder.Path;
            new TinyEncoder().Write("all-MiniLM-L6-v2");
            Assert.That(Capture(SentenceEmbeddings), Does.StartWith("cosine "));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Test]
    public void PublishedModels_LoadAndConvert()
    {
        using var folder = new TempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder.Path;
            File.Copy(Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", "ggml-written.gguf"), "model.gguf");
            Directory.CreateDirectory("model-gptq");
            File.WriteAllText("model-gptq/quantize_config.json", "{\"bits\": 4, \"group_size\": 32}");
            var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 1);
            SafeTensorsWriter.WriteAll("model-gptq/model.safetensors", writer.Tensors("model.layers.0.mlp.down_proj").ToList());
            Assert.That(Capture(PublishedModels), Does.StartWith("4x64, 8-bit, group 32, offsets: False"));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Test]
    public void ThirtySecondExample_RunsAndShowsResults()
    {
        string output = Capture(ThirtySecondExample);
        Assert.That(output, Does.Contain("bytes instead of 1024").And.Contain("packed: 177").And.Contain("shape [1, 6, 32]"));
        Assert.That(output, Does.Not.Contain("y[0] = 0.0000"), "the example computes on a non-zero input");
    }

    [Test]
    public void InAService_RunsOnAQuantizedCheckpoint()
    {
        using var folder = new TempFolder();
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = folder.Path;
            float[] up = TestData.Gaussian<float>(48 * 32, 5, 0.05);
            SafeTensorsWriter.WriteAll("model.safetensors", [SafeTensorData.Create("model.layers.0.mlp.up_proj.weight", up, 48, 32)]);
            CheckpointQuantizer.Quantize("model.safetensors", "model.w8a16.safetensors");
            Assert.That(Capture(InAService), Does.StartWith("48 outputs, up[0] = "));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    /// <summary>The README's plan-mode lines: measure mode, then the measurements made so far (a measured layer call first),
    /// then the plan file they are saved to.</summary>
    [Test]
    public void PlanModeSnippet_ListsTheMeasurements()
    {
        var layer = LowBitLinear<float>.FromWeights(TestData.Gaussian<float>(64 * 256, seed: 3, std: 0.1), 64, 256, 4, 32);
        using var folder = new TempFolder();
        string planFile = folder.File("lowbit-plans.txt");
        PlanMode before = KernelPlanning.Mode;
        try
        {
            KernelPlanning.Mode = PlanMode.Measure;
            layer.Forward(new float[3 * 256], new float[3 * 64]);
            string printed = Capture(() =>
            {
                KernelPlanning.Mode = PlanMode.Measure;   // or LOWBIT_PLAN=measure; PlanMode.Table (the default) is the registry's ranges
                foreach (string line in KernelPlanning.Measurements) Console.WriteLine(line);   // what was measured, and the timings
                KernelPlanning.Save(planFile);   // the plans as text, for a later process on this machine: KernelPlanning.Load(planFile)
            });
            Assert.That(printed, Does.Contain("Group4 64x256 group 32, batch 2-3, Float: "));
            Assert.That(KernelPlanning.Mode, Is.EqualTo(PlanMode.Measure));
            Assert.That(File.ReadAllText(planFile), Does.Contain("\nplan Group4 64 256 32 2 Float float "));
        }
        finally
        {
            KernelPlanning.Mode = before;
        }
    }

    [Test]
    public void EveryReadmeBlock_IsCompiledHere()
    {
        string readme = Repository.Read("README.md");
        string[] here = Repository.Read("tests/LowBit.Tests/Readme/ReadmeSnippetTests.cs").Split('\n').Select(l => l.Trim()).ToArray();
        MatchCollection blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline);
        Assert.That(blocks, Has.Count.GreaterThanOrEqualTo(2));
        foreach (Match block in blocks)
        {
            int at = 0;
            foreach (string line in block.Groups[1].Value.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
            {
                int found = Array.IndexOf(here, line, at);
                Assert.That(found, Is.GreaterThanOrEqualTo(0), $"README line not compiled by this file (in this order): {line}");
                at = found + 1;
            }
        }
    }

    private static string Capture(Action snippet)
    {
        TextWriter previous = Console.Out;
        var output = new StringWriter();
        Console.SetOut(output);
        try
        {
            snippet();
        }
        finally
        {
            Console.SetOut(previous);
        }

        return output.ToString();
    }
}
