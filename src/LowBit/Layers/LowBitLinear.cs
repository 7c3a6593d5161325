using System.Runtime.CompilerServices;
using LowBit.Internal;
using LowBit.Kernels;

namespace LowBit;

/// <summary>
/// A linear layer with group-wise 2-bit or 4-bit weights (8-bit allowed), kept packed:
/// <c>Forward(x)[b, o] = sum_i x[b, i] * ((q[o, i] - z[o, g(i)]) * s[o, g(i)] - m[o, g(i)]) + bias[o]</c>, g(i) = i / GroupSize,
/// computed in float32 and rounded to <typeparamref name="T"/> once. The float offsets m are zero unless the layer was built
/// with them (<see cref="HasOffsets"/>: formats such as GGUF's Q4_1 and K-quants, whose minimum is not a whole zero
/// point). Each row of <see cref="PackedWeights"/> is <see cref="BitPacking"/>-packed, so 4-bit weights take a quarter and
/// 2-bit weights an eighth of BF16's memory. A layer may also keep its columns in another order
/// (<see cref="InputPermutation"/>: GPTQ's act-order, whose groups are scattered over the input features): column j of
/// the packed weights then meets input feature <c>p[j]</c>.
/// </summary>
/// <typeparam name="T">float, <see cref="Half"/> or <see cref="BFloat16"/>.</typeparam>
/// <remarks>
/// Its values never change once built (the codes may change layout, see <see cref="PackedWeights"/>), so <c>Forward</c> is safe
/// from many threads at once.
/// <code>
/// var layer = LowBitLinear&lt;BFloat16&gt;.FromWeights(w, outFeatures: 11008, inFeatures: 4096, bits: 4, groupSize: 64);
/// BFloat16[] y = layer.Forward(x);
/// </code>
/// </remarks>
public sealed class LowBitLinear<T> : ILinearLayer<T>, IReferenceLayer<T>
{
    private readonly T[] _scales;
    private readonly byte[] _zeroPoints;
    private readonly T[] _offsets;
    private readonly int[] _permutation;
    private readonly T[] _bias;
    private readonly float[] _scaleFloats;    // s, s * z + m, m and the bias as float32: prepared once so Forward converts nothing per call
    private readonly float[] _zeroTerms;
    private readonly float[] _offsetFloats;
    private readonly float[] _biasFloats;
    private readonly GroupLayouts _codes;     // packed rows and/or (made on first use) the codes, scales and zero terms 8 rows interleaved
    private readonly KernelPlan _plan;

