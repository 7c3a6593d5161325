using System.Text.Json;
using LowBit.Internal;

namespace LowBit.IO;

/// <summary>
/// A GPTQ or AWQ checkpoint as Hugging Face publishes them (safetensors shards beside <c>config.json</c>), opened for
/// serving: lists its quantized linear layers and builds <see cref="LowBitLinear{T}"/> layers from them without
/// re-quantizing, so <see cref="LowBitLinear{T}.Dequantize"/> gives exactly <c>(q - z) * s</c> as the format defines it.
/// </summary>
/// <remarks>
/// <para>The quantization settings come from <c>config.json</c>'s <c>quantization_config</c>, else AutoGPTQ's
/// <c>quantize_config.json</c> or AutoAWQ's <c>quant_config.json</c>, next to the weights.</para>
/// <para>GPTQ zero points follow AutoGPTQ's packing (<c>qlinear_cuda_old.pack</c> stores <c>z - 1</c>, every AutoGPTQ
/// kernel adds the 1 back), which is checkpoint format <c>gptq</c> (GPTQModel's v1); <c>gptq_v2</c> stores <c>z</c>
/// itself. A zero point of 2^bits (v1 can say it) becomes a float offset <c>z s</c>, exact. A non-trivial <c>g_idx</c>
/// (act-order, <c>desc_act</c>) sorts the columns by group once at load: the layer keeps that
/// <see cref="LowBitLinear{T}.InputPermutation"/> and gathers the input per call.</para>
/// <para>AWQ follows AutoAWQ's <c>WQLinear_GEMM.from_linear</c>: output <c>8 k + order[n]</c> in nibble n of int32 k,
/// order = [0, 2, 4, 6, 1, 3, 5, 7]; zero points as stored.</para>
/// <code>
/// using var model = GptqAwqCheckpoint.Open("Qwen2.5-0.5B-Instruct-GPTQ-Int4");
/// LowBitLinear&lt;float&gt; qProj = model.LoadLowBitLinear&lt;float&gt;("model.layers.0.self_attn.q_proj");
/// </code>
/// </remarks>
public sealed class GptqAwqCheckpoint : ICheckpoint
{
    private const long MaxConfigBytes = 16 << 20;
    private static readonly string[] ConfigFiles = ["config.json", "quantize_config.json", "quant_config.json"];
    private static readonly int[] AwqNibble = [0, 4, 1, 5, 2, 6, 3, 7];  // output 8 k + j sits in nibble AwqNibble[j]

    private readonly SafeTensorsFile[] _files;
    private readonly Dictionary<string, SafeTensorsFile> _owner;
    private readonly bool _zerosMinusOne;

    private GptqAwqCheckpoint(string path, SafeTensorsFile[] files, Dictionary<string, string> config, string configPath)
    {
        Path = path;
        _files = files;
        QuantizationConfig = config;
        _owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (SafeTensorsFile file in files)
        {
            foreach (SafeTensorInfo tensor in file.Tensors)
            {
                if (!_owner.TryAdd(tensor.Name, file))
                {
                    throw new InvalidDataException($"Tensor '{tensor.Name}' is in both {_owner[tensor.Name].Path} and {file.Path}.");
                }
            }
        }

        string method = Setting("quant_method") ?? (Setting("w_bit") is not null ? "awq" : configPath.EndsWith("quantize_config.json",
            StringComparison.Ordinal) ? "gptq" : "");
        Method = method.ToLowerInvariant() switch
        {
            "gptq" => GptqAwqMethod.Gptq,
            "awq" => GptqAwqMethod.Awq,
            _ => throw new InvalidDataException($"{configPath}: quant_method '{method}' is neither gptq nor awq."),
        };
        Bits = IntSetting(configPath, "bits", "w_bit");
        GroupSize = IntSetting(configPath, "group_size", "q_group_size");
        if (Method == GptqAwqMethod.Gptq ? Bits is not (2 or 4 or 8) : Bits != 4)
        {
            throw new NotSupportedException($"{configPath}: {Method} with {Bits} bits; LowBit loads GPTQ with 2, 4 or 8 bits and AWQ with 4.");
        }

        if (GroupSize == 0 || GroupSize < -1) throw new InvalidDataException($"{configPath}: group size {GroupSize} is neither positive nor -1.");
        if (Method == GptqAwqMethod.Gptq)
        {
            string format = (Setting("checkpoint_format") ?? Setting("format") ?? "gptq").ToLowerInvariant();
            if (format is not ("gptq" or "gptq_v2"))
            {
                throw new NotSupportedException($"{configPath}: GPTQ checkpoint format '{format}'; LowBit reads 'gptq' (zero points stored minus " +
                    $"one) and 'gptq_v2'.");
            }

            _zerosMinusOne = format == "gptq";
        }
        else
        {
            string version = (Setting("version") ?? "gemm").ToLowerInvariant();
            if (version != "gemm") throw new NotSupportedException($"{configPath}: AWQ version '{version}'; LowBit reads AutoAWQ's GEMM layout.");
        }

        Layers = files.SelectMany(f => f.Tensors)
            .Where(t => t.Name.EndsWith(".qweight", StringComparison.Ordinal))
            .Select(t => t.Name[..^".qweight".Length])
            .Where(p => _owner.ContainsKey(p + ".scales") && _owner.ContainsKey(p + ".qzeros"))
            .Order(StringComparer.Ordinal)
            .ToArray();
        _tensorNames = files.SelectMany(f => f.Tensors).Select(t => t.Name).ToArray();
        _allLayers = Layers.Concat(files.SelectMany(f => DenseLayerReader.Prefixes(f))).ToArray();
    }

