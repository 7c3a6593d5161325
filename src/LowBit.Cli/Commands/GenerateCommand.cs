using System.CommandLine;
using System.Diagnostics;
using LowBit.Models;

namespace LowBit.Cli.Commands;

/// <summary>
/// <c>lowbit generate MODEL --prompt TEXT</c>: runs a Llama / Qwen2 GGUF model (or a LowBit checkpoint converted from one),
/// streams the generated text to stdout, and ends with one line of figures on stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A GGUF file (llama or qwen2), or a LowBit checkpoint converted from one." };
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 128 };
        var temperature = new Option<float>("--temperature")
        {
            Description = "0 for greedy; higher is more random.",
            DefaultValueFactory = _ =>
            0.8f
        };
        var topK = new Option<int>("--top-k") { Description = "Sample from the K most likely tokens (0 = all).", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p")
        {
            Description = "Sample from the smallest set of tokens whose probability reaches P.",
            DefaultValueFactory = _ => 0.95f
        };
        var seed = new Option<int?>("--seed") { Description = "Random seed: the same seed gives the same text." };
        var threads = new Option<int>("--threads") { Description = "Threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var activations = new Option<string>("--activations")
        {
            Description = "float: exact float32 activations; int8: rounded to int8 per block of 32, as llama.cpp does (faster).",
            DefaultValueFactory = _ => "float",
        };
        activations.AcceptOnlyFromAmong("float", "int8");
        var context = new Option<int>("--context") { Description = "Context length in tokens (0 = the model's).", DefaultValueFactory = _ => 0 };
        var command = new Command("generate", "Run a Llama-family model: stream a continuation of the prompt, then prompt and decode speed.")
        {
            model, prompt, maxTokens, temperature, topK, topP, seed, threads, activations, context,
        };
        command.SetAction(result => Cli.Guard(() =>
        {
            string path = result.GetValue(model)!;
            Cli.CheckInputFile(path);
            var options = new DecoderOptions
            {
                Activations = result.GetValue(activations) == "int8" ? ActivationPrecision.Int8 : ActivationPrecision.Float,
                MaxThreads = Nonnegative(result.GetValue(threads), "--threads"),
                ContextLength = Nonnegative(result.GetValue(context), "--context"),
            };
            var generation = new GenerationOptions
            {
                MaxTokens = Nonnegative(result.GetValue(maxTokens), "--max-tokens"),
                Temperature = result.GetValue(temperature),
                TopK = Nonnegative(result.GetValue(topK), "--top-k"),
                TopP = result.GetValue(topP),
                Seed = result.GetValue(seed),
            };
            if (!(generation.Temperature >= 0)) throw new ArgumentException($"--temperature must be 0 or positive, not {generation.Temperature}.");
            if (!(generation.TopP > 0 && generation.TopP <= 1)) throw new ArgumentException($"--top-p must be in (0, 1], not {generation.TopP}.");
            Signals.Listen();  // Ctrl-C stops between tokens
            return Run(path, result.GetValue(prompt)!, options, generation, Signals.Token);
        }));
        return command;
    }

    private static int Nonnegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be 0 or positive, not {value}.");

    private static int Run(string path, string prompt, DecoderOptions options, GenerationOptions generation, CancellationToken cancellation)
    {
        using var model = DecoderModel.Open(path, options);
        using DecoderSession session = model.CreateSession();
        using var stdout = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false)) { AutoFlush = true };
        foreach (string piece in session.Generate(prompt, generation, cancellation)) stdout.Write(piece);
        stdout.WriteLine();
        GenerationStatistics? stats = session.LastGeneration;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        string speed = stats is null ? "no tokens"
            : $"prompt {stats.PromptTokens} tokens at {stats.PromptTokensPerSecond:0.0} tokens/s, decode {stats.GeneratedTokens} tokens at " +
                $"{stats.DecodeTokensPerSecond:0.0} tokens/s";
        Console.Error.WriteLine($"{speed}; load {model.LoadTime.TotalSeconds:0.00} s; peak memory {Cli.Bytes(peak)} " +
                                $"({model.Config.Architecture}, {model.Activations.ToString().ToLowerInvariant()} activations, " +
                                $"{Cli.Count(options.MaxThreads == 0 ? Environment.ProcessorCount : options.MaxThreads, "thread")})");
        return 0;
    }
}