    private LowBitLinear(int inFeatures, int outFeatures, int bits, int groupSize, byte[] packed, T[] scales, byte[] zeroPoints, T[] offsets,
                         T[] bias,
                         int[] permutation)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Bits = bits;
        GroupSize = groupSize;
        _scales = scales;
        _zeroPoints = zeroPoints;
        _offsets = offsets;
        _permutation = permutation;
        _bias = bias;
        // float layers share their (immutable) arrays rather than keep a second copy: 4 bytes a group each.
        _scaleFloats = scales as float[] ?? new float[scales.Length];
        if (!ReferenceEquals(_scaleFloats, scales)) Elements<T>.ToSingle(scales, _scaleFloats);
        _offsetFloats = offsets as float[] ?? new float[offsets.Length];
        if (!ReferenceEquals(_offsetFloats, offsets)) Elements<T>.ToSingle(offsets, _offsetFloats);
        _zeroTerms = new float[scales.Length];
        for (int i = 0; i < scales.Length; i++) _zeroTerms[i] = _scaleFloats[i] * zeroPoints[i];
        // The kernels fold a group's whole zero term, s z + m, as one float (one more rounding than Dequantize's).
        for (int i = 0; i < offsets.Length; i++) _zeroTerms[i] += _offsetFloats[i];
        _biasFloats = new float[bias.Length];
        Elements<T>.ToSingle(bias, _biasFloats);
        var shape = LayerShape.Grouped(bits, outFeatures, inFeatures, groupSize);
        _codes = new GroupLayouts(shape, packed, _scaleFloats, _zeroTerms, _zeroPoints, offsets.Length != 0);
        _plan = KernelPlan.Create(shape, parameters: _codes);
    }

    /// <summary>
    /// Quantizes full-precision weights (<paramref name="outFeatures"/> x <paramref name="inFeatures"/>, row-major) with
    /// <see cref="GroupQuantizer"/> and packs each row.
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match or a weight is NaN or infinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is not positive, <paramref name="bits"/> is not 2, 4 or 8, or
    /// <paramref name="groupSize"/> is not a multiple of 8 dividing <paramref name="inFeatures"/>.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static LowBitLinear<T> FromWeights(ReadOnlySpan<T> weights, int outFeatures, int inFeatures, int bits, int groupSize,
                                              ReadOnlySpan<T> bias = default)
    {
        Elements<T>.EnsureSupported();
        int count = ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        ThrowHelper.CheckLength(weights.Length, count, nameof(weights));
        int groups = count / Math.Max(1, groupSize);
        var codes = new byte[count];
        var scales = new T[groups];
        var zeroPoints = new byte[groups];
        GroupQuantizer.Quantize(weights, outFeatures, inFeatures, bits, groupSize, codes, scales, zeroPoints);
        int rowBytes = BitPacking.GetPackedLength(inFeatures, bits);
        var packed = new byte[(long)outFeatures * rowBytes];
        for (int o = 0; o < outFeatures; o++)
        {
            BitPacking.PackUnchecked(codes.AsSpan(o * inFeatures, inFeatures), bits, packed.AsSpan(o * rowBytes, rowBytes));
        }

        return new LowBitLinear<T>(inFeatures, outFeatures, bits, groupSize, packed, scales, zeroPoints, [], bias.ToArray(), []);
    }

    /// <summary>
    /// Wraps already-quantized, packed weights (for example from a checkpoint); everything is copied and checked.
    /// <paramref name="offsets"/> (one per group, or empty for none) gives the format a float offset per group,
    /// <c>w = (q - z) * s - offset</c>: GGUF's Q4_1 <c>d q + m</c> is offset <c>-m</c>, Q4_K's <c>d q - dmin m</c> offset <c>dmin m</c>.
    /// <paramref name="inputPermutation"/> (InFeatures indices, or empty for none) says which input feature each column of
    /// the packed weights multiplies: column j meets <c>x[inputPermutation[j]]</c> (GPTQ's act-order).
    /// </summary>
    /// <exception cref="ArgumentException">A length does not match, a zero point does not fit in <paramref name="bits"/>,
    /// or <paramref name="inputPermutation"/> is not a permutation of 0..InFeatures-1.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension, <paramref name="bits"/> or <paramref name="groupSize"/> is invalid.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public static LowBitLinear<T> FromQuantized(ReadOnlySpan<byte> packedWeights, ReadOnlySpan<T> scales, ReadOnlySpan<byte> zeroPoints,
                                                int outFeatures, int inFeatures, int bits, int groupSize, ReadOnlySpan<T> bias = default,
                                                ReadOnlySpan<T> offsets = default, ReadOnlySpan<int> inputPermutation = default)
    {
        Elements<T>.EnsureSupported();
        ThrowHelper.CheckedProduct(outFeatures, nameof(outFeatures), inFeatures, nameof(inFeatures));
        if (bits is not (2 or 4 or 8)) throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bits must be 2, 4 or 8.");
        if (groupSize <= 0 || groupSize % 8 != 0 || inFeatures % groupSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize,
                                                  $"The group size must be a positive multiple of 8 that divides {inFeatures}.");
        }

        long groups = (long)outFeatures * (inFeatures / groupSize);
        ThrowHelper.CheckLength(packedWeights.Length, (long)outFeatures * BitPacking.GetPackedLength(inFeatures, bits), nameof(packedWeights));
        ThrowHelper.CheckLength(scales.Length, groups, nameof(scales));
        ThrowHelper.CheckLength(zeroPoints.Length, groups, nameof(zeroPoints));
        if (!offsets.IsEmpty) ThrowHelper.CheckLength(offsets.Length, groups, nameof(offsets));
        if (!inputPermutation.IsEmpty) CheckPermutation(inputPermutation, inFeatures);
        if (!bias.IsEmpty) ThrowHelper.CheckLength(bias.Length, outFeatures, nameof(bias));
        int tooBig = zeroPoints.IndexOfAnyInRange((byte)(1 << bits), byte.MaxValue);
        if (bits < 8 && tooBig >= 0)
        {
            throw new ArgumentException($"Zero point {zeroPoints[tooBig]} at index {tooBig} does not fit in {bits} bits.", nameof(zeroPoints));
        }

        return new LowBitLinear<T>(inFeatures, outFeatures, bits, groupSize, packedWeights.ToArray(), scales.ToArray(), zeroPoints.ToArray(),
                                   offsets.ToArray(), bias.ToArray(), inputPermutation.ToArray());
    }

    private static void CheckPermutation(ReadOnlySpan<int> permutation, int inFeatures)
    {
        ThrowHelper.CheckLength(permutation.Length, inFeatures, "inputPermutation");
        var seen = new bool[inFeatures];
        for (int j = 0; j < permutation.Length; j++)
        {
            int i = permutation[j];
            if ((uint)i >= (uint)inFeatures || seen[i])
            {
                throw new ArgumentException($"The input permutation is not a permutation of 0..{inFeatures - 1}: entry {j} is {i}" +
                                            ((uint)i >= (uint)inFeatures ? "." : ", which an earlier entry already names."), "inputPermutation");
            }

            seen[i] = true;
        }
    }

    /// <summary>Input features (columns of the weight matrix).</summary>
    public int InFeatures { get; }

    /// <summary>Output features (rows of the weight matrix).</summary>
    public int OutFeatures { get; }

    /// <summary>Bits per weight: 2, 4 or 8.</summary>
    public int Bits { get; }

    /// <summary>Consecutive weights of a row that share a scale and a zero point.</summary>
    public int GroupSize { get; }

    /// <summary>True when the layer adds a bias.</summary>
    public bool HasBias => _bias.Length != 0;

    /// <summary>
    /// Each row <see cref="BitPacking"/>-packed: OutFeatures x GetPackedLength(InFeatures, Bits) bytes. A layer run only with
    /// int8 activations on a CPU whose kernel reads the rows interleaved holds them only so; this view is then made from that copy.
    /// </summary>
    public ReadOnlySpan<byte> PackedWeights => _codes.RowMajorView();

    /// <summary>Scales, [OutFeatures, InFeatures / GroupSize].</summary>
    public ReadOnlySpan<T> Scales => _scales;

    /// <summary>Zero points, [OutFeatures, InFeatures / GroupSize].</summary>
    public ReadOnlySpan<byte> ZeroPoints => _zeroPoints;

    /// <summary>True when the layer has a float offset per group (<see cref="Offsets"/>).</summary>
    public bool HasOffsets => _offsets.Length != 0;

    /// <summary>Float offsets, [OutFeatures, InFeatures / GroupSize]: <c>w = (q - z) * s - offset</c>; empty when <see cref="HasOffsets"/> is
    /// false.</summary>
    public ReadOnlySpan<T> Offsets => _offsets;

    /// <summary>
    /// The input feature each column of <see cref="PackedWeights"/> multiplies (column j meets <c>x[p[j]]</c>); empty when
    /// the columns are in input order. <see cref="Dequantize"/> always writes input order; with
    /// <see cref="ActivationPrecision.Int8"/> the blocks of 32 are cut from the gathered input, in column order.
    /// </summary>
    public ReadOnlySpan<int> InputPermutation => _permutation;

    /// <summary>One bias per output row; empty when <see cref="HasBias"/> is false.</summary>
    public ReadOnlySpan<T> Bias => _bias;

    /// <summary>Computes the forward pass for a batch x InFeatures input into batch x OutFeatures.</summary>
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
        LinearForward.Run(_plan, Weights, input, output[..outputCount], maxThreads, activations, _permutation);
    }

    private MatMulRunner.Weights Weights => new(default, _scaleFloats, _zeroTerms, _zeroPoints, _biasFloats, _offsetFloats, _codes);

    /// <summary>Runs one kernel on a validated call (tests and benchmarks force each kernel of the registry through it).</summary>
    internal void Run(MatMulKernel kernel, ReadOnlySpan<T> input, Span<T> output, int maxThreads) =>
        MatMulRunner.Run(kernel, _plan.Shape, Weights, input, output, maxThreads);

    /// <inheritdoc/>
    void IReferenceLayer<T>.ForwardReference(ReadOnlySpan<T> input, Span<T> output, ActivationPrecision activations) =>
        Run(activations == ActivationPrecision.Int8 ? KernelRegistry.IntScalar : KernelRegistry.GroupScalar, input, output, maxThreads: 1);

    /// <summary>The scalar reference of <see cref="Forward(ReadOnlySpan{T}, Span{T})"/> (no validation): the benchmark baseline.</summary>
    internal void ForwardScalar(ReadOnlySpan<T> input, Span<T> output) => Run(KernelRegistry.GroupScalar, input, output, maxThreads: 1);

    /// <summary>The routes this layer runs, by precision and batch size.</summary>
    internal KernelPlan Plan => _plan;

    /// <inheritdoc/>
    public long WeightBytes =>
        _codes.HeldBytes + _zeroPoints.LongLength + (long)(_scales.Length + _offsets.Length) * Unsafe.SizeOf<T>()
        + (ReferenceEquals(_scaleFloats, _scales) ? 0 : _scaleFloats.LongLength * sizeof(float))
        + (ReferenceEquals(_offsetFloats, _offsets) ? 0 : _offsetFloats.LongLength * sizeof(float))
        + _zeroTerms.LongLength * sizeof(float) + _permutation.LongLength * sizeof(int);

    /// <inheritdoc/>
    public string Format => $"{Bits}-bit, group {GroupSize}" + (HasOffsets ? ", offsets" : "") + (_permutation.Length != 0 ? ", permuted columns"
        : "");

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

    /// <summary>Writes the dequantized weights <c>(T)((q - z) * s - offset)</c> (float32 arithmetic; no offset term without offsets), OutFeatures x
    /// InFeatures.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than OutFeatures x InFeatures.</exception>
    public void Dequantize(Span<T> destination)
    {
        ThrowHelper.CheckDestination(destination.Length, (long)OutFeatures * InFeatures, nameof(destination));
        var codes = new byte[OutFeatures * InFeatures];
        int rowBytes = BitPacking.GetPackedLength(InFeatures, Bits);
        ReadOnlySpan<byte> packed = _codes.RowMajorView();
        for (int o = 0; o < OutFeatures; o++)
        {
            BitPacking.UnpackUnchecked(packed.Slice(o * rowBytes, rowBytes), Bits, codes.AsSpan(o * InFeatures, InFeatures));
        }

        GroupQuantizer.Dequantize<T>(codes, _scales, _zeroPoints, _offsets, OutFeatures, InFeatures, GroupSize, destination);
        if (_permutation.Length == 0) return;
        // Back to input order: column j holds feature p[j].
        T[] row = new T[InFeatures];
        for (int o = 0; o < OutFeatures; o++)
        {
            Span<T> w = destination.Slice(o * InFeatures, InFeatures);
            w.CopyTo(row);
            for (int j = 0; j < row.Length; j++) w[_permutation[j]] = row[j];
        }
    }

    /// <inheritdoc/>
    public void DequantizeRow(int row, Span<T> destination)
    {
        ThrowHelper.CheckRow(row, OutFeatures, destination.Length, InFeatures);
        int rowBytes = BitPacking.GetPackedLength(InFeatures, Bits), groups = InFeatures / GroupSize;
        byte[] codes = System.Buffers.ArrayPool<byte>.Shared.Rent(InFeatures + rowBytes);
        try
        {
            BitPacking.UnpackUnchecked(_codes.Row(row, codes.AsSpan(InFeatures, rowBytes)), Bits, codes.AsSpan(0, InFeatures));
            Span<T> w = destination[..InFeatures];
            GroupQuantizer.Dequantize<T>(codes.AsSpan(0, InFeatures), _scales.AsSpan(row * groups, groups), _zeroPoints.AsSpan(row * groups, groups),
                                         _offsets.Length == 0 ? default : _offsets.AsSpan(row * groups, groups), 1, InFeatures, GroupSize, w);
            if (_permutation.Length == 0) return;
            T[] copy = w.ToArray();
            for (int j = 0; j < copy.Length; j++) w[_permutation[j]] = copy[j];
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(codes);
        }
    }
}
