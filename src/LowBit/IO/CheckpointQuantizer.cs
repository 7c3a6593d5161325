using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace LowBit.IO;

/// <summary>Options for <see cref="CheckpointQuantizer.Quantize"/>.</summary>
public sealed class CheckpointQuantizerOptions
{
    /// <summary>Regular expressions; a <c>.weight</c> tensor whose name matches any of them is copied, not quantized (for example
    /// <c>embed|lm_head</c>).</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>Whether to measure each quantized tensor's error (a second pass over its weights). On by default.</summary>
    public bool MeasureError { get; init; } = true;

    /// <summary>8 (the default: W8A16, int8 with per-row scales), or 4 or 2 for group-wise asymmetric weights
    /// (<see cref="GroupQuantizer"/>).</summary>
    public int Bits { get; init; } = 8;

    /// <summary>Weights per group for 4 and 2 bits; 0 picks 64 for 4 bits and 32 for 2 bits. Layers whose input size it does not divide are
    /// copied.</summary>
    public int GroupSize { get; init; }

    /// <summary>The group size in effect.</summary>
    public int EffectiveGroupSize => GroupSize != 0 ? GroupSize : Bits == 2 ? 32 : 64;
}

/// <summary>What happened to one input tensor.</summary>
/// <param name="Name">The input tensor's name.</param>
/// <param name="DType">Its dtype.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="Quantized">True when it became <c>.int8_weights</c> + <c>.scales</c>; false when copied.</param>
/// <param name="InputBytes">Bytes it took in the input.</param>
/// <param name="OutputBytes">Bytes its replacement (or copy) takes in the output.</param>
/// <param name="Error">Dequantized-versus-original error, for quantized tensors when measured.</param>
public sealed record TensorQuantizationReport(string Name, SafeTensorDType DType, IReadOnlyList<long> Shape, bool Quantized,
                                              long InputBytes, long OutputBytes, QuantizationError? Error);

/// <summary>The result of quantizing a checkpoint.</summary>
/// <param name="Tensors">One entry per input tensor, in file order.</param>
/// <param name="InputBytes">Size of the input file.</param>
/// <param name="OutputBytes">Size of the output file.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record CheckpointQuantizationReport(IReadOnlyList<TensorQuantizationReport> Tensors, long InputBytes, long OutputBytes,
                                                  TimeSpan Elapsed);

/// <summary>Progress of a checkpoint quantization: tensors done out of the total, and the one being processed.</summary>
public readonly record struct CheckpointProgress(int Done, int Total, string Tensor);

/// <summary>
/// Quantizes every linear layer of a safetensors checkpoint to W8A16, whatever the model: each
/// 2-D F32/F16/BF16 tensor named <c>&lt;prefix&gt;.weight</c> becomes <c>&lt;prefix&gt;.int8_weights</c> (I8, [out, in])
/// and <c>&lt;prefix&gt;.scales</c> (the weight's dtype, [out]), the names of the recipe's <c>W8A16LinearLayer</c>
/// state dict; every other tensor is copied byte for byte. Works tensor by tensor over a memory-mapped
/// input, so memory stays near the largest tensor, and writes the output atomically.
/// </summary>
/// <remarks>
/// <code>
/// var report = CheckpointQuantizer.Quantize("model.safetensors", "model.w8a16.safetensors",
///     new CheckpointQuantizerOptions { Exclude = ["embed_tokens", "lm_head"] });
/// using var checkpoint = QuantizedCheckpoint.Open("model.w8a16.safetensors");
/// W8A16Linear&lt;BFloat16&gt; upProj = checkpoint.LoadLinear&lt;BFloat16&gt;("model.layers.0.mlp.up_proj");
/// </code>
/// </remarks>
public static class CheckpointQuantizer
{
    /// <summary>Metadata key recording the quantization format.</summary>
    public const string FormatKey = "lowbit.format";

    /// <summary>The value of <see cref="FormatKey"/> for int8 weights with per-row scales.</summary>
    public const string FormatW8A16 = "w8a16";

    /// <summary>Metadata key recording the exclusion patterns (joined with <c>" | "</c>).</summary>
    public const string ExcludeKey = "lowbit.exclude";

