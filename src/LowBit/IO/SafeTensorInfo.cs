namespace LowBit.IO;

/// <summary>One tensor of a safetensors file: its name, element type, shape and byte range in the data section.</summary>
/// <param name="Name">The tensor's name, for example <c>model.layers.0.mlp.up_proj.weight</c>.</param>
/// <param name="DType">The element type.</param>
/// <param name="Shape">The dimensions, outermost first; empty for a scalar.</param>
/// <param name="Begin">Offset of the first byte, relative to the start of the data section.</param>
/// <param name="End">Offset one past the last byte, relative to the start of the data section.</param>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, IReadOnlyList<long> Shape, long Begin, long End)
{
    /// <summary>Bytes of data: <c>End - Begin</c>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape as text, for example <c>[4096, 11008]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
