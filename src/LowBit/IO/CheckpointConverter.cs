using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using LowBit.Internal;

namespace LowBit.IO;

/// <summary>One tensor of a conversion: a quantized layer rewritten in LowBit's format, or a tensor copied as it is.</summary>
/// <param name="Name">The source tensor's name.</param>
/// <param name="SourceType">Its type in the source (a GGUF type such as Q4_K, or a safetensors dtype; GPTQ/AWQ layers say the method).</param>
/// <param name="Shape">Row-major shape (a layer's is [out, in]).</param>
/// <param name="Layer">True when it became a LowBit layer (<c>.packed_weights</c>, <c>.scales</c>, <c>.zero_points</c>, ...).</param>
/// <param name="Bits">The layer's bits, 0 for a copy.</param>
/// <param name="InputBytes">Bytes it took in the source (a GPTQ/AWQ layer's qweight, qzeros, scales and g_idx together).</param>
/// <param name="OutputBytes">Bytes it takes in the output.</param>
public sealed record ConvertedTensor(string Name, string SourceType, IReadOnlyList<long> Shape, bool Layer, int Bits, long InputBytes,
                                     long OutputBytes);

/// <summary>The result of <see cref="CheckpointConverter.Convert"/>.</summary>
/// <param name="Source">"gguf", "gptq" or "awq".</param>
/// <param name="Tensors">Every source tensor converted or copied, in output order.</param>
/// <param name="InputBytes">Size of the source (all its files).</param>
/// <param name="OutputBytes">Size of the written file.</param>
/// <param name="Elapsed">Wall time.</param>
public sealed record CheckpointConversionReport(string Source, IReadOnlyList<ConvertedTensor> Tensors, long InputBytes, long OutputBytes,
                                                TimeSpan Elapsed);

/// <summary>
/// Rewrites a published quantized model (a GGUF file, or a GPTQ / AWQ checkpoint folder or file) as a LowBit checkpoint,
/// losslessly: every quantized layer keeps its codes, scales, zero points, float offsets and column order, so
/// <see cref="QuantizedCheckpoint.LoadLowBitLinear{T}"/> on the result builds the layer
/// <see cref="GgufFile.LoadLowBitLinear{T}"/> or <see cref="GptqAwqCheckpoint.LoadLowBitLinear{T}"/> builds from the
/// source, with no dependency on the source format. Other float tensors (norms, embeddings, biases) are copied as they are.
/// </summary>
/// <remarks>
/// Names carry over: GGUF's <c>blk.0.attn_q.weight</c> becomes the layer prefix <c>blk.0.attn_q</c>
/// (<c>blk.0.attn_q.packed_weights</c>, ...); a GPTQ / AWQ layer keeps its prefix. Bits and group size are recorded per
/// layer (<see cref="CheckpointQuantizer.LayerBitsKeyPrefix"/>), since a GGUF file mixes types; the source's scalar
/// metadata is kept as <c>gguf.&lt;key&gt;</c> (arrays, such as the tokenizer's vocabulary, as JSON arrays) or
/// <c>gptq.&lt;key&gt;</c> / <c>awq.&lt;key&gt;</c>.
/// <code>
/// CheckpointConverter.Convert("qwen2.5-0.5b-instruct-q4_k_m.gguf", "qwen.lowbit.safetensors");
/// using var checkpoint = QuantizedCheckpoint.Open("qwen.lowbit.safetensors");
/// LowBitLinear&lt;float&gt; q = checkpoint.LoadLowBitLinear&lt;float&gt;("blk.0.attn_q");
/// </code>
/// </remarks>
public static class CheckpointConverter
{
    /// <summary>Metadata key recording where a converted checkpoint came from: "gguf", "gptq" or "awq".</summary>
    public const string SourceKey = "lowbit.source";

    /// <summary>The value of <see cref="CheckpointQuantizer.FormatKey"/> in a converted checkpoint (layers may differ in bits).</summary>
    public const string FormatConverted = "converted";

    /// <summary>One output tensor group: the specs it writes, and how to write their data in that order.</summary>
    private sealed record Step(ConvertedTensor Report, SafeTensorSpec[] Specs, Action<SafeTensorsWriter> Write);