    /// <summary>Suffix of a quantized layer's int8 codes.</summary>
    public const string Int8WeightsSuffix = ".int8_weights";

    /// <summary>Suffix of a quantized layer's scales (per row for int8, per group for 4 and 2 bits).</summary>
    public const string ScalesSuffix = ".scales";

    /// <summary>Suffix of a low-bit layer's packed codes (U8, [out, packed bytes per row]).</summary>
    public const string PackedWeightsSuffix = ".packed_weights";

    /// <summary>Suffix of a low-bit layer's zero points (U8, [out, groups]).</summary>
    public const string ZeroPointsSuffix = ".zero_points";

    /// <summary>Suffix of a low-bit layer's float offsets per group (<c>w = (q - z) s - offset</c>; [out, groups]), present only when it has
    /// them.</summary>
    public const string OffsetsSuffix = ".offsets";

    /// <summary>Suffix of a low-bit layer's input permutation (I32 [in]: column j multiplies input p[j]), present only when its columns are not in
    /// input order.</summary>
    public const string InputPermutationSuffix = ".input_permutation";

    /// <summary>
    /// Metadata key prefix recording one layer's bits where the layers of a file differ (converted checkpoints):
    /// <c>lowbit.bits.&lt;prefix&gt;</c>, ahead of the file's <see cref="BitsKey"/>.
    /// </summary>
    public const string LayerBitsKeyPrefix = "lowbit.bits.";

    /// <summary>Metadata key prefix recording one layer's group size (<c>lowbit.group_size.&lt;prefix&gt;</c>), ahead of the file's
    /// <see cref="GroupSizeKey"/>.</summary>
    public const string LayerGroupSizeKeyPrefix = "lowbit.group_size.";

    /// <summary>Metadata key recording the bits of a low-bit checkpoint.</summary>
    public const string BitsKey = "lowbit.bits";

    /// <summary>Metadata key recording the group size of a low-bit checkpoint.</summary>
    public const string GroupSizeKey = "lowbit.group_size";

    private const string WeightSuffix = ".weight";

