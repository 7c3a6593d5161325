using LowBit.Internal;

namespace LowBit.IO;

/// <summary>
/// A checkpoint written by <see cref="CheckpointQuantizer"/>, opened for serving: lists its quantized
/// linear layers and builds <see cref="W8A16Linear{T}"/> layers from them.
/// </summary>
/// <remarks>
/// <code>
/// using var checkpoint = QuantizedCheckpoint.Open("model.w8a16.safetensors");
/// var upProj = checkpoint.LoadLinear&lt;BFloat16&gt;("model.layers.0.mlp.up_proj");
/// BFloat16[] y = upProj.Forward(x);
/// </code>
/// </remarks>
public sealed class QuantizedCheckpoint : ICheckpoint
{
    private QuantizedCheckpoint(SafeTensorsFile file)
    {
        File = file;
        LinearLayers = file.Tensors
            .Where(t => t.Name.EndsWith(CheckpointQuantizer.Int8WeightsSuffix, StringComparison.Ordinal))
            .Select(t => t.Name[..^CheckpointQuantizer.Int8WeightsSuffix.Length])
            .Where(prefix => file.Contains(prefix + CheckpointQuantizer.ScalesSuffix))
            .ToArray();
        LowBitLayers = file.Tensors
            .Where(t => t.Name.EndsWith(CheckpointQuantizer.PackedWeightsSuffix, StringComparison.Ordinal))
            .Select(t => t.Name[..^CheckpointQuantizer.PackedWeightsSuffix.Length])
            .Where(p => file.Contains(p + CheckpointQuantizer.ScalesSuffix) && file.Contains(p + CheckpointQuantizer.ZeroPointsSuffix))
            .ToArray();
        var quantized = new HashSet<string>(LinearLayers.Concat(LowBitLayers), StringComparer.Ordinal);
        _layers = file.Tensors.Select(t => t.Name).Select(name => LayerPrefix(name, quantized)).OfType<string>().Distinct().ToArray();
        _tensorNames = file.Tensors.Select(t => t.Name).ToArray();
    }

    private readonly string[] _layers, _tensorNames;

    /// <summary>The layer a tensor belongs to as its weights: a quantized layer's codes, or a 2-D float <c>.weight</c>.</summary>
    private string? LayerPrefix(string name, HashSet<string> quantized)
    {
        foreach (string suffix in new[] { CheckpointQuantizer.Int8WeightsSuffix, CheckpointQuantizer.PackedWeightsSuffix, ".weight" })
        {
            if (!name.EndsWith(suffix, StringComparison.Ordinal)) continue;
            string prefix = name[..^suffix.Length];
            if (quantized.Contains(prefix) || (suffix == ".weight" && DenseLayerReader.IsDense(File, prefix))) return prefix;
        }

        return null;
    }

    /// <inheritdoc/>
    public string Path => File.Path;

    /// <summary>Every linear layer <see cref="LoadLayer{T}"/> builds: int8, group-wise and full-precision (2-D float <c>.weight</c>), in file
    /// order.</summary>
    public IReadOnlyList<string> Layers => _layers;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _tensorNames;

    /// <inheritdoc/>
    public IReadOnlyList<long> GetShape(string name) => File.GetTensor(name).Shape;

    /// <summary>
    /// Builds the layer stored under <paramref name="prefix"/>: <see cref="W8A16Linear{T}"/> for int8 codes,
    /// <see cref="LowBitLinear{T}"/> for packed group-wise codes, <see cref="DenseLinear{T}"/> for a 2-D F32/F16/BF16
    /// <c>.weight</c>; with its bias when stored.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The layer's tensors are inconsistent.</exception>
    public ILinearLayer<T> LoadLayer<T>(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (LinearLayers.Contains(prefix)) return LoadLinear<T>(prefix);
        if (LowBitLayers.Contains(prefix)) return LoadLowBitLinear<T>(prefix);
        if (DenseLayerReader.IsDense(File, prefix)) return DenseLayerReader.Load<T>(File, prefix);
        throw new KeyNotFoundException($"No linear layer '{prefix}' in {File.Path}.");
    }

