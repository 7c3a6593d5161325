using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LowBit.Internal;
using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// A linear layer with int8 weights and per-output-row scales, the .NET counterpart of the
/// PyTorch recipe's <c>W8A16LinearLayer</c>: <c>Forward(x) = (x @ Int8Weights^T) * Scales + Bias</c>.
/// </summary>
/// <typeparam name="T">The activation, scale and bias type: float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <remarks>
/// The weights and scales are replaced as one unit by <see cref="Quantize"/>, so a <see cref="Forward(ReadOnlySpan{T}, Span{T})"/>
/// running on another thread sees either the old or the new pair, never a mix. <c>Forward</c> is safe to call
/// from many threads at once.
/// <code>
/// var layer = W8A16Linear&lt;BFloat16&gt;.FromWeights(weights, outFeatures: 32, inFeatures: 16, bias);
/// BFloat16[] y = layer.Forward(x);          // x: batch x 16, y: batch x 32
/// </code>
/// </remarks>
public sealed class W8A16Linear<T> : ILinearLayer<T>, IReferenceLayer<T>
{
    /// <summary>
    /// Codes and scales, replaced as one unit; the float32 scales are what the kernels read, and the codes are held in the
    /// layouts their kernels have asked for (row-major, interleaved, or both: <see cref="LayerCodes"/>).
    /// </summary>
    private sealed class QuantizedWeights(byte[] codes, T[] scales)
    {
        public Int8Layouts Codes { get; } = new(codes, scales.Length, codes.Length / Math.Max(1, scales.Length));
        public T[] Scales { get; } = scales;
        public float[] ScaleFloats { get; } = ToSingle(scales);
    }

    private QuantizedWeights _weights;
    private readonly T[] _bias;
    private readonly float[] _biasFloats;
    private readonly KernelPlan _plan;