    /// <summary>Converts <paramref name="inputPath"/> (a .gguf file, or a GPTQ / AWQ folder or .safetensors file) into
    /// <paramref name="outputPath"/>.</summary>
    /// <exception cref="ArgumentException">A path is empty, or both paths are the same file.</exception>
    /// <exception cref="FileNotFoundException">The input does not exist.</exception>
    /// <exception cref="InvalidDataException">The input is neither GGUF nor GPTQ / AWQ, or is malformed. Nothing is written then.</exception>
    /// <exception cref="NotSupportedException">A tensor's type has no lossless LowBit form (named in the message). Nothing is written
    /// then.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing is written.</exception>
    public static CheckpointConversionReport Convert(string inputPath, string outputPath, IProgress<CheckpointProgress>? progress = null,
                                                     CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (string.Equals(Path.GetFullPath(inputPath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
        {
            throw new ArgumentException("The output must be a different file from the input.", nameof(outputPath));
        }

        if (!File.Exists(inputPath) && !Directory.Exists(inputPath)) throw new FileNotFoundException($"No file or folder '{inputPath}'.", inputPath);
        var stopwatch = Stopwatch.StartNew();
        if (GgufFile.IsGguf(inputPath))
        {
            using GgufFile gguf = GgufFile.Open(inputPath);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SourceKey] = "gguf" };
            foreach ((string key, object value) in gguf.Metadata)
            {
                string? text = value is Array array ? JsonArray(array) : System.Convert.ToString(value is bool b ? (b ? "true" : "false") : value,
                                                                                                 CultureInfo.InvariantCulture);
                if (text is not null) metadata["gguf." + key] = text;
            }

            return Write("gguf", GgufSteps(gguf, metadata), metadata, new FileInfo(inputPath).Length, outputPath, progress, stopwatch,
                         cancellationToken);
        }

        if (GptqAwqCheckpoint.IsGptqOrAwq(inputPath))
        {
            using GptqAwqCheckpoint checkpoint = GptqAwqCheckpoint.Open(inputPath);
            string source = checkpoint.Method == GptqAwqMethod.Gptq ? "gptq" : "awq";
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SourceKey] = source };
            foreach ((string key, string value) in checkpoint.QuantizationConfig) metadata[source + "." + key] = value;
            long inputBytes = checkpoint.Files.Sum(f => new FileInfo(f.Path).Length);
            return Write(source, GptqAwqSteps(checkpoint, metadata), metadata, inputBytes, outputPath, progress, stopwatch, cancellationToken);
        }

