using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LowBit.Internal;
using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// A linear layer with full-precision weights, kept as stored (float32, f16 or bf16):
/// <c>Forward(x)[b, o] = sum_i x[b, i] * w[o, i] + bias[o]</c>, computed in float32 and rounded to <typeparamref name="T"/>
/// once. The layers of a model that are not quantized (GGUF F32/F16/BF16 tensors, a BERT checkpoint in F32) run on it
/// beside the quantized ones, behind the same <see cref="ILinearLayer{T}"/>.
/// </summary>
/// <typeparam name="T">The activation type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <remarks>
/// Dense weights have no integer path: <see cref="ActivationPrecision.Int8"/> computes in float32 too, as llama.cpp does
/// for F32 weights. Immutable once built, so <c>Forward</c> is safe from many threads at once.
/// <code>
/// var layer = DenseLinear&lt;float&gt;.FromWeights(weights, outFeatures: 384, inFeatures: 1536, bias);
/// float[] y = layer.Forward(x);
/// </code>
/// </remarks>
public sealed unsafe class DenseLinear<T> : ILinearLayer<T>, IReferenceLayer<T>
{
    private readonly byte* _weights;
    private readonly object _owner;   // keeps the weights alive: a pinned array, or the mapped file they lie in
    private readonly T[] _bias;
    private readonly float[] _biasFloats;

    private DenseLinear(byte* weights, object owner, DenseType type, int outFeatures, int inFeatures, T[] bias)
    {
        _weights = weights;
        _owner = owner;
        WeightType = type;
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        _bias = bias;
        _biasFloats = new float[bias.Length];
        Elements<T>.ToSingle(bias, _biasFloats);
    }

    /// <summary>A layer holding a copy of float32 <paramref name="weights"/> (<paramref name="outFeatures"/> x <paramref name="inFeatures"/>,
    /// row-major).</summary>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static DenseLinear<T> FromWeights(ReadOnlySpan<float> weights, int outFeatures, int inFeatures, ReadOnlySpan<T> bias = default) =>
        Copy(MemoryMarshal.AsBytes(weights), weights.Length, DenseType.Float32, outFeatures, inFeatures, bias);

    /// <summary>A layer holding a copy of f16 <paramref name="weights"/>, kept in f16 (2 bytes a weight).</summary>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static DenseLinear<T> FromHalf(ReadOnlySpan<Half> weights, int outFeatures, int inFeatures, ReadOnlySpan<T> bias = default) =>
        Copy(MemoryMarshal.AsBytes(weights), weights.Length, DenseType.Float16, outFeatures, inFeatures, bias);

    /// <summary>A layer holding a copy of bf16 <paramref name="weights"/>, kept in bf16 (2 bytes a weight).</summary>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static DenseLinear<T> FromBFloat16(ReadOnlySpan<BFloat16> weights, int outFeatures, int inFeatures, ReadOnlySpan<T> bias = default) =>
        Copy(MemoryMarshal.AsBytes(weights), weights.Length, DenseType.BFloat16, outFeatures, inFeatures, bias);

    private static DenseLinear<T> Copy(ReadOnlySpan<byte> bytes, int length, DenseType type, int outFeatures, int inFeatures, ReadOnlySpan<T> bias)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        ThrowHelper.CheckLength(length, count, "weights");
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        byte[] owned = GC.AllocateUninitializedArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(owned);
        return new DenseLinear<T>((byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(owned)), owned, type, outFeatures, inFeatures,
                                  bias.ToArray());
    }

    /// <summary>
    /// A layer over weights that stay where they are (a memory-mapped file): valid while <paramref name="owner"/> keeps
    /// them mapped. The caller has checked the shape and that the memory holds outFeatures x inFeatures weights.
    /// </summary>
    internal static DenseLinear<T> Over(byte* weights, object owner, DenseType type, int outFeatures, int inFeatures, T[] bias) =>
        new(weights, owner, type, outFeatures, inFeatures, bias);

    /// <summary>How the weights are stored.</summary>
    public DenseType WeightType { get; }

    /// <inheritdoc/>
    public int InFeatures { get; }

    /// <inheritdoc/>
    public int OutFeatures { get; }

    /// <inheritdoc/>
    public bool HasBias => _bias.Length != 0;

    /// <summary>One bias per output row; empty when <see cref="HasBias"/> is false.</summary>
    public ReadOnlySpan<T> Bias => _bias;

    /// <inheritdoc/>
    public long WeightBytes => (long)OutFeatures * InFeatures * (WeightType == DenseType.Float32 ? 4 : 2);

    /// <inheritdoc/>
    public string Format => WeightType switch { DenseType.Float32 => "f32 dense", DenseType.Float16 => "f16 dense", _ => "bf16 dense" };

    /// <summary>Computes the forward pass for a batch x InFeatures input into batch x OutFeatures, on every core.</summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures, or output is too short or overlaps it.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output) => Forward(input, output, 0, ActivationPrecision.Float);

    /// <inheritdoc/>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int maxThreads, ActivationPrecision activations)
    {
        int outputCount = LinearForward.Validate(input, output, InFeatures, OutFeatures, maxThreads, activations);
        GC.KeepAlive(_owner);
        DenseMatMul.Run(_weights, WeightType, _biasFloats, InFeatures, OutFeatures, input, output[..outputCount],
                        maxThreads == 0 ? WorkerPool.MaxThreads : maxThreads);
    }

    /// <inheritdoc/>
    void IReferenceLayer<T>.ForwardReference(ReadOnlySpan<T> input, Span<T> output, ActivationPrecision activations)
    {
        GC.KeepAlive(_owner);
        DenseMatMul.Run(_weights, WeightType, _biasFloats, InFeatures, OutFeatures, input, output, maxThreads: 1, reference: true);
    }

    /// <summary>Computes the forward pass into a new batch x OutFeatures array.</summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures.</exception>
    public T[] Forward(ReadOnlySpan<T> input)
    {
        var output = new T[ThrowHelper.OutputLength(input.Length, InFeatures, OutFeatures, nameof(input))];
        Forward(input, output);
        return output;
    }

    /// <inheritdoc/>
    public void Dequantize(Span<T> destination)
    {
        ThrowHelper.CheckDestination(destination.Length, (long)OutFeatures * InFeatures, nameof(destination));
        for (int o = 0; o < OutFeatures; o++) DequantizeRow(o, destination.Slice(o * InFeatures, InFeatures));
    }

    /// <inheritdoc/>
    public void DequantizeRow(int row, Span<T> destination)
    {
        ThrowHelper.CheckRow(row, OutFeatures, destination.Length, InFeatures);
        if (typeof(T) == typeof(float))
        {
            DenseMatMul.Widen(_weights, WeightType, InFeatures, row, 0, InFeatures, SpanCast.As<T, float>(destination)[..InFeatures]);
            return;
        }

        float[] floats = System.Buffers.ArrayPool<float>.Shared.Rent(InFeatures);
        DenseMatMul.Widen(_weights, WeightType, InFeatures, row, 0, InFeatures, floats.AsSpan(0, InFeatures));
        Elements<T>.FromSingle(floats.AsSpan(0, InFeatures), destination[..InFeatures]);
        System.Buffers.ArrayPool<float>.Shared.Return(floats);
    }

    /// <inheritdoc/>
    public string Describe(int batch, ActivationPrecision activations)
    {
        ThrowHelper.CheckCall(batch, activations);
        string width = Lanes512.IsSupported ? "512" : Lanes256.IsSupported ? "256" : Lanes128.IsSupported ? "128" : "scalar";
        return $"dense-{width}";
    }
}