    /// <inheritdoc/>
    public float[] ReadFloats(string name)
    {
        SafeTensorInfo tensor = File.GetTensor(name);
        if (tensor.ElementCount > Array.MaxLength) throw new InvalidDataException($"'{name}' has {tensor.ElementCount} elements, more than an " +
            $"array holds.");
        return File.ReadFloats<float>(tensor, (int)tensor.ElementCount);
    }

    /// <summary>Opens and validates a quantized safetensors file.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file.</exception>
    public static QuantizedCheckpoint Open(string path) => new(SafeTensorsFile.Open(path));

    /// <summary>The underlying file (all tensors, including copied ones such as norms and embeddings).</summary>
    public SafeTensorsFile File { get; }

    /// <summary>Prefixes of the layers that have <c>.int8_weights</c> and <c>.scales</c>.</summary>
    public IReadOnlyList<string> LinearLayers { get; }

    /// <summary>Prefixes of the group-wise layers that have <c>.packed_weights</c>, <c>.scales</c> and <c>.zero_points</c>.</summary>
    public IReadOnlyList<string> LowBitLayers { get; }

    /// <summary>
    /// Builds the group-wise layer stored under <paramref name="prefix"/> (bits and group size from the layer's own
    /// metadata keys, else the file's), with its bias when <c>&lt;prefix&gt;.bias</c> exists, and its float offsets and
    /// input permutation when the file has them (converted GGUF, GPTQ and AWQ layers).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No low-bit layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The metadata or the layer's tensors are inconsistent.</exception>
    public LowBitLinear<T> LoadLowBitLinear<T>(string prefix)
    {
        Elements<T>.EnsureSupported();
        int bits = LayerSetting(prefix, CheckpointQuantizer.LayerBitsKeyPrefix, CheckpointQuantizer.BitsKey);
        int groupSize = LayerSetting(prefix, CheckpointQuantizer.LayerGroupSizeKeyPrefix, CheckpointQuantizer.GroupSizeKey);
        SafeTensorInfo packed = File.GetTensor(prefix + CheckpointQuantizer.PackedWeightsSuffix);
        SafeTensorInfo zeros = File.GetTensor(prefix + CheckpointQuantizer.ZeroPointsSuffix);
        SafeTensorInfo scales = File.GetTensor(prefix + CheckpointQuantizer.ScalesSuffix);
        if (bits is not (2 or 4 or 8) || packed.DType != SafeTensorDType.U8 || packed.Shape.Count != 2 || zeros.DType != SafeTensorDType.U8
            || packed.Shape[1] * 8 / bits > int.MaxValue)
        {
            throw new InvalidDataException($"'{prefix}' is not a valid {bits}-bit layer ({packed.DType} {packed.ShapeText}, zero points " +
                $"{zeros.DType}).");
        }

        int outFeatures = (int)packed.Shape[0], inFeatures = (int)(packed.Shape[1] * 8 / bits);
        if (groupSize <= 0
            || inFeatures % groupSize != 0) throw new InvalidDataException($"Group size {groupSize} does not divide {inFeatures} input features of " +
                $"'{prefix}'.");
        int groups = outFeatures * (inFeatures / groupSize);
        if (scales.ElementCount != groups || zeros.ElementCount != groups)
        {
            throw new InvalidDataException($"'{prefix}' needs {groups} scales and zero points; it has {scales.ElementCount} and " +
                $"{zeros.ElementCount}.");
        }

        T[] scaleValues = File.ReadFloats<T>(scales, groups);
        T[] bias = File.TryGetTensor(prefix + ".bias", out SafeTensorInfo? biasTensor) ? ReadVector<T>(biasTensor, outFeatures) : [];
        T[] offsets = [];
        if (File.TryGetTensor(prefix + CheckpointQuantizer.OffsetsSuffix, out SafeTensorInfo? offsetTensor))
        {
            if (offsetTensor.ElementCount != groups) throw new InvalidDataException($"'{offsetTensor.Name}' needs {groups} values; it has " +
                $"{offsetTensor.ElementCount}.");
            offsets = File.ReadFloats<T>(offsetTensor, groups);
        }

        ReadOnlySpan<int> permutation = default;
        if (File.TryGetTensor(prefix + CheckpointQuantizer.InputPermutationSuffix, out SafeTensorInfo? order))
        {
            if (order.DType != SafeTensorDType.I32 || order.ElementCount != inFeatures)
            {
                throw new InvalidDataException($"'{order.Name}' must be I32 [{inFeatures}]; it is {order.DType} {order.ShapeText}.");
            }

            permutation = File.GetSpan<int>(order.Name);
        }

        try
        {
            return LowBitLinear<T>.FromQuantized(File.GetSpan<byte>(packed.Name), scaleValues, File.GetSpan<byte>(zeros.Name),
                                                 outFeatures, inFeatures, bits, groupSize, bias, offsets, permutation);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{prefix}': {e.Message}", e);
        }
    }