    private readonly string[] _tensorNames, _allLayers;

    /// <summary>Every linear layer <see cref="ICheckpoint.LoadLayer{T}"/> builds: the quantized ones, then the full-precision 2-D <c>.weight</c>
    /// tensors.</summary>
    IReadOnlyList<string> ICheckpoint.Layers => _allLayers;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _tensorNames;

    /// <inheritdoc/>
    public IReadOnlyList<long> GetShape(string name) => Tensor(name).Shape;

    /// <summary>A quantized layer as <see cref="LoadLowBitLinear{T}"/> builds it, or a full-precision 2-D <c>.weight</c> as a
    /// <see cref="DenseLinear{T}"/>.</summary>
    /// <exception cref="KeyNotFoundException">No layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The layer's tensors are inconsistent.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> cannot hold the scales exactly.</exception>
    public ILinearLayer<T> LoadLayer<T>(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (_owner.TryGetValue(prefix + ".weight", out SafeTensorsFile? file) && DenseLayerReader.IsDense(file,
            prefix)) return DenseLayerReader.Load<T>(file, prefix);
        return LoadLowBitLinear<T>(prefix);
    }

    /// <inheritdoc/>
    public float[] ReadFloats(string name)
    {
        SafeTensorInfo tensor = Tensor(name);
        if (tensor.ElementCount > Array.MaxLength) throw new InvalidDataException($"'{name}' has {tensor.ElementCount} elements, more than an " +
            $"array holds.");
        return _owner[name].ReadFloats<float>(tensor, (int)tensor.ElementCount);
    }

