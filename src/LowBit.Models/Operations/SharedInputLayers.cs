namespace LowBit.Models;

/// <summary>
/// Linear layers that read one input (a block's query, key and value; its gate and up), run as one layer with their rows
/// stacked when their formats agree: one call instead of two or three, so the input is arranged (and rounded to int8)
/// once, the threads fork and join once, and the short layers stream inside a long one. In a TinyLlama decode step the
/// 256-row key and value layers read their weights from memory at 28 G weights/s where the 2048-row query layer reads at
/// 61 and the 5632-row ones at 70: each call's start costs most on the shortest. Row r of the stacked layer is row r of
/// the first part, the second's rows follow, so each output row holds the parts side by side, copied out to each part's
/// own output. Parts that cannot be stacked run one by one, as before. The encoder stacks its q, k and v (MiniLM one
/// sentence per call: +1-6% on one thread, +5-12% on two). The decoder does not: stacking TinyLlama Q4_0's Q/K/V and
/// gate/up decoded 2-4% faster but the stacked copy of 80% of the weights made load 1.15 -> 1.35 s, which only
/// generations of several hundred tokens repay.
/// </summary>
internal sealed class SharedInputLayers
{
    private readonly ILinearLayer<float>[] _parts;
    private readonly ILinearLayer<float>? _stacked;
    private readonly int _width;   // the parts' output features together

    /// <summary>Stacks <paramref name="parts"/> (two or three) when it can; they are not used after this.</summary>
    public SharedInputLayers(params ILinearLayer<float>[] parts)
    {
        Widths = parts.Select(p => p.OutFeatures).ToArray();
        _width = Widths.Sum();
        _stacked = TryStack(parts);
        _parts = _stacked is null ? parts : [];
    }

    /// <summary>Each part's output features.</summary>
    public int[] Widths { get; }

    /// <summary>True when the parts run as one stacked layer.</summary>
    public bool IsStacked => _stacked is not null;

    /// <summary>Bytes of the weights held.</summary>
    public long WeightBytes => _stacked?.WeightBytes ?? _parts.Sum(p => p.WeightBytes);

    /// <summary>Floats of scratch <see cref="Forward"/> needs for <paramref name="rows"/> input rows.</summary>
    public int ScratchLength(int rows) => IsStacked ? rows * _width : 0;

    /// <summary>
    /// Each part's output for <paramref name="rows"/> input rows: <paramref name="first"/>, <paramref name="second"/> and
    /// (three parts) <paramref name="third"/>, each rows x its part's width. <paramref name="scratch"/> holds the stacked
    /// output (<see cref="ScratchLength"/>).
    /// </summary>
    public void Forward(ReadOnlySpan<float> input, int rows, Span<float> scratch, int threads, ActivationPrecision activations,
                        Span<float> first, Span<float> second, Span<float> third = default)
    {
        if (_stacked is null)
        {
            _parts[0].Forward(input, first, threads, activations);
            _parts[1].Forward(input, second, threads, activations);
            if (_parts.Length > 2) _parts[2].Forward(input, third, threads, activations);
            return;
        }

        Span<float> stacked = scratch[..ScratchLength(rows)];
        _stacked.Forward(input, stacked, threads, activations);
        Split(stacked, rows, first, second, third);
    }

    /// <summary>
    /// One layer with the rows of <paramref name="layers"/> in order, or null when they cannot be one: different kinds or
    /// formats (bits, group size, input features, offsets, input order), or dense weights (nothing to gain there: a dense
    /// layer is not streamed from a packed layout). The stacked layer computes each part's rows exactly as the part's
    /// own codes, scales and zero points define them; parts without a bias get zeros where another part has one.
    /// </summary>
    internal static ILinearLayer<float>? TryStack(ILinearLayer<float>[] layers)
    {
        if (layers.Length is < 2 or > 3) return null;
        if (layers.All(l => l is LowBitLinear<float>)) return StackGroups(layers.Cast<LowBitLinear<float>>().ToArray());
        if (layers.All(l => l is W8A16Linear<float>)) return StackInt8(layers.Cast<W8A16Linear<float>>().ToArray());
        return null;
    }