    /// <summary>A whole-number setting of one layer: its own key (<c>keyPrefix + prefix</c>) if present, else the file's.</summary>
    private int LayerSetting(string prefix, string keyPrefix, string fileKey)
    {
        if (File.Metadata.TryGetValue(keyPrefix + prefix, out string? text) || File.Metadata.TryGetValue(fileKey, out text))
        {
            if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
                             out int value)) return value;
            throw new InvalidDataException($"{File.Path}: the {fileKey} of '{prefix}' is '{text}', not a whole number.");
        }

        throw new InvalidDataException($"{File.Path} does not record {fileKey} for '{prefix}' ({keyPrefix + prefix} or {fileKey} in its metadata).");
    }

    /// <summary>
    /// Builds the layer stored under <paramref name="prefix"/>, with its bias when <c>&lt;prefix&gt;.bias</c> exists.
    /// Scales and bias are converted to <typeparamref name="T"/> if stored in another float type.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No quantized layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The layer's tensors have inconsistent shapes or dtypes.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, Half or BFloat16.</exception>
    public W8A16Linear<T> LoadLinear<T>(string prefix)
    {
        Elements<T>.EnsureSupported();
        SafeTensorInfo codes = File.GetTensor(prefix + CheckpointQuantizer.Int8WeightsSuffix);
        SafeTensorInfo scales = File.GetTensor(prefix + CheckpointQuantizer.ScalesSuffix);
        if (codes.DType != SafeTensorDType.I8 || codes.Shape.Count != 2 || codes.ElementCount > int.MaxValue)
        {
            throw new InvalidDataException($"'{codes.Name}' must be a 2-D I8 tensor; it is {codes.DType} {codes.ShapeText}.");
        }

        int outFeatures = (int)codes.Shape[0], inFeatures = (int)codes.Shape[1];
        T[] scaleValues = ReadVector<T>(scales, outFeatures);
        T[] bias = File.TryGetTensor(prefix + ".bias", out SafeTensorInfo? biasTensor) ? ReadVector<T>(biasTensor, outFeatures) : [];
        return W8A16Linear<T>.FromQuantized(File.GetSpan<sbyte>(codes.Name), scaleValues, outFeatures, inFeatures, bias);
    }

    private T[] ReadVector<T>(SafeTensorInfo tensor, int length)
    {
        if (tensor.Shape.Count != 1 || tensor.Shape[0] != length)
        {
            throw new InvalidDataException($"'{tensor.Name}' must have shape [{length}]; it has {tensor.ShapeText}.");
        }

        return File.ReadFloats<T>(tensor, length);
    }

    /// <summary>Closes the file. Layers already loaded keep working: they own copies of their buffers.</summary>
    public void Dispose() => File.Dispose();
}
