using LowBit.Internal;

namespace LowBit.Benchmarks.Infrastructure;

/// <summary>Seeded operands for one W8A16 shape in one element type.</summary>
internal sealed class MatMulProblem<T>
{
    public MatMulProblem(int batch, int inFeatures, int outFeatures, int seed = 42)
    {
        var random = new Random(seed);
        Input = new T[batch * inFeatures];
        for (int i = 0; i < Input.Length; i++) Input[i] = Elements<T>.FromSingle((float)(random.NextDouble() * 2 - 1));
        Weights = new sbyte[outFeatures * inFeatures];
        random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Weights.AsSpan()));
        for (int i = 0; i < Weights.Length; i++) if (Weights[i] == -128) Weights[i] = -127;
        Scales = new T[outFeatures];
        Bias = new T[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            Scales[o] = Elements<T>.FromSingle((float)(0.001 + random.NextDouble() * 0.01));
            Bias[o] = Elements<T>.FromSingle((float)(random.NextDouble() - 0.5));
        }

        Output = new T[batch * outFeatures];
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    public T[] Input { get; }
    public sbyte[] Weights { get; }
    public T[] Scales { get; }
    public T[] Bias { get; }
    public T[] Output { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    public void Run(int maxThreads) =>
        W8A16.MatMul<T>(Input, Weights, Scales, Bias, Output, InFeatures, OutFeatures, maxThreads);

    public void RunScalar() =>
        W8A16.MatMulScalar<T>(Input, Weights, Scales, Bias, Output, InFeatures, OutFeatures);
}

/// <summary>One problem in whichever element type a benchmark's parameter picks.</summary>
internal sealed class AnyMatMulProblem
{
    private readonly MatMulProblem<float>? _float;
    private readonly MatMulProblem<Half>? _half;
    private readonly MatMulProblem<BFloat16>? _bfloat16;

    public AnyMatMulProblem(ElementKind kind, int batch, int inFeatures, int outFeatures)
    {
        switch (kind)
        {
            case ElementKind.Float: _float = new(batch, inFeatures, outFeatures); break;
            case ElementKind.Half: _half = new(batch, inFeatures, outFeatures); break;
            default: _bfloat16 = new(batch, inFeatures, outFeatures); break;
        }
    }

    public void Run(int maxThreads)
    {
        if (_float is not null) _float.Run(maxThreads);
        else if (_half is not null) _half.Run(maxThreads);
        else _bfloat16!.Run(maxThreads);
    }

    public void RunScalar()
    {
        if (_float is not null) _float.RunScalar();
        else if (_half is not null) _half.RunScalar();
        else _bfloat16!.RunScalar();
    }

    /// <summary>Parses "OUTxIN".</summary>
    public static (int OutFeatures, int InFeatures) ParseShape(string shape)
    {
        string[] parts = shape.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}
