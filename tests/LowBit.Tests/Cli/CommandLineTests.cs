using LowBit.Cli.Commands;
using LowBit.IO;
using LowBit.Kernels;
using LowBit.Tests.Infrastructure;
using LowBit.Tests.IO;
using Spectre.Console;

namespace LowBit.Tests.Cli;

/// <summary>
/// The <c>lowbit</c> command as a user meets it: run in-process with stdout and stderr captured. Each test pins a fault
/// the reliability issue found (format of errors, silent no-ops, terminal injection, huge listings).
/// </summary>
[NonParallelizable]
public class CommandLineTests
{
    private TextWriter _out = null!, _error = null!;
    private StringWriter _stdout = null!, _stderr = null!;

    [SetUp]
    public void Capture()
    {
        (_out, _error) = (Console.Out, Console.Error);
        (_stdout, _stderr) = (new StringWriter(), new StringWriter());
        Console.SetOut(_stdout);
        Console.SetError(_stderr);
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(_stdout),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        AnsiConsole.Profile.Width = 200;
    }

    [TearDown]
    public void Restore()
    {
        Console.SetOut(_out);
        Console.SetError(_error);
    }

    private string[] ErrorLines => _stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [TestCase("quantize")]
    [TestCase("quantize", "a.safetensors", "b.safetensors", "--bits", "3")]
    [TestCase("bench", "--batch", "many")]
    [TestCase("frobnicate")]
    public void BadCommandLine_OneErrorLineAndAUsageHint_Exit1(params string[] args)
    {
        int code = LowBitCommand.Run(args);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(2), _stderr.ToString());
        Assert.That(ErrorLines[0], Does.StartWith("lowbit: error: "));
        Assert.That(ErrorLines[1], Does.Contain("--help"));
        Assert.That(_stdout.ToString(), Is.Empty, "no help text unless asked for");
    }

    [Test]
    public void BadCommandLine_MessageIsReadable_NoClrTypeNamesNoLineBreaks()
    {
        Assert.That(LowBitCommand.Run(["quantize", "a", "b", "--bits", "4", "--group-size", "x"]), Is.EqualTo(1));
        Assert.That(ErrorLines[0], Does.Contain("'x'").And.Contain("as a whole number").And.Not.Contain("System."));
        _stderr.GetStringBuilder().Clear();
        Assert.That(LowBitCommand.Run(["quantize", "a", "b", "--bits", "3"]), Is.EqualTo(1));
        Assert.That(ErrorLines[0], Does.Contain("'8' '4' '2'").And.Not.Contain("\\n"));
    }

    [Test]
    public void RootHelp_NamesTheCommandLowbit()
    {
        Assert.That(LowBitCommand.Run(["--help"]), Is.EqualTo(0));
        Assert.That(_stdout.ToString(), Does.Contain("lowbit [command] [options]"));
    }

    [Test]
    public void Help_GoesToStdout_Exit0()
    {
        Assert.That(LowBitCommand.Run(["quantize", "--help"]), Is.EqualTo(0));
        Assert.That(_stdout.ToString(), Does.Contain("--group-size").And.Not.Contain("[default: 0]"));
        Assert.That(_stderr.ToString(), Is.Empty);
    }

    [Test]
    public void Quantize_GroupSizeWithEightBits_IsRejected()
    {
        using var folder = new TempFolder();
        string input = WriteModel(folder, "l.weight");
        Assert.That(LowBitCommand.Run(["quantize", input, folder.File("o.safetensors"), "--group-size", "32"]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(1));
        Assert.That(ErrorLines[0], Does.StartWith("lowbit: error: --group-size applies to --bits 4 or 2 only"));
        Assert.That(File.Exists(folder.File("o.safetensors")), Is.False);
    }

    [Test]
    public void Quantize_GroupSizeThatFitsNothing_IsAnErrorNotAnEmptyW4File()
    {
        using var folder = new TempFolder();
        string input = WriteModel(folder, "l.weight");
        Assert.That(LowBitCommand.Run(["quantize", input, folder.File("o.safetensors"), "--bits", "4", "--group-size", "24"]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(1));
        Assert.That(ErrorLines[0], Does.Contain("'l.weight'").And.Contain("group sizes that divide it").And.Not.Contain("Parameter"));
        Assert.That(File.Exists(folder.File("o.safetensors")), Is.False);
    }

    [Test, CancelAfter(30_000)]
    public void Quantize_CatastrophicPattern_Exit1NamingPatternAndTensor()
    {
        using var folder = new TempFolder();
        string name = new string('a', 40) + "!.weight";
        string input = WriteModel(folder, name);
        Assert.That(LowBitCommand.Run(["quantize", input, folder.File("o.safetensors"), "--exclude", "^(a+)+$"]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(1));
        Assert.That(ErrorLines[0], Does.StartWith("lowbit: error: Exclude pattern '^(a+)+$'").And.Contain(name));
    }

    [Test]
    public void DirectoryAsInput_SaysSo()
    {
        using var folder = new TempFolder();
        Assert.That(LowBitCommand.Run(["inspect", folder.Path]), Is.EqualTo(1));
        Assert.That(LowBitCommand.Run(["quantize", folder.Path, folder.File("o.safetensors")]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(2));
        Assert.That(ErrorLines, Has.All.Contain("is a directory"));
    }

    [Test]
    public void Inspect_ControlCharactersInNamesAndMetadata_AreShownEscaped()
    {
        using var folder = new TempFolder();
        string path = folder.File("evil.safetensors");
        SafeTensorsWriter.WriteAll(path, [SafeTensorData.Create("a\u001b]0;pwned\u0007.weight", new float[4], 2, 2)],
            new Dictionary<string, string> { ["note"] = "line1\nline2\u001b[2J\u202eevil" });
        Assert.That(LowBitCommand.Run(["inspect", path]), Is.EqualTo(0));
        string output = _stdout.ToString();
        Assert.That(output.Any(c => char.IsControl(c) && c is not '\n' and not '\r'), Is.False, "no raw control character reaches the terminal");
        Assert.That(output, Does.Contain(@"a\x1b]0;pwned\x07.weight").And.Contain(@"line1\nline2\x1b[2J\u202eevil"));
    }

    [Test]
    public void Errors_StayOnOneLine_WhateverTheMessageHolds()
    {
        Assert.That(LowBit.Cli.Commands.Cli.Guard(() => throw new InvalidDataException("bad tensor 'x\ny\u001b[31m'")), Is.EqualTo(1));
        Assert.That(ErrorLines, Is.EqualTo(new[] { @"lowbit: error: bad tensor 'x\ny\x1b[31m'" }));
    }

    [Test]
    public void Inspect_ManyTensors_ShowsTheFirstRowsAndTotals_AllStreamsEveryOne()
    {
        using var folder = new TempFolder();
        string path = folder.File("many.safetensors");
        SafeTensorsWriter.WriteAll(path, Enumerable.Range(0, 500).Select(i => SafeTensorData.Create($"t{i:D4}", new float[1], 1)).ToList());
        Assert.That(LowBitCommand.Run(["inspect", path]), Is.EqualTo(0));
        string summary = _stdout.ToString();
        Assert.That(summary, Does.Contain("t0049").And.Not.Contain("t0050"));
        Assert.That(summary, Does.Contain("450 more tensors").And.Contain("500 tensors"));

        _stdout.GetStringBuilder().Clear();
        Assert.That(LowBitCommand.Run(["inspect", path, "--all"]), Is.EqualTo(0));
        Assert.That(_stdout.ToString(), Does.Contain("t0000\tF32").And.Contain("t0499\tF32"));
    }

    [Test]
    public void Inspect_GgufFile_ListsTypesShapesAndEscapedMetadata()
    {
        string path = Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", "ggml-written.gguf");
        Assert.That(LowBitCommand.Run(["inspect", path]), Is.EqualTo(0), _stderr.ToString());
        string output = _stdout.ToString();
        Assert.That(output, Does.Contain("blk.0.attn_q.weight").And.Contain("Q8_0").And.Contain("[4, 64]").And.Contain("Q6_K"));
        Assert.That(output, Does.Contain(@"LowBit fixture \x1b[31mred\x1b[0m\nsecond line"));
        Assert.That(output, Does.Contain("[3 strings: <s>, </s>, hello]").And.Contain("[5 int32s: 1, -2, 3, -4, 5]").And.Contain("true"));
        Assert.That(output, Does.Not.Contain("\u001b"), "no raw escape reaches the terminal");
        Assert.That(_stderr.ToString(), Is.Empty);
    }

    [Test]
    public void Convert_GgufFile_ReportsLayersAndCopies_AndTheResultLoads()
    {
        using var folder = new TempFolder();
        string gguf = Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", "ggml-written.gguf");
        string output = folder.File("model.safetensors");
        Assert.That(LowBitCommand.Run(["convert", gguf, output]), Is.EqualTo(0), _stderr.ToString());
        string text = _stdout.ToString();
        Assert.That(text, Does.Contain("Converted from GGUF").And.Contain("blk.0.attn_k").And.Contain("Q4_K").And.Contain("4-bit layer"));
        Assert.That(text, Does.Contain("10 layers converted, 3 tensors copied"));
        using var checkpoint = QuantizedCheckpoint.Open(output);
        Assert.That(checkpoint.LoadLowBitLinear<float>("blk.0.ffn_down").Bits, Is.EqualTo(2));
        Assert.That(LowBitCommand.Run(["convert", folder.File("missing.gguf"), output]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(1));
        Assert.That(ErrorLines[0], Does.StartWith("lowbit: error: ").And.Contain("missing.gguf"));
    }

    /// <summary>lowbit plan: one row per distinct layer shape and batch, both precisions, and the timings behind a measured plan.</summary>
    [Test]
    public void Plan_GgufFile_ListsTheRoutePerShapeAndBatch_AndWhy()
    {
        string gguf = Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", "ggml-written.gguf");
        PlanMode before = KernelPlanning.Mode;
        try
        {
            KernelPlanning.Mode = PlanMode.Measure;
            Assert.That(LowBitCommand.Run(["plan", gguf, "--batch", "1,8"]), Is.EqualTo(0), _stderr.ToString());
            string text = _stdout.ToString();
            Assert.That(text, Does.Contain("kernels by layer shape (measure plan)").And.Contain("-bit, group "));
            Assert.That(text, Does.Contain("Why (one thread"));
            Assert.That(text, Does.Contain(", batch 1, Float: ").And.Contain(", batch 8-9, Int8: "));
            Assert.That(LowBitCommand.Run(["plan", gguf, "--table"]), Is.EqualTo(0), _stderr.ToString());
            Assert.That(_stdout.ToString(), Does.Contain("(table plan)"));
            Assert.That(KernelPlanning.Mode, Is.EqualTo(PlanMode.Table));
        }
        finally
        {
            KernelPlanning.Mode = before;
        }

        Assert.That(LowBitCommand.Run(["plan", gguf, "--batch", "0,x"]), Is.EqualTo(1));
        Assert.That(ErrorLines, Has.Length.EqualTo(1));
        Assert.That(ErrorLines[0], Does.StartWith("lowbit: error: --batch must list batch sizes"));
    }

    /// <summary>lowbit plan --save writes the measured plans; --load in a later run takes them instead of timing again.</summary>
    [Test]
    public void Plan_SaveThenLoad_TakesThePlansInsteadOfTiming()
    {
        string gguf = Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", "ggml-written.gguf");
        using var folder = new TempFolder();
        string plans = folder.File("plans.txt");
        PlanMode before = KernelPlanning.Mode;
        try
        {
            KernelPlanner.Clear();
            Assert.That(LowBitCommand.Run(["plan", gguf, "--batch", "1,8", "--save", plans]), Is.EqualTo(0), _stderr.ToString());
            int saved = File.ReadLines(plans).Count(l => l.StartsWith("plan ", StringComparison.Ordinal));
            Assert.That(saved, Is.GreaterThan(0));
            Assert.That(_stdout.ToString(), Does.Contain($"Wrote {saved} plans to"));

            KernelPlanner.Clear();
            _stdout.GetStringBuilder().Clear();
            Assert.That(LowBitCommand.Run(["plan", gguf, "--batch", "1,8", "--load", plans]), Is.EqualTo(0), _stderr.ToString());
            Assert.That(_stdout.ToString(), Does.Contain($"Took {saved} plans from"));
            Assert.That(KernelPlanning.Measurements, Has.Count.EqualTo(saved).And.All.Contain("from a plan file"));

            File.WriteAllText(plans, File.ReadAllText(plans).Replace($"machine {KernelPlanning.Machine}", "machine elsewhere"));
            KernelPlanner.Clear();
            _stdout.GetStringBuilder().Clear();
            Assert.That(LowBitCommand.Run(["plan", gguf, "--batch", "1", "--load", plans]), Is.EqualTo(0), _stderr.ToString());
            Assert.That(_stdout.ToString(), Does.Contain("Took 0 plans from").And.Contain("measured on another machine"));
        }
        finally
        {
            KernelPlanning.Mode = before;
            KernelPlanner.Clear();
        }

        Assert.That(LowBitCommand.Run(["plan", gguf, "--table", "--save", plans]), Is.EqualTo(1));
        Assert.That(ErrorLines[^1], Does.StartWith("lowbit: error: --load and --save are for measured plans"));
        Assert.That(LowBitCommand.Run(["plan", gguf, "--load", folder.File("missing.txt")]), Is.EqualTo(1));
        Assert.That(ErrorLines[^1], Does.Contain("missing.txt").And.Contain("does not exist"));
    }

    [Test]
    public void Inspect_GptqFolder_ListsShardsConfigAndLayers()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"),
                          "{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 32, \"desc_act\": false}}");
        var writer = new GptqAwqWriter(GptqAwqMethod.Gptq, 4, 32, 64, 16, seed: 1);
        SafeTensorsWriter.WriteAll(folder.File("model.safetensors"), writer.Tensors("model.layers.0.mlp.up_proj").ToList());
        Assert.That(LowBitCommand.Run(["inspect", folder.Path]), Is.EqualTo(0), _stderr.ToString());
        Assert.That(_stdout.ToString(), Does.Contain("model.layers.0.mlp.up_proj.qweight").And.Contain("desc_act")
            .And.Contain("GPTQ 4-bit, group 32: 1 quantized layer"));
    }

    [Test]
    public void Text_EscapesEveryControlCharacter()
    {
        Assert.That(LowBit.Cli.Commands.Cli.Text("plain name.weight"), Is.EqualTo("plain name.weight"));
        Assert.That(LowBit.Cli.Commands.Cli.Text("a\0b\tc\r\n\u0085\u2028\u202e"), Is.EqualTo(@"a\x00b\tc\r\n\x85\u2028\u202e"));
    }

    private static string WriteModel(TempFolder folder, string weightName)
    {
        string path = folder.File("model.safetensors");
        SafeTensorsWriter.WriteAll(path, [SafeTensorData.Create(weightName, TestData.Gaussian<float>(4 * 8, 3), 4, 8)]);
        return path;
    }
}