    /// <summary>
    /// Creates a layer with zero weights, unit scales and (when <paramref name="bias"/> is true) a zero bias,
    /// ready for <see cref="Quantize"/>; as the recipe's <c>W8A16LinearLayer(in_features, out_features)</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public W8A16Linear(int inFeatures, int outFeatures, bool bias = true)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var scales = new T[outFeatures];
        scales.AsSpan().Fill(Elements<T>.FromSingle(1f));
        _weights = new QuantizedWeights(new byte[count], scales);
        _bias = bias ? new T[outFeatures] : [];
        _biasFloats = ToSingle(_bias);
        _plan = KernelPlan.Create(LayerShape.Int8(outFeatures, inFeatures));
    }

    private W8A16Linear(int inFeatures, int outFeatures, QuantizedWeights weights, T[] bias)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weights = weights;
        _bias = bias;
        _biasFloats = ToSingle(bias);
        _plan = KernelPlan.Create(LayerShape.Int8(outFeatures, inFeatures));
    }

    private static float[] ToSingle(T[] values)
    {
        var floats = new float[values.Length];
        Elements<T>.ToSingle(values, floats);
        return floats;
    }

    /// <summary>
    /// Quantizes full-precision <paramref name="weights"/> (<paramref name="outFeatures"/> x <paramref name="inFeatures"/>,
    /// row-major, as PyTorch's <c>Linear.weight</c>) into a new layer; <paramref name="bias"/> is copied, or empty for none.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match or a weight is NaN or infinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static W8A16Linear<T> FromWeights(ReadOnlySpan<T> weights, int outFeatures, int inFeatures, ReadOnlySpan<T> bias = default)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        ThrowHelper.CheckLength(weights.Length, count, nameof(weights));
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        var codes = new byte[count];
        var scales = new T[outFeatures];
        Int8Quantizer.QuantizePerChannel(weights, outFeatures, inFeatures, MemoryMarshal.Cast<byte, sbyte>(codes.AsSpan()), scales);
        return new W8A16Linear<T>(inFeatures, outFeatures, new QuantizedWeights(codes, scales), bias.ToArray());
    }

    /// <summary>
    /// Wraps already-quantized weights (for example loaded from a checkpoint): codes are
    /// <paramref name="outFeatures"/> x <paramref name="inFeatures"/>, one scale per output row. All are copied.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive or the weight count overflows.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static W8A16Linear<T> FromQuantized(ReadOnlySpan<sbyte> int8Weights, ReadOnlySpan<T> scales, int outFeatures, int inFeatures,
                                               ReadOnlySpan<T> bias = default)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        ThrowHelper.CheckLength(int8Weights.Length, count, nameof(int8Weights));
        ThrowHelper.CheckLength(scales.Length, outFeatures, nameof(scales));
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        return new W8A16Linear<T>(inFeatures, outFeatures, new QuantizedWeights(MemoryMarshal.AsBytes(int8Weights).ToArray(), scales.ToArray()),
                                  bias.ToArray());
    }

    /// <summary>Input features (columns of the weight matrix).</summary>
    public int InFeatures { get; }

    /// <summary>Output features (rows of the weight matrix).</summary>
    public int OutFeatures { get; }

    /// <summary>True when the layer adds a bias.</summary>
    public bool HasBias => _bias.Length != 0;

    /// <summary>
    /// The int8 codes, <see cref="OutFeatures"/> x <see cref="InFeatures"/>, row-major. A layer run only with int8
    /// activations on a CPU whose kernel reads them interleaved holds them only so; this view is then made from that copy.
    /// </summary>
    public ReadOnlySpan<sbyte> Int8Weights => MemoryMarshal.Cast<byte, sbyte>(Volatile.Read(ref _weights).Codes.RowMajorView());

    /// <summary>One scale per output row.</summary>
    public ReadOnlySpan<T> Scales => _weights.Scales;

    /// <summary>One bias per output row; empty when <see cref="HasBias"/> is false.</summary>
    public ReadOnlySpan<T> Bias => _bias;

    /// <summary>
    /// Replaces <see cref="Int8Weights"/> and <see cref="Scales"/> by the absmax int8 quantization of
    /// <paramref name="weights"/> (<see cref="OutFeatures"/> x <see cref="InFeatures"/>); as the recipe's <c>quantize</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not OutFeatures x InFeatures, or a weight is NaN or infinite. The layer is unchanged
    /// then.</exception>
    public void Quantize(ReadOnlySpan<T> weights)
    {
        ThrowHelper.CheckLength(weights.Length, (long)OutFeatures * InFeatures, nameof(weights));
        var codes = new byte[weights.Length];
        var scales = new T[OutFeatures];
        Int8Quantizer.QuantizePerChannel(weights, OutFeatures, InFeatures, MemoryMarshal.Cast<byte, sbyte>(codes.AsSpan()), scales);
        Volatile.Write(ref _weights, new QuantizedWeights(codes, scales));
    }

    /// <summary>Computes <c>output = (input @ Int8Weights^T) * Scales + Bias</c> for a batch x InFeatures input.</summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures, or output is too short or overlaps it.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output) => Forward(input, output, maxThreads: 0);

    /// <summary>As <see cref="Forward(ReadOnlySpan{T}, Span{T})"/> with at most <paramref name="maxThreads"/> threads (1 = calling thread, 0 = all
    /// cores).</summary>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int maxThreads) => Forward(input, output, maxThreads, ActivationPrecision.Float);

    /// <summary>
    /// As <see cref="Forward(ReadOnlySpan{T}, Span{T}, int)"/>, computing in <paramref name="activations"/> precision:
    /// <see cref="ActivationPrecision.Int8"/> quantizes each input row per block of 32 and multiplies with integer dot
    /// products (faster; the result then matches the float64 product of the quantized input, see <see cref="ActivationPrecision"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures, or output is too short or overlaps it.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxThreads"/> is negative or <paramref name="activations"/> is not
    /// defined.</exception>
    public void Forward(ReadOnlySpan<T> input, Span<T> output, int maxThreads, ActivationPrecision activations)
    {
        int outputCount = LinearForward.Validate(input, output, InFeatures, OutFeatures, maxThreads, activations);
        LinearForward.Run(_plan, Quantized(Volatile.Read(ref _weights)), input, output[..outputCount], maxThreads, activations);
    }

    /// <summary>Runs one kernel on a validated call (tests and benchmarks force each kernel of the registry through it).</summary>
    internal void Run(MatMulKernel kernel, ReadOnlySpan<T> input, Span<T> output, int maxThreads) =>
        MatMulRunner.Run(kernel, _plan.Shape, Quantized(Volatile.Read(ref _weights)), input, output, maxThreads);

    /// <inheritdoc/>
    void IReferenceLayer<T>.ForwardReference(ReadOnlySpan<T> input, Span<T> output, ActivationPrecision activations)
    {
        if (activations == ActivationPrecision.Int8) Run(KernelRegistry.IntScalar, input, output, maxThreads: 1);
        else W8A16.MatMulScalar<T>(input, Int8Weights, Scales, Bias, output, InFeatures, OutFeatures);
    }

    private MatMulRunner.Weights Quantized(QuantizedWeights weights) =>
        new(default, weights.ScaleFloats, default, default, _biasFloats, default, weights.Codes);

    /// <summary>The routes this layer runs, by precision and batch size (for the CLI and the benchmarks).</summary>
    internal KernelPlan Plan => _plan;

    /// <inheritdoc/>
    public long WeightBytes
    {
        get
        {
            QuantizedWeights weights = Volatile.Read(ref _weights);
            return weights.Codes.HeldBytes + (long)weights.Scales.Length * Unsafe.SizeOf<T>()
                + weights.ScaleFloats.LongLength * sizeof(float);
        }
    }

    /// <inheritdoc/>
    public string Format => "int8 per channel";

    /// <inheritdoc/>
    public string Describe(int batch, ActivationPrecision activations)
    {
        ThrowHelper.CheckCall(batch, activations);
        return _plan.Route(batch, activations).ToString();
    }

    /// <summary>Computes the forward pass into a new batch x OutFeatures array.</summary>
    /// <exception cref="ArgumentException">The input is not a positive multiple of InFeatures.</exception>
    public T[] Forward(ReadOnlySpan<T> input)
    {
        var output = new T[ThrowHelper.OutputLength(input.Length, InFeatures, OutFeatures, nameof(input))];
        Forward(input, output);
        return output;
    }

    /// <summary>
    /// Shape-aware forward: an input of shape <c>[..., InFeatures]</c> gives an output of shape <c>[..., OutFeatures]</c>,
    /// as the recipe's <c>(1, 6, 16) -> (1, 6, 32)</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The input has rank 0 or its last dimension is not InFeatures.</exception>
    public Tensor<T> Forward(in ReadOnlyTensorSpan<T> input)
    {
        int rank = input.Rank;
        if (rank == 0 || input.Lengths[rank - 1] != InFeatures)
        {
            throw new ArgumentException(
                $"Input shape [{string.Join(", ", input.Lengths.ToArray())}] must end in InFeatures ({InFeatures}).", nameof(input));
        }

        nint[] shape = input.Lengths.ToArray();
        shape[rank - 1] = OutFeatures;
        long rows = input.FlattenedLength / InFeatures;
        if (rows * OutFeatures > Array.MaxLength) throw new ArgumentException("The output would be too large.", nameof(input));
        var output = new T[rows * OutFeatures];
        if (rows > 0)
        {
            ReadOnlySpan<T> flat;
            if (input.IsDense)
            {
                flat = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.AsRef(in input.GetPinnableReference()), checked((int)input.FlattenedLength));
            }
            else
            {
                var copy = new T[input.FlattenedLength];
                input.FlattenTo(copy);
                flat = copy;
            }

            Forward(flat, output);
        }

        return Tensor.Create(output, shape);
    }

    /// <summary>Writes the dequantized weights <c>(T)(Int8Weights[o,i] * Scales[o])</c>, OutFeatures x InFeatures.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than OutFeatures x InFeatures.</exception>
    public void Dequantize(Span<T> destination)
    {
        ThrowHelper.CheckDestination(destination.Length, (long)OutFeatures * InFeatures, nameof(destination));
        QuantizedWeights weights = Volatile.Read(ref _weights);
        Int8Quantizer.Dequantize<T>(MemoryMarshal.Cast<byte, sbyte>(weights.Codes.RowMajorView()), weights.Scales, OutFeatures, InFeatures,
                                    destination);
    }

    /// <inheritdoc/>
    public void DequantizeRow(int row, Span<T> destination)
    {
        ThrowHelper.CheckRow(row, OutFeatures, destination.Length, InFeatures);
        QuantizedWeights weights = Volatile.Read(ref _weights);
        byte[] codes = System.Buffers.ArrayPool<byte>.Shared.Rent(InFeatures);
        try
        {
            Int8Quantizer.Dequantize<T>(MemoryMarshal.Cast<byte, sbyte>(weights.Codes.Row(row, codes)), weights.Scales.AsSpan(row, 1), 1, InFeatures,
                                        destination);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(codes);
        }
    }
}