    /// <summary>Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/>.</summary>
    /// <exception cref="ArgumentException">A path is empty, both paths are the same file, or a pattern is not a valid regular expression.</exception>
    /// <exception cref="FileNotFoundException">The input does not exist.</exception>
    /// <exception cref="InvalidDataException">The input is not a valid safetensors file, holds NaN or infinite weights, or
    /// already holds a tensor with an output name. No output file is written then.</exception>
    public static CheckpointQuantizationReport Quantize(string inputPath, string outputPath, CheckpointQuantizerOptions? options = null,
                                                        IProgress<CheckpointProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        options ??= new CheckpointQuantizerOptions();
        if (string.Equals(Path.GetFullPath(inputPath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
        {
            throw new ArgumentException("The output must be a different file from the input.", nameof(outputPath));
        }

        if (options.Bits is not (8 or 4 or 2))
        {
            throw new ArgumentException($"Bits must be 8, 4 or 2, not {options.Bits}.", nameof(options));
        }

        int groupSize = options.EffectiveGroupSize;
        if (options.Bits == 8 && options.GroupSize != 0)
        {
            throw new ArgumentException($"A group size ({options.GroupSize}) applies to 4 and 2 bits only: 8 bits have one scale per row.",
                                        nameof(options));
        }

        if (options.Bits != 8 && (groupSize <= 0 || groupSize % 8 != 0))
        {
            throw new ArgumentException($"The group size must be a positive multiple of 8, not {groupSize}.", nameof(options));
        }

        Regex[] exclude = options.Exclude.Select(CompilePattern).ToArray();
        var stopwatch = Stopwatch.StartNew();
        using SafeTensorsFile input = SafeTensorsFile.Open(inputPath);

        // Plan every output tensor first: the header is written before any data.
        var specs = new List<SafeTensorSpec>();
        var plan = new List<bool>();
        SafeTensorInfo? firstMisfit = null;
        foreach (SafeTensorInfo tensor in input.Tensors)
        {
            bool candidate = IsLinearWeight(tensor) && !IsExcluded(exclude, tensor.Name);
            bool fits = candidate && (options.Bits == 8 || tensor.Shape[1] % groupSize == 0);
            if (candidate && !fits) firstMisfit ??= tensor;
            bool quantize = candidate && fits;
            plan.Add(quantize);
            string prefix = tensor.Name[..Math.Max(0, tensor.Name.Length - WeightSuffix.Length)];
            if (quantize && options.Bits == 8)
            {
                specs.Add(new SafeTensorSpec(prefix + Int8WeightsSuffix, SafeTensorDType.I8, tensor.Shape));
                specs.Add(new SafeTensorSpec(prefix + ScalesSuffix, tensor.DType, [tensor.Shape[0]]));
            }
            else if (quantize)
            {
                long groups = tensor.Shape[1] / groupSize;
                specs.Add(new SafeTensorSpec(prefix + PackedWeightsSuffix, SafeTensorDType.U8, [tensor.Shape[0],
                                                                                                tensor.Shape[1] * options.Bits / 8]));
                specs.Add(new SafeTensorSpec(prefix + ScalesSuffix, tensor.DType, [tensor.Shape[0], groups]));
                specs.Add(new SafeTensorSpec(prefix + ZeroPointsSuffix, SafeTensorDType.U8, [tensor.Shape[0], groups]));
            }
            else
            {
                specs.Add(new SafeTensorSpec(tensor.Name, tensor.DType, tensor.Shape));
            }
        }

        // A group size that fits no layer would write an unquantized file labelled w4a16: say which sizes would work.
        if (firstMisfit is not null && !plan.Contains(true))
        {
            long width = firstMisfit.Shape[1];
            string valid = string.Join(", ", Enumerable.Range(1, 64).Select(k => 8L * k).Where(g => width % g == 0).Take(8));
            throw new ArgumentException(
                $"Group size {groupSize} divides the width of no linear layer; the first, '{firstMisfit.Name}', has {width} columns " +
                (valid.Length > 0 ? $"(group sizes that divide it: {valid})." : "(no multiple of 8 up to 512 divides it)."), nameof(options));
        }

        string? clash = specs.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (clash is not null)
        {
            throw new InvalidDataException($"The input already holds a tensor named '{clash}', which quantization would also write.");
        }

        var metadata = new Dictionary<string, string>(input.Metadata, StringComparer.Ordinal)
        {
            [FormatKey] = options.Bits == 8 ? FormatW8A16 : $"w{options.Bits}a16",
            [ExcludeKey] = string.Join(" | ", options.Exclude),
        };
        if (options.Bits != 8)
        {
            metadata[BitsKey] = options.Bits.ToString(System.Globalization.CultureInfo.InvariantCulture);
            metadata[GroupSizeKey] = groupSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var reports = new List<TensorQuantizationReport>();
        using (SafeTensorsWriter writer = SafeTensorsWriter.Create(outputPath, specs, metadata))
        {
            for (int i = 0; i < input.Tensors.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                SafeTensorInfo tensor = input.Tensors[i];
                progress?.Report(new CheckpointProgress(i, input.Tensors.Count, tensor.Name));
                reports.Add(!plan[i] ? CopyTensor(input, tensor, writer)
                    : options.Bits == 8 ? QuantizeTensor(input, tensor, writer, options.MeasureError)
                    : QuantizeTensorGroupwise(input, tensor, writer, options.Bits, groupSize, options.MeasureError));
            }

            writer.Commit();
        }

        progress?.Report(new CheckpointProgress(input.Tensors.Count, input.Tensors.Count, ""));
        return new CheckpointQuantizationReport(reports, new FileInfo(inputPath).Length, new FileInfo(outputPath).Length, stopwatch.Elapsed);
    }

    /// <summary>True for a 2-D float tensor named <c>&lt;prefix&gt;.weight</c> that fits the int8 kernels.</summary>
    public static bool IsLinearWeight(SafeTensorInfo tensor) =>
        tensor.Name.EndsWith(WeightSuffix, StringComparison.Ordinal) && tensor.Name.Length > WeightSuffix.Length
        && tensor.Shape.Count == 2 && tensor.Shape[0] > 0 && tensor.Shape[1] > 0 && tensor.ByteLength <= Array.MaxLength
        && tensor.DType is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;

    /// <summary>True when any pattern matches; a pattern that runs past its time limit is the caller's error, named.</summary>
    private static bool IsExcluded(Regex[] patterns, string name)
    {
        foreach (Regex pattern in patterns)
        {
            try
            {
                if (pattern.IsMatch(name)) return true;
            }
            catch (RegexMatchTimeoutException)
            {
                throw new ArgumentException(
                    $"Exclude pattern '{pattern}' took longer than {pattern.MatchTimeout.TotalSeconds:0} s on tensor '{name}'; simplify it (nested " +
                        $"quantifiers such as (a+)+ backtrack exponentially).",
                    nameof(CheckpointQuantizerOptions.Exclude));
            }
        }

        return false;
    }

    private static Regex CompilePattern(string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Exclude pattern '{pattern}' is not a valid regular expression: {e.Message}",
                                        nameof(CheckpointQuantizerOptions.Exclude), e);
        }
    }

    private static TensorQuantizationReport CopyTensor(SafeTensorsFile input, SafeTensorInfo tensor, SafeTensorsWriter writer)
    {
        const int Piece = 1 << 24;
        byte[] buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(Piece, Math.Max(1, tensor.ByteLength)));
        for (long offset = 0; offset < tensor.ByteLength; offset += Piece)
        {
            Span<byte> piece = buffer.AsSpan(0, (int)Math.Min(Piece, tensor.ByteLength - offset));
            input.ReadBytes(tensor, offset, piece);
            writer.Append(piece);
        }

        ArrayPool<byte>.Shared.Return(buffer);
        return new TensorQuantizationReport(tensor.Name, tensor.DType, tensor.Shape, false, tensor.ByteLength, tensor.ByteLength, null);
    }

    private static TensorQuantizationReport QuantizeTensor(SafeTensorsFile input, SafeTensorInfo tensor, SafeTensorsWriter writer,
                                                           bool measureError) =>
        tensor.DType switch
        {
            SafeTensorDType.F32 => QuantizeTensor<float>(input, tensor, writer, measureError),
            SafeTensorDType.F16 => QuantizeTensor<Half>(input, tensor, writer, measureError),
            _ => QuantizeTensor<BFloat16>(input, tensor, writer, measureError),
        };

    private static TensorQuantizationReport QuantizeTensor<T>(SafeTensorsFile input, SafeTensorInfo tensor, SafeTensorsWriter writer,
                                                              bool measureError)
        where T : unmanaged
    {
        int rows = (int)tensor.Shape[0], columns = (int)tensor.Shape[1];
        int count = rows * columns;
        // Pooled buffers sized for the largest tensor: memory stays near one tensor, whatever the file size.
        byte[] weightBytes = ArrayPool<byte>.Shared.Rent((int)tensor.ByteLength);
        sbyte[] codeArray = ArrayPool<sbyte>.Shared.Rent(count);
        try
        {
            input.ReadBytes(tensor, 0, weightBytes.AsSpan(0, (int)tensor.ByteLength));
            ReadOnlySpan<T> weights = MemoryMarshal.Cast<byte, T>(weightBytes.AsSpan(0, (int)tensor.ByteLength));
            Span<sbyte> codes = codeArray.AsSpan(0, count);
            var scales = new T[rows];
            try
            {
                Int8Quantizer.QuantizePerChannel(weights, rows, columns, codes, scales);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"Tensor '{tensor.Name}': {e.Message}", e);
            }

            writer.Append(MemoryMarshal.AsBytes(codes));
            writer.Append(MemoryMarshal.AsBytes(scales.AsSpan()));
            QuantizationError? error = measureError
                ? MeasureError(weights, rows, columns, (first, count, block) =>
                    Int8Quantizer.Dequantize<T>(codeArray.AsSpan(first * columns, count * columns), scales.AsSpan(first, count), count, columns,
                                                block))
                : null;
            long outputBytes = count + (long)rows * tensor.DType.SizeOf();
            return new TensorQuantizationReport(tensor.Name, tensor.DType, tensor.Shape, true, tensor.ByteLength, outputBytes, error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(weightBytes);
            ArrayPool<sbyte>.Shared.Return(codeArray);
        }
    }

    private static TensorQuantizationReport QuantizeTensorGroupwise(SafeTensorsFile input, SafeTensorInfo tensor, SafeTensorsWriter writer,
                                                                    int bits, int groupSize, bool measureError) =>
        tensor.DType switch
        {
            SafeTensorDType.F32 => QuantizeTensorGroupwise<float>(input, tensor, writer, bits, groupSize, measureError),
            SafeTensorDType.F16 => QuantizeTensorGroupwise<Half>(input, tensor, writer, bits, groupSize, measureError),
            _ => QuantizeTensorGroupwise<BFloat16>(input, tensor, writer, bits, groupSize, measureError),
        };

    private static TensorQuantizationReport QuantizeTensorGroupwise<T>(SafeTensorsFile input, SafeTensorInfo tensor, SafeTensorsWriter writer,
                                                                       int bits, int groupSize, bool measureError)
        where T : unmanaged
    {
        int rows = (int)tensor.Shape[0], columns = (int)tensor.Shape[1];
        int count = rows * columns, groups = count / groupSize, rowBytes = columns * bits / 8;
        byte[] weightBytes = ArrayPool<byte>.Shared.Rent((int)tensor.ByteLength);
        byte[] codeArray = ArrayPool<byte>.Shared.Rent(count);
        byte[] packedArray = ArrayPool<byte>.Shared.Rent(rows * rowBytes);
        try
        {
            input.ReadBytes(tensor, 0, weightBytes.AsSpan(0, (int)tensor.ByteLength));
            ReadOnlySpan<T> weights = MemoryMarshal.Cast<byte, T>(weightBytes.AsSpan(0, (int)tensor.ByteLength));
            Span<byte> codes = codeArray.AsSpan(0, count);
            var scales = new T[groups];
            var zeroPoints = new byte[groups];
            try
            {
                GroupQuantizer.Quantize(weights, rows, columns, bits, groupSize, codes, scales, zeroPoints);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"Tensor '{tensor.Name}': {e.Message}", e);
            }

            Span<byte> packed = packedArray.AsSpan(0, rows * rowBytes);
            for (int r = 0; r < rows; r++) BitPacking.PackUnchecked(codes.Slice(r * columns, columns), bits, packed.Slice(r * rowBytes, rowBytes));
            writer.Append(packed);
            writer.Append(MemoryMarshal.AsBytes(scales.AsSpan()));
            writer.Append(zeroPoints);

            int groupsPerRow = columns / groupSize;
            QuantizationError? error = measureError
                ? MeasureError(weights, rows, columns, (first, count, block) =>
                    GroupQuantizer.Dequantize<T>(codeArray.AsSpan(first * columns, count * columns), scales.AsSpan(first * groupsPerRow,
                                                                                                                   count * groupsPerRow),
                                                 zeroPoints.AsSpan(first * groupsPerRow, count * groupsPerRow), count, columns, groupSize, block))
                : null;

            long outputBytes = packed.Length + (long)groups * (tensor.DType.SizeOf() + 1);
            return new TensorQuantizationReport(tensor.Name, tensor.DType, tensor.Shape, true, tensor.ByteLength, outputBytes, error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(weightBytes);
            ArrayPool<byte>.Shared.Return(codeArray);
            ArrayPool<byte>.Shared.Return(packedArray);
        }
    }

    /// <summary>Dequantizes rows [first, first + count) into the destination block.</summary>
    private delegate void DequantizeRows<T>(int first, int count, Span<T> destination);

    /// <summary>
    /// Error of the dequantized weights against the originals, in row blocks of about a megabyte so the
    /// dequantized copy stays small whatever the tensor's size.
    /// </summary>
    private static QuantizationError MeasureError<T>(ReadOnlySpan<T> weights, int rows, int columns, DequantizeRows<T> dequantize)
        where T : unmanaged
    {
        int blockRows = Math.Max(1, (1 << 18) / columns);
        T[] restored = ArrayPool<T>.Shared.Rent(blockRows * columns);
        var accumulator = new QuantizationErrorAccumulator();
        for (int r = 0; r < rows; r += blockRows)
        {
            int count = Math.Min(blockRows, rows - r);
            Span<T> block = restored.AsSpan(0, count * columns);
            dequantize(r, count, block);
            accumulator.Add<T>(weights.Slice(r * columns, count * columns), block);
        }

        ArrayPool<T>.Shared.Return(restored);
        return accumulator.Result;
    }
}
