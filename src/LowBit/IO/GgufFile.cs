namespace LowBit.IO;

/// <summary>
/// A read-only, memory-mapped GGUF file (llama.cpp's format, versions 2 and 3): metadata, tensor infos and data, parsed
/// and validated on open; tensor data is handed out as spans over the mapping, without copying.
/// </summary>
/// <remarks>
/// <code>
/// using var file = GgufFile.Open("model.Q4_K_M.gguf");
/// Console.WriteLine(file.Metadata["general.architecture"]);
/// foreach (GgufTensorInfo t in file.Tensors) Console.WriteLine($"{t.Name} {t.Type} [{string.Join(", ", t.Shape)}]");
/// ReadOnlySpan&lt;byte&gt; blocks = file.GetBytes(file.GetTensor("blk.0.attn_q.weight"));
/// </code>
/// Metadata values keep their GGUF types: <see cref="byte"/>, <see cref="sbyte"/>, <see cref="ushort"/>, <see cref="short"/>,
/// <see cref="uint"/>, <see cref="int"/>, <see cref="float"/>, <see cref="bool"/>, <see cref="string"/>, <see cref="ulong"/>,
/// <see cref="long"/>, <see cref="double"/>, and arrays of them (arrays of arrays as <c>Array[]</c>). Any malformed file is
/// rejected with an <see cref="InvalidDataException"/> before data is mapped.
/// </remarks>
public sealed class GgufFile : ICheckpoint
{
    private readonly FileMapping _mapping;
    private readonly Dictionary<string, GgufTensorInfo> _byName;

    private GgufFile(string path, GgufHeader header, long fileLength, FileMapping mapping)
    {
        Path = path;
        Version = (int)header.Version;
        Alignment = (int)header.Alignment;
        Metadata = header.Metadata;
        Tensors = header.Tensors;
        DataOffset = header.DataOffset;
        DataLength = fileLength - header.DataOffset;
        _byName = header.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _mapping = mapping;
        _tensorNames = header.Tensors.Select(t => t.Name).ToArray();
        _layers = header.Tensors
            .Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Dimensions.Length == 2
                        && (GgufLayers.TryGetMapping(t.Type, out _, out _, out _, out _) || GgufLayers.IsDense(t.Type)))
            .Select(t => t.Name[..^".weight".Length]).ToArray();
    }

    private readonly string[] _tensorNames, _layers;

    /// <summary>Every linear layer <see cref="LoadLayer{T}"/> builds: the 2-D <c>.weight</c> tensors of a type LowBit loads, in file order.</summary>
    public IReadOnlyList<string> Layers => _layers;

    /// <inheritdoc/>
    public IReadOnlyList<string> TensorNames => _tensorNames;

    /// <inheritdoc/>
    public IReadOnlyList<long> GetShape(string name) => GetTensor(name).Shape;

    /// <summary>
    /// The layer whose weight is <c>&lt;prefix&gt;.weight</c>: a quantized type as <see cref="LoadLowBitLinear{T}"/> builds it
    /// (float layers for the K-quants), F32 / F16 / BF16 as a <see cref="DenseLinear{T}"/> in the stored type; each a copy.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="NotSupportedException">The tensor's type is not one LowBit loads, or <typeparamref name="T"/> cannot hold its
    /// scales.</exception>
    /// <exception cref="InvalidDataException">The tensor is not 2-D, or its bias does not fit.</exception>
    public ILinearLayer<T> LoadLayer<T>(string prefix) => GgufLayers.LoadAny<T>(this, prefix);

    /// <inheritdoc/>
    public float[] ReadFloats(string name) => GgufLayers.ReadFloats(this, GetTensor(name));

    /// <summary>True when the file at <paramref name="path"/> starts with the GGUF magic (it may still be malformed); false for a folder.</summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    public static bool IsGguf(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) return false;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        Span<byte> prefix = stackalloc byte[4];
        return stream.ReadAtLeast(prefix, 4, throwOnEndOfStream: false) == 4 && GgufHeader.HasMagic(prefix);
    }

    /// <summary>Opens, validates and maps a GGUF file.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid GGUF file (the message names the field).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        GgufHeader header;
        long length;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 64 * 1024))
        {
            length = stream.Length;
            header = GgufHeader.Read(stream, length);
        }

        return new GgufFile(path, header, length, FileMapping.Open(path, header.DataOffset));
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>The GGUF version (2 or 3).</summary>
    public int Version { get; }

    /// <summary>The alignment of tensor data in bytes (<c>general.alignment</c>, 32 when absent).</summary>
    public int Alignment { get; }

    /// <summary>Every metadata key and value, in GGUF's types (see the remarks).</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    /// <summary>Every tensor, in the order of the file's tensor infos.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    /// <summary>Where the data section starts in the file.</summary>
    public long DataOffset { get; }

    /// <summary>Bytes from the data section's start to the end of the file.</summary>
    public long DataLength { get; }

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out GgufTensorInfo tensor) =>
        _byName.TryGetValue(name, out tensor);

    /// <summary>The tensor of that name.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public GgufTensorInfo GetTensor(string name) =>
        _byName.TryGetValue(name, out GgufTensorInfo? tensor) ? tensor : throw new KeyNotFoundException($"No tensor named '{name}' in {Path}.");

    /// <summary>
    /// The linear layer whose weight is <c>&lt;prefix&gt;.weight</c> (pass the prefix, such as <c>blk.0.attn_q</c>, or the
    /// tensor's name), as a group-wise layer holding exactly ggml's values: Q8_0 as 8-bit and Q4_0 as 4-bit, group 32, with
    /// the f16 block scales and ggml's zero points (128 and 8); Q5_0 widened to 8-bit codes (zero point 16); Q3_K as 4-bit
    /// and Q6_K widened to 8-bit codes, both in groups of 16 (zero points 4 and 32, scale d times the sub-block's integer
    /// scale; float layers only);
    /// <c>&lt;prefix&gt;.bias</c> too when present (rounded to <typeparamref name="T"/>). ggml's <c>[in, out]</c> becomes the
    /// layer's <c>out x in</c>.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such tensor.</exception>
    /// <exception cref="NotSupportedException">The tensor's type is not one of these yet, or <typeparamref name="T"/> cannot hold its scales exactly
    /// (BFloat16; Half for Q3_K and Q6_K).</exception>
    /// <exception cref="InvalidDataException">The tensor is not 2-D, or its bias does not fit.</exception>
    public LowBitLinear<T> LoadLowBitLinear<T>(string nameOrPrefix) => GgufLayers.Load<T>(this, nameOrPrefix);

    /// <summary>A tensor's raw bytes (its ggml blocks), straight from the mapping.</summary>
    /// <exception cref="ArgumentException">The tensor is not one of this file's.</exception>
    /// <exception cref="NotSupportedException">The tensor is larger than a span can address (2 GiB).</exception>
    public ReadOnlySpan<byte> GetBytes(GgufTensorInfo tensor)
    {
        _mapping.ThrowIfDisposed(this);
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_byName.TryGetValue(tensor.Name, out GgufTensorInfo? own) || own != tensor)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to {Path}.", nameof(tensor));
        }

        if (tensor.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteLength} bytes, more than a span can address.");
        }

        return _mapping.Span(tensor.Offset, (int)tensor.ByteLength);
    }

    /// <summary>Unmaps the file; spans handed out before become invalid.</summary>
    public void Dispose() => _mapping.Dispose();
}