    private static LowBitLinear<float>? StackGroups(LowBitLinear<float>[] parts)
    {
        LowBitLinear<float> first = parts[0];
        bool offsets = !first.Offsets.IsEmpty;
        foreach (LowBitLinear<float> part in parts)
        {
            if (part.Bits != first.Bits || part.GroupSize != first.GroupSize || part.InFeatures != first.InFeatures
                || !part.Offsets.IsEmpty != offsets || !part.InputPermutation.SequenceEqual(first.InputPermutation))
            {
                return null;
            }
        }

        int rows = parts.Sum(p => p.OutFeatures);
        var packed = new byte[(long)rows * BitPacking.GetPackedLength(first.InFeatures, first.Bits)];
        var scales = new float[parts.Sum(p => p.Scales.Length)];
        var zeroPoints = new byte[scales.Length];
        float[] offsetValues = offsets ? new float[scales.Length] : [];
        float[] bias = parts.Any(p => p.HasBias) ? new float[rows] : [];
        int packedAt = 0, groupAt = 0, rowAt = 0;
        foreach (LowBitLinear<float> part in parts)
        {
            ReadOnlySpan<byte> codes = part.PackedWeights;   // a view made on demand from the layer's layouts: once
            codes.CopyTo(packed.AsSpan(packedAt));
            part.Scales.CopyTo(scales.AsSpan(groupAt));
            part.ZeroPoints.CopyTo(zeroPoints.AsSpan(groupAt));
            if (offsets) part.Offsets.CopyTo(offsetValues.AsSpan(groupAt));
            if (part.HasBias) part.Bias.CopyTo(bias.AsSpan(rowAt));
            packedAt += codes.Length;
            groupAt += part.Scales.Length;
            rowAt += part.OutFeatures;
        }

        return LowBitLinear<float>.FromQuantized(packed, scales, zeroPoints, rows, first.InFeatures, first.Bits, first.GroupSize, bias,
                                                 offsetValues, first.InputPermutation);
    }

    private static W8A16Linear<float>? StackInt8(W8A16Linear<float>[] parts)
    {
        int inFeatures = parts[0].InFeatures;
        if (parts.Any(p => p.InFeatures != inFeatures)) return null;
        int rows = parts.Sum(p => p.OutFeatures);
        var weights = new sbyte[(long)rows * inFeatures];
        var scales = new float[rows];
        float[] bias = parts.Any(p => p.HasBias) ? new float[rows] : [];
        int rowAt = 0;
        foreach (W8A16Linear<float> part in parts)
        {
            part.Int8Weights.CopyTo(weights.AsSpan(rowAt * inFeatures));
            part.Scales.CopyTo(scales.AsSpan(rowAt));
            if (part.HasBias) part.Bias.CopyTo(bias.AsSpan(rowAt));
            rowAt += part.OutFeatures;
        }

        return W8A16Linear<float>.FromQuantized(weights, scales, rows, inFeatures, bias);
    }

    /// <summary>
    /// Copies each of <paramref name="rows"/> rows of a stacked layer's output (<paramref name="stacked"/>, the parts side by
    /// side) into the parts' own row-major outputs.
    /// </summary>
    private static void Split(ReadOnlySpan<float> stacked, int rows, Span<float> first, Span<float> second, Span<float> third = default)
    {
        int a = first.Length / rows, b = second.Length / rows, c = third.Length / rows, width = a + b + c;
        for (int r = 0; r < rows; r++)
        {
            ReadOnlySpan<float> row = stacked.Slice(r * width, width);
            row[..a].CopyTo(first.Slice(r * a, a));
            row.Slice(a, b).CopyTo(second.Slice(r * b, b));
            if (c != 0) row.Slice(a + b, c).CopyTo(third.Slice(r * c, c));
        }
    }
}