    /// <summary>
    /// Opens a checkpoint folder, or one of its <c>.safetensors</c> files (then only that shard's tensors are seen),
    /// and reads the quantization settings beside it.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path, or a quantization config next to it, does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is malformed or the config is inconsistent.</exception>
    /// <exception cref="NotSupportedException">The checkpoint uses bits, a GPTQ format or an AWQ version LowBit does not read.</exception>
    public static GptqAwqCheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string folder = Directory.Exists(path) ? path
            : File.Exists(path) ? System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!
            : throw new FileNotFoundException($"No file or folder '{path}'.", path);
        string[] shards = Directory.Exists(path) ? Shards(path) : [path];
        if (shards.Length == 0) throw new FileNotFoundException($"Folder '{path}' holds no .safetensors file.", path);
        (Dictionary<string, string> config, string configPath) = ReadConfig(folder);
        var files = new List<SafeTensorsFile>();
        try
        {
            foreach (string shard in shards)
            {
                SafeTensorsFile file = SafeTensorsFile.Open(shard);
                // A LowBit checkpoint beside the model (lowbit convert's output, say) is not one of its shards.
                if (Directory.Exists(path) && file.Metadata.ContainsKey(CheckpointQuantizer.FormatKey)) file.Dispose();
                else files.Add(file);
            }

            if (files.Count == 0) throw new FileNotFoundException($"Folder '{path}' holds no GPTQ / AWQ .safetensors file.", path);
            return new GptqAwqCheckpoint(path, files.ToArray(), config, configPath);
        }
        catch
        {
            foreach (SafeTensorsFile file in files) file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A folder's shards: those model.safetensors.index.json's weight_map names when it exists (the Hugging Face layout
    /// for sharded models), else every .safetensors file, in name order.
    /// </summary>
    private static string[] Shards(string folder)
    {
        string index = System.IO.Path.Combine(folder, "model.safetensors.index.json");
        if (!File.Exists(index)) return Directory.GetFiles(folder, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
        if (new FileInfo(index).Length > MaxConfigBytes) throw new InvalidDataException($"{index} is larger than {MaxConfigBytes >> 20} MiB.");
        try
        {
            using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!document.RootElement.TryGetProperty("weight_map", out JsonElement map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{index} has no weight_map object.");
            }

            var names = new SortedSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in map.EnumerateObject())
            {
                string? file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString() : null;
                if (string.IsNullOrEmpty(file) || file != System.IO.Path.GetFileName(file))
                {
                    throw new InvalidDataException($"{index}: tensor '{entry.Name}' maps to '{file}', not a file name in the folder.");
                }

                names.Add(file);
            }

            return names.Select(n => System.IO.Path.Combine(folder, n)).ToArray();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{index} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>True when <paramref name="path"/> is a folder or .safetensors file with a GPTQ or AWQ config beside it (nothing is
    /// validated).</summary>
    public static bool IsGptqOrAwq(string path)
    {
        string? folder = Directory.Exists(path) ? path
            : File.Exists(path) && path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
                ? System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))
            : null;
        if (folder is null) return false;
        try
        {
            (Dictionary<string, string> config, _) = ReadConfig(folder);
            string method = (config.GetValueOrDefault("quant_method") ?? (config.ContainsKey("w_bit") ? "awq" : "gptq")).ToLowerInvariant();
            return method is "gptq" or "awq";
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>The folder or file this was opened from.</summary>
    public string Path { get; }

    /// <summary>GPTQ or AWQ.</summary>
    public GptqAwqMethod Method { get; }

    /// <summary>Bits per weight.</summary>
    public int Bits { get; }

    /// <summary>Input features per group, or -1 for one group per row.</summary>
    public int GroupSize { get; }

    /// <summary>The quantization settings as read (JSON values as text: strings unquoted, numbers and booleans as written).</summary>
    public IReadOnlyDictionary<string, string> QuantizationConfig { get; }

    /// <summary>The safetensors files (shards), in name order.</summary>
    public IReadOnlyList<SafeTensorsFile> Files => _files;

    /// <summary>Prefixes of the quantized layers (those with <c>.qweight</c>, <c>.qzeros</c> and <c>.scales</c>), in name order.</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>The file holding tensor <paramref name="name"/>, if any.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out SafeTensorInfo tensor)
    {
        tensor = null;
        return _owner.TryGetValue(name, out SafeTensorsFile? file) && file.TryGetTensor(name, out tensor);
    }

    /// <summary>
    /// Builds the layer stored under <paramref name="prefix"/> (or its <c>.qweight</c> name), with its bias when
    /// <c>&lt;prefix&gt;.bias</c> exists. Scales stay exact: f16 scales load as float or Half.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No quantized layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The layer's tensors have inconsistent shapes, dtypes or values.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> cannot hold the scales exactly, or the layer's
    /// group size is not a multiple of 8 dividing its inputs.</exception>
    public LowBitLinear<T> LoadLowBitLinear<T>(string prefix)
    {
        Elements<T>.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (prefix.EndsWith(".qweight", StringComparison.Ordinal)) prefix = prefix[..^".qweight".Length];
        if (!Layers.Contains(prefix)) throw new KeyNotFoundException($"No GPTQ/AWQ layer '{prefix}' (with .qweight, .qzeros and .scales) in {Path}.");
        SafeTensorInfo qweight = Tensor(prefix + ".qweight"), qzeros = Tensor(prefix + ".qzeros"), scaleInfo = Tensor(prefix + ".scales");
        if (qweight.DType != SafeTensorDType.I32 || qweight.Shape.Count != 2 || qzeros.DType != SafeTensorDType.I32 || qzeros.Shape.Count != 2)
        {
            throw new InvalidDataException($"'{prefix}': qweight and qzeros must be 2-D I32; they are {qweight.DType} {qweight.ShapeText} and " +
                $"{qzeros.DType} {qzeros.ShapeText}.");
        }

        int per = 32 / Bits;
        long inLong = Method == GptqAwqMethod.Gptq ? qweight.Shape[0] * per : qweight.Shape[0];
        long outLong = Method == GptqAwqMethod.Gptq ? qweight.Shape[1] : qweight.Shape[1] * per;
        if (inLong <= 0 || outLong <= 0 || inLong * outLong > Array.MaxLength)
        {
            throw new InvalidDataException($"'{prefix}.qweight' {qweight.ShapeText} does not describe a layer LowBit can hold.");
        }

        int inFeatures = (int)inLong, outFeatures = (int)outLong;
        int groupSize = GroupSize == -1 ? inFeatures : GroupSize;
        if (groupSize % 8 != 0 || inFeatures % groupSize != 0)
        {
            throw new NotSupportedException($"'{prefix}': group size {groupSize} over {inFeatures} inputs; LowBit needs a multiple of 8 that " +
                $"divides the inputs.");
        }

        int groups = inFeatures / groupSize;
        if (scaleInfo.Shape.Count != 2 || scaleInfo.Shape[0] != groups || scaleInfo.Shape[1] != outFeatures)
        {
            throw new InvalidDataException($"'{prefix}.scales' must be [{groups}, {outFeatures}]; it is {scaleInfo.ShapeText}.");
        }

        if (outFeatures % per != 0 || qzeros.Shape[0] != groups || qzeros.Shape[1] != outFeatures / per)
        {
            throw new InvalidDataException($"'{prefix}.qzeros' must be [{groups}, {outFeatures / per}] for {outFeatures} outputs; it is " +
                $"{qzeros.ShapeText}.");
        }

        float[] scalesByGroup = ReadScales<T>(scaleInfo);
        ReadOnlySpan<int> packedWeights = Span<int>(qweight), packedZeros = Span<int>(qzeros);
        int[] permutation = Method == GptqAwqMethod.Gptq ? ColumnOrder(prefix, inFeatures, groupSize, groups) : [];

        // Codes row by row in column order, then LowBit's packing; scales and zero points transposed to [out, groups].
        int mask = (1 << Bits) - 1;
        int[] columnOf = new int[inFeatures];
        for (int j = 0; j < inFeatures; j++) columnOf[permutation.Length == 0 ? j : permutation[j]] = j;
        var codes = new byte[outFeatures * inFeatures];
        for (int i = 0; i < inFeatures; i++)
        {
            int column = columnOf[i];
            for (int o = 0; o < outFeatures; o++)
            {
                codes[o * inFeatures + column] = (byte)(Method == GptqAwqMethod.Gptq
                    ? (packedWeights[(i / per) * outFeatures + o] >>> (Bits * (i % per))) & mask
                    : (packedWeights[i * (outFeatures / per) + o / per] >>> (4 * AwqNibble[o % per])) & mask);
            }
        }

        int rowBytes = BitPacking.GetPackedLength(inFeatures, Bits);
        var packed = new byte[outFeatures * rowBytes];
        for (int o = 0; o < outFeatures; o++) BitPacking.PackUnchecked(codes.AsSpan(o * inFeatures, inFeatures), Bits, packed.AsSpan(o * rowBytes,
                                                                                                                                     rowBytes));

        var scales = new T[outFeatures * groups];
        var zeroPoints = new byte[outFeatures * groups];
        T[] offsets = [];
        for (int g = 0; g < groups; g++)
        {
            for (int o = 0; o < outFeatures; o++)
            {
                int word = packedZeros[g * (outFeatures / per) + o / per];
                int z = Method == GptqAwqMethod.Gptq ? (word >>> (Bits * (o % per))) & mask : (word >>> (4 * AwqNibble[o % per])) & mask;
                if (_zerosMinusOne) z++;
                float s = scalesByGroup[g * outFeatures + o];
                scales[o * groups + g] = Elements<T>.FromSingle(s);
                if (z <= mask)
                {
                    zeroPoints[o * groups + g] = (byte)z;
                    continue;
                }

                // v1's z = 2^bits does not fit the codes: zero point 0 and offset z s (both products exact, so (q - z) s is too).
                if (offsets.Length == 0) offsets = new T[outFeatures * groups];
                offsets[o * groups + g] = Elements<T>.FromSingle(z * s);
                if (!float.IsFinite(Elements<T>.ToSingle(offsets[o * groups + g])))
                {
                    throw new NotSupportedException($"'{prefix}': zero point {z} times scale {s} overflows {typeof(T).Name}; load it as float.");
                }
            }
        }

        T[] bias = TryGetTensor(prefix + ".bias", out SafeTensorInfo? biasInfo) ? ReadBias<T>(biasInfo, outFeatures) : [];
        return LowBitLinear<T>.FromQuantized(packed, scales, zeroPoints, outFeatures, inFeatures, Bits, groupSize, bias, offsets, permutation);
    }

    /// <summary>What a layer will look like, without building it: for writers that must state every tensor before its data.</summary>
    internal (int InFeatures, int OutFeatures, int GroupSize, SafeTensorDType ScaleType, bool Offsets, bool Permuted) Describe(string prefix)
    {
        SafeTensorInfo qweight = Tensor(prefix + ".qweight"), qzeros = Tensor(prefix + ".qzeros");
        int per = 32 / Bits;
        if (qweight.Shape.Count != 2 || qzeros.DType != SafeTensorDType.I32 || qweight.Shape[0] * qweight.Shape[1] * per > Array.MaxLength)
        {
            throw new InvalidDataException($"'{prefix}.qweight' {qweight.ShapeText} does not describe a layer LowBit can hold.");
        }

        int inFeatures = (int)(Method == GptqAwqMethod.Gptq ? qweight.Shape[0] * per : qweight.Shape[0]);
        int outFeatures = (int)(Method == GptqAwqMethod.Gptq ? qweight.Shape[1] : qweight.Shape[1] * per);
        int groupSize = GroupSize == -1 ? inFeatures : GroupSize;
        // Format gptq's stored 2^bits - 1 means z = 2^bits: the layer then needs float offsets.
        bool offsets = _zerosMinusOne && AnyFieldIsMax(Span<int>(qzeros), Bits);
        bool permuted = Method == GptqAwqMethod.Gptq && groupSize > 0 && inFeatures % groupSize == 0
                        && ColumnOrder(prefix, inFeatures, groupSize, inFeatures / groupSize).Length != 0;
        SafeTensorDType scaleType = Tensor(prefix + ".scales").DType;
        if (scaleType is not (SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F32))
        {
            throw new InvalidDataException($"'{prefix}.scales' must be F16, BF16 or F32; it is {scaleType}.");
        }

        return (inFeatures, outFeatures, groupSize, scaleType, offsets, permuted);
    }

    private static bool AnyFieldIsMax(ReadOnlySpan<int> words, int bits)
    {
        int mask = (1 << bits) - 1;
        foreach (int word in words)
        {
            for (int shift = 0; shift < 32; shift += bits)
            {
                if (((word >>> shift) & mask) == mask) return true;
            }
        }

        return false;
    }

    /// <summary>
    /// GPTQ's <c>g_idx</c> (group of each input feature): none or <c>i / groupSize</c> keeps the columns in input order;
    /// otherwise the features sorted by group (stably), which must give each group exactly <paramref name="groupSize"/> features.
    /// </summary>
    private int[] ColumnOrder(string prefix, int inFeatures, int groupSize, int groups)
    {
        if (!TryGetTensor(prefix + ".g_idx", out SafeTensorInfo? info)) return [];
        if (info.DType != SafeTensorDType.I32 || info.Shape.Count != 1 || info.Shape[0] != inFeatures)
        {
            throw new InvalidDataException($"'{info.Name}' must be I32 [{inFeatures}]; it is {info.DType} {info.ShapeText}.");
        }

        ReadOnlySpan<int> groupOf = Span<int>(info);
        bool trivial = true;
        var counts = new int[groups];
        for (int i = 0; i < inFeatures; i++)
        {
            int g = groupOf[i];
            if ((uint)g >= (uint)groups) throw new InvalidDataException($"'{info.Name}'[{i}] is {g}; the layer has {groups} groups.");
            counts[g]++;
            trivial &= g == i / groupSize;
        }

        if (trivial) return [];
        int uneven = Array.FindIndex(counts, c => c != groupSize);
        if (uneven >= 0)
        {
            throw new InvalidDataException($"'{info.Name}' puts {counts[uneven]} input features in group {uneven}; LowBit needs {groupSize} in " +
                $"every group.");
        }

        var order = new int[inFeatures];
        var next = new int[groups];
        for (int g = 0; g < groups; g++) next[g] = g * groupSize;
        for (int i = 0; i < inFeatures; i++) order[next[groupOf[i]]++] = i;
        return order;
    }

    private SafeTensorInfo Tensor(string name) =>
        TryGetTensor(name, out SafeTensorInfo? tensor) ? tensor : throw new KeyNotFoundException($"No tensor '{name}' in {Path}.");

    private ReadOnlySpan<TElement> Span<TElement>(SafeTensorInfo tensor) where TElement : unmanaged =>
        _owner[tensor.Name].GetSpan<TElement>(tensor.Name);

    /// <summary>The scales as float, refusing a <typeparamref name="T"/> that would round them.</summary>
    private float[] ReadScales<T>(SafeTensorInfo tensor)
    {
        var values = new float[tensor.ElementCount];
        switch (tensor.DType)
        {
            case SafeTensorDType.F16 when typeof(T) != typeof(BFloat16):
                Elements<Half>.ToSingle(Span<Half>(tensor), values);
                break;
            case SafeTensorDType.BF16 when typeof(T) != typeof(Half):
                BFloat16.ConvertToSingle(Span<BFloat16>(tensor), values);
                break;
            case SafeTensorDType.F32 when typeof(T) == typeof(float):
                Span<float>(tensor).CopyTo(values);
                break;
            case SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F32:
                throw new NotSupportedException($"'{tensor.Name}' is {tensor.DType}, which {typeof(T).Name} cannot hold exactly: load the layer as " +
                    $"LowBitLinear<float>.");
            default:
                throw new InvalidDataException($"'{tensor.Name}' must be F16, BF16 or F32; it is {tensor.DType}.");
        }

        return values;
    }

    private T[] ReadBias<T>(SafeTensorInfo tensor, int outFeatures)
    {
        if (tensor.Shape.Count != 1 || tensor.Shape[0] != outFeatures)
        {
            throw new InvalidDataException($"'{tensor.Name}' must have shape [{outFeatures}]; it is {tensor.ShapeText}.");
        }

        return _owner[tensor.Name].ReadFloats<T>(tensor, outFeatures);
    }

    /// <summary>The first of config.json's quantization_config, quantize_config.json or quant_config.json in the folder, flattened to text.</summary>
    private static (Dictionary<string, string> Config, string Path) ReadConfig(string folder)
    {
        foreach (string name in ConfigFiles)
        {
            string path = System.IO.Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            if (new FileInfo(path).Length > MaxConfigBytes) throw new InvalidDataException($"{path} is larger than {MaxConfigBytes >> 20} MiB.");
            JsonElement root;
            try
            {
                using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
                root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
            }

            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path} is not a JSON object.");
            if (name == "config.json")
            {
                if (!root.TryGetProperty("quantization_config", out JsonElement quantization)) continue;
                if (quantization.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: quantization_config is not an object.");
                root = quantization;
            }

            var config = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
            {
                config[property.Name] = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText();
            }

            return (config, path);
        }

        throw new FileNotFoundException($"No quantization config in '{folder}' (config.json with quantization_config, quantize_config.json or " +
            $"quant_config.json).");
    }

    private string? Setting(string key) => QuantizationConfig.TryGetValue(key, out string? value) ? value : null;

    private int IntSetting(string configPath, string key, string alternative)
    {
        string? text = Setting(key) ?? Setting(alternative);
        if (text is null) throw new InvalidDataException($"{configPath} does not give '{key}'.");
        if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int value))
        {
            throw new InvalidDataException($"{configPath}: '{key}' is {text}, not a whole number.");
        }

        return value;
    }

    /// <summary>Closes every shard. Layers already loaded keep working: they own copies of their buffers.</summary>
    public void Dispose()
    {
        foreach (SafeTensorsFile file in _files) file.Dispose();
    }
}
