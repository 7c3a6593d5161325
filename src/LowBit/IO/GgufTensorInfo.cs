namespace LowBit.IO;

/// <summary>One tensor of a <see cref="GgufFile"/>, as its tensor-info entry describes it (validated on open).</summary>
public sealed class GgufTensorInfo
{
    private readonly long[] _dimensions;

    internal GgufTensorInfo(string name, GgufType type, long[] dimensions, long elementCount, long offset, long byteLength)
    {
        Name = name;
        Type = type;
        _dimensions = dimensions;
        ElementCount = elementCount;
        Offset = offset;
        ByteLength = byteLength;
    }

    /// <summary>The tensor's name, such as <c>blk.0.attn_q.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Its ggml type.</summary>
    public GgufType Type { get; }

    /// <summary>
    /// ggml's <c>ne</c>: the contiguous dimension first. A linear layer's weight is <c>[in, out]</c> here, the reverse of
    /// PyTorch's <c>[out, in]</c> (see <see cref="Shape"/>).
    /// </summary>
    public ReadOnlySpan<long> Dimensions => _dimensions;

    /// <summary>The dimensions in row-major (PyTorch, safetensors) order: the contiguous dimension last.</summary>
    public long[] Shape
    {
        get
        {
            long[] shape = (long[])_dimensions.Clone();
            Array.Reverse(shape);
            return shape;
        }
    }

    /// <summary>Elements (weights) in the tensor.</summary>
    public long ElementCount { get; }

    /// <summary>Where its data starts, in bytes from the start of the file's data section.</summary>
    public long Offset { get; }

    /// <summary>Bytes of data: whole blocks of its type.</summary>
    public long ByteLength { get; }
}