        throw new InvalidDataException($"'{inputPath}' is neither a GGUF file nor a GPTQ / AWQ checkpoint (a folder or .safetensors file with " +
            $"config.json's quantization_config, quantize_config.json or quant_config.json beside it).");
    }

    private static CheckpointConversionReport Write(string source, List<Step> steps, Dictionary<string, string> metadata, long inputBytes,
                                                    string outputPath,
                                                    IProgress<CheckpointProgress>? progress, Stopwatch stopwatch, CancellationToken cancellationToken)
    {
        SafeTensorSpec[] specs = steps.SelectMany(s => s.Specs).ToArray();
        string? clash = specs.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (clash is not null) throw new InvalidDataException($"Two outputs would be named '{clash}' (the source already holds a tensor of that " +
            $"name).");
        metadata[CheckpointQuantizer.FormatKey] = FormatConverted;
        using (SafeTensorsWriter writer = SafeTensorsWriter.Create(outputPath, specs, metadata))
        {
            for (int i = 0; i < steps.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new CheckpointProgress(i, steps.Count, steps[i].Report.Name));
                steps[i].Write(writer);
            }

            writer.Commit();
        }

        progress?.Report(new CheckpointProgress(steps.Count, steps.Count, ""));
        return new CheckpointConversionReport(source, steps.Select(s => s.Report).ToArray(), inputBytes, new FileInfo(outputPath).Length,
                                              stopwatch.Elapsed);
    }

    /// <summary>A GGUF array as JSON (strings, numbers, booleans), so a converted file keeps the tokenizer's vocabulary; null for arrays of
    /// arrays.</summary>
    private static string? JsonArray(Array array)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (object item in array)
            {
                switch (item)
                {
                    case string s: json.WriteStringValue(s); break;
                    case bool b: json.WriteBooleanValue(b); break;
                    case float f: json.WriteNumberValue(f); break;
                    case double d: json.WriteNumberValue(d); break;
                    case Array: return null;
                    default: json.WriteNumberValue(System.Convert.ToDecimal(item, CultureInfo.InvariantCulture)); break;
                }
            }

            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static List<Step> GgufSteps(GgufFile gguf, Dictionary<string, string> metadata)
    {
        var steps = new List<Step>();
        foreach (GgufTensorInfo tensor in gguf.Tensors)
        {
            if (GgufLayers.TryGetMapping(tensor.Type, out int bits, out int groupSize, out bool offsets, out bool halfScales))
            {
                if (tensor.Dimensions.Length != 2)
                {
                    throw new NotSupportedException($"Tensor '{tensor.Name}' is a {tensor.Dimensions.Length}-D {tensor.Type} tensor; LowBit " +
                        $"converts 2-D quantized tensors (layers) only.");
                }

                string prefix = tensor.Name.EndsWith(".weight", StringComparison.Ordinal) ? tensor.Name[..^".weight".Length] : tensor.Name;
                // Blocks of 32 carry f16 scales (F16 keeps them exactly); the super-blocks' d * sc needs F32.
                SafeTensorDType scaleType = halfScales ? SafeTensorDType.F16 : SafeTensorDType.F32;
                string name = tensor.Name;
                steps.Add(LayerStep(prefix, tensor.Type.ToString(), tensor.Shape, tensor.ByteLength, bits, groupSize, scaleType, offsets,
                                    permuted: false, metadata,
                                    () => GgufLayers.Load<float>(gguf, name, withBias: false)));
            }
            else if (tensor.Type is GgufType.F32 or GgufType.F16 or GgufType.BF16)
            {
                SafeTensorDType dtype = tensor.Type switch
                {
                    GgufType.F32 => SafeTensorDType.F32,
                    GgufType.F16 => SafeTensorDType.F16,
                    _ =>
                    SafeTensorDType.BF16
                };
                var report = new ConvertedTensor(tensor.Name, tensor.Type.ToString(), tensor.Shape, false, 0, tensor.ByteLength, tensor.ByteLength);
                GgufTensorInfo source = tensor;
                steps.Add(new Step(report, [new SafeTensorSpec(tensor.Name, dtype, tensor.Shape)], writer => writer.Append(gguf.GetBytes(source))));
            }
            else
            {
                throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.Type}; LowBit converts {GgufLayers.SupportedText} (and F32, " +
                    $"F16, BF16) losslessly, not {tensor.Type}.");
            }
        }

        return steps;
    }

    private static List<Step> GptqAwqSteps(GptqAwqCheckpoint checkpoint, Dictionary<string, string> metadata)
    {
        var layers = new HashSet<string>(checkpoint.Layers, StringComparer.Ordinal);
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        foreach (string prefix in layers)
        {
            foreach (string part in new[] { ".qweight", ".qzeros", ".scales", ".g_idx" }) consumed.Add(prefix + part);
        }

        string method = checkpoint.Method == GptqAwqMethod.Gptq ? "GPTQ" : "AWQ";
        var steps = new List<Step>();
        foreach (SafeTensorsFile file in checkpoint.Files)
        {
            foreach (SafeTensorInfo tensor in file.Tensors)
            {
                if (tensor.Name.EndsWith(".qweight", StringComparison.Ordinal) && layers.Contains(tensor.Name[..^".qweight".Length]))
                {
                    string prefix = tensor.Name[..^".qweight".Length];
                    var layout = checkpoint.Describe(prefix);
                    long sourceBytes = new[] { ".qweight", ".qzeros", ".scales", ".g_idx" }
                        .Sum(part => checkpoint.TryGetTensor(prefix + part, out SafeTensorInfo? t) ? t.ByteLength : 0);
                    steps.Add(LayerStep(prefix, $"{method} {checkpoint.Bits}-bit", [layout.OutFeatures, layout.InFeatures], sourceBytes,
                                        checkpoint.Bits,
                                        layout.GroupSize, layout.ScaleType, layout.Offsets, layout.Permuted, metadata,
                                        () => checkpoint.LoadLowBitLinear<float>(prefix)));
                }
                else if (!consumed.Contains(tensor.Name))
                {
                    var report = new ConvertedTensor(tensor.Name, tensor.DType.ToString(), tensor.Shape, false, 0, tensor.ByteLength,
                                                     tensor.ByteLength);
                    SafeTensorsFile owner = file;
                    SafeTensorInfo source = tensor;
                    steps.Add(new Step(report, [new SafeTensorSpec(tensor.Name, tensor.DType, tensor.Shape)], writer => Copy(owner, source, writer)));
                }
            }
        }

        return steps;
    }

    /// <summary>
    /// A layer's output tensors, stated up front, and the writing of them from the layer <paramref name="load"/> builds.
    /// Its bias is not written here: <c>&lt;prefix&gt;.bias</c> is a tensor of its own in every source, copied as it is.
    /// </summary>
    private static Step LayerStep(string prefix, string sourceType, long[] shape, long sourceBytes, int bits, int groupSize,
                                  SafeTensorDType scaleType,
                                  bool offsets, bool permuted, Dictionary<string, string> metadata, Func<LowBitLinear<float>> load)
    {
        long outFeatures = shape[0], inFeatures = shape[1], groups = inFeatures / groupSize;
        var specs = new List<SafeTensorSpec>
        {
            new(prefix + CheckpointQuantizer.PackedWeightsSuffix, SafeTensorDType.U8, [outFeatures, inFeatures * bits / 8]),
            new(prefix + CheckpointQuantizer.ScalesSuffix, scaleType, [outFeatures, groups]),
            new(prefix + CheckpointQuantizer.ZeroPointsSuffix, SafeTensorDType.U8, [outFeatures, groups]),
        };
        if (offsets) specs.Add(new(prefix + CheckpointQuantizer.OffsetsSuffix, SafeTensorDType.F32, [outFeatures, groups]));
        if (permuted) specs.Add(new(prefix + CheckpointQuantizer.InputPermutationSuffix, SafeTensorDType.I32, [inFeatures]));
        metadata[CheckpointQuantizer.LayerBitsKeyPrefix + prefix] = bits.ToString(CultureInfo.InvariantCulture);
        metadata[CheckpointQuantizer.LayerGroupSizeKeyPrefix + prefix] = groupSize.ToString(CultureInfo.InvariantCulture);
        long outputBytes = specs.Sum(s => s.ByteLength);
        var report = new ConvertedTensor(prefix, sourceType, shape, true, bits, sourceBytes, outputBytes);
        return new Step(report, specs.ToArray(), writer =>
        {
            LowBitLinear<float> layer = load();
            if (layer.InFeatures != inFeatures || layer.OutFeatures != outFeatures || layer.GroupSize != groupSize || layer.HasOffsets != offsets
                || layer.InputPermutation.IsEmpty == permuted)
            {
                throw new InvalidDataException($"'{prefix}' loaded as {layer.OutFeatures}x{layer.InFeatures} group {layer.GroupSize}, not the " +
                    $"planned {outFeatures}x{inFeatures} group {groupSize}.");
            }

            writer.Append(layer.PackedWeights);
            WriteFloats(writer, layer.Scales, scaleType);
            writer.Append(layer.ZeroPoints);
            if (offsets) writer.Append(MemoryMarshal.AsBytes(layer.Offsets));
            if (permuted) writer.Append(MemoryMarshal.AsBytes(layer.InputPermutation));
        });
    }

    /// <summary>Float32 values in <paramref name="dtype"/>; the planners chose a dtype that holds them exactly (checked).</summary>
    private static void WriteFloats(SafeTensorsWriter writer, ReadOnlySpan<float> values, SafeTensorDType dtype)
    {
        switch (dtype)
        {
            case SafeTensorDType.F32:
                writer.Append(MemoryMarshal.AsBytes(values));
                return;
            case SafeTensorDType.F16:
                var halves = new Half[values.Length];
                Elements<Half>.FromSingle(values, halves);
                for (int i = 0; i < values.Length; i++)
                {
                    if ((float)halves[i] != values[i]
                        && !float.IsNaN(values[i])) throw new InvalidDataException($"Scale {values[i]} is not exact in F16.");
                }

                writer.Append(MemoryMarshal.AsBytes(halves.AsSpan()));
                return;
            default:
                var brains = new BFloat16[values.Length];
                BFloat16.ConvertToBFloat16(values, brains);
                writer.Append(MemoryMarshal.AsBytes(brains.AsSpan()));
                return;
        }
    }

    private static void Copy(SafeTensorsFile file, SafeTensorInfo tensor, SafeTensorsWriter writer)
    {
        const int Piece = 1 << 24;
        for (long offset = 0; offset < tensor.ByteLength; offset += Piece)
        {
            writer.Append(file.GetBytes(tensor, offset, (int)Math.Min(Piece, tensor.ByteLength - offset)));
        }
    }
}
