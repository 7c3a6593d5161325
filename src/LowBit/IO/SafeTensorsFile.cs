using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LowBit.Internal;

namespace LowBit.IO;

/// <summary>
/// A read-only, memory-mapped safetensors file: the tensor list and metadata are parsed and
/// validated on open, and tensor data is handed out as spans over the mapping, without copying.
/// </summary>
/// <remarks>
/// <code>
/// using var file = SafeTensorsFile.Open("model.safetensors");
/// foreach (SafeTensorInfo t in file.Tensors) Console.WriteLine($"{t.Name} {t.DType} {t.ShapeText}");
/// ReadOnlySpan&lt;BFloat16&gt; w = file.GetSpan&lt;BFloat16&gt;("layers.0.mlp.up_proj.weight");
/// </code>
/// Spans stay valid until the file is disposed. Any malformed file is rejected with an
/// <see cref="InvalidDataException"/> before data is mapped.
/// </remarks>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly FileMapping _mapping;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsFile(string path, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata,
                            FileMapping mapping, long dataOffset, long dataLength)
    {
        _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Path = path;
        Tensors = tensors;
        Metadata = metadata;
        _mapping = mapping;
        DataOffset = dataOffset;
        DataLength = dataLength;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Opens, validates and maps a safetensors file.</summary>
    /// <exception cref="InvalidDataException">The file is not a valid safetensors file (the message says why).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        List<SafeTensorInfo> tensors;
        Dictionary<string, string> metadata;
        long fileLength, headerLength;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1))
        {
            fileLength = stream.Length;
            Span<byte> prefix = stackalloc byte[8];
            int read = stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
            headerLength = SafeTensorsHeader.ReadLength(prefix[..read], fileLength);
            byte[] header = new byte[headerLength];
            stream.ReadExactly(header);
            (tensors, metadata) = SafeTensorsHeader.Parse(header, fileLength - 8 - headerLength);
        }

        return new SafeTensorsFile(path, tensors, metadata, FileMapping.Open(path, 8 + headerLength), 8 + headerLength,
                                   fileLength - 8 - headerLength);
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Every tensor, in the order of its data in the file.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>The header's <c>__metadata__</c> strings (empty when there are none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Where the data section starts in the file (8 + header length).</summary>
    public long DataOffset { get; }

    /// <summary>Bytes in the data section.</summary>
    public long DataLength { get; }

    /// <summary>True when a tensor of that name exists.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>Looks a tensor up by name.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out SafeTensorInfo tensor) =>
        _byName.TryGetValue(name, out tensor);

    /// <summary>The tensor of that name.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorInfo GetTensor(string name) =>
        _byName.TryGetValue(name, out SafeTensorInfo? tensor) ? tensor : throw new KeyNotFoundException($"No tensor named '{name}' in {Path}.");

    /// <summary>The raw little-endian bytes of a tensor, straight from the mapping.</summary>
    /// <exception cref="NotSupportedException">The tensor is larger than a span can address (2 GiB); read it in pieces with
    /// <see cref="GetBytes(SafeTensorInfo, long, int)"/>.</exception>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo tensor)
    {
        _mapping.ThrowIfDisposed(this);
        CheckOwned(tensor);
        if (tensor.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteLength} bytes, more than a span can address; read it in pieces.");
        }

        return _mapping.Span(tensor.Begin, (int)tensor.ByteLength);
    }

    /// <summary>A piece of a tensor's raw bytes: <paramref name="count"/> bytes from <paramref name="offset"/> (for tensors of any size).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The piece is not inside the tensor.</exception>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo tensor, long offset, int count)
    {
        _mapping.ThrowIfDisposed(this);
        CheckOwned(tensor);
        if (offset < 0 || count < 0 || offset > tensor.ByteLength - count)
        {
            throw new ArgumentOutOfRangeException(nameof(offset),
                                                  $"[{offset}, {offset} + {count}) is outside tensor '{tensor.Name}' ({tensor.ByteLength} bytes).");
        }

        return _mapping.Span(tensor.Begin + offset, count);
    }

    /// <summary>The raw bytes of the named tensor.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => GetBytes(GetTensor(name));

    /// <summary>The tensor's elements as <typeparamref name="T"/>, without copying; the dtype must store <typeparamref name="T"/>.</summary>
    /// <exception cref="InvalidOperationException">The tensor's dtype does not match <typeparamref name="T"/>.</exception>
    public ReadOnlySpan<T> GetSpan<T>(string name) where T : unmanaged
    {
        SafeTensorInfo tensor = GetTensor(name);
        if (tensor.DType != SafeTensorDTypes.Of<T>())
        {
            throw new InvalidOperationException($"Tensor '{name}' is {tensor.DType}, not {SafeTensorDTypes.Of<T>()} ({typeof(T).Name}).");
        }

        return MemoryMarshal.Cast<byte, T>(GetBytes(tensor));
    }

    /// <summary>
    /// The first <paramref name="length"/> elements of an F32, F16 or BF16 tensor of this file, widened to float and
    /// rounded to <typeparamref name="T"/> (exact when T holds the dtype): how the loaders read scales, offsets and biases.
    /// </summary>
    /// <exception cref="InvalidDataException">The tensor is not F32, F16 or BF16.</exception>
    internal T[] ReadFloats<T>(SafeTensorInfo tensor, int length)
    {
        float[] values = new float[length];
        switch (tensor.DType)
        {
            case SafeTensorDType.F32: GetSpan<float>(tensor.Name)[..length].CopyTo(values); break;
            case SafeTensorDType.F16: Elements<Half>.ToSingle(GetSpan<Half>(tensor.Name)[..length], values); break;
            case SafeTensorDType.BF16: BFloat16.ConvertToSingle(GetSpan<BFloat16>(tensor.Name)[..length], values); break;
            default: throw new InvalidDataException($"'{tensor.Name}' must be F32, F16 or BF16; it is {tensor.DType}.");
        }

        var result = new T[length];
        Elements<T>.FromSingle(values, result);
        return result;
    }

    /// <summary>A copy of the tensor's elements.</summary>
    public T[] ToArray<T>(string name) where T : unmanaged => GetSpan<T>(name).ToArray();

    /// <summary>
    /// Reads <c>destination.Length</c> bytes of a tensor from <paramref name="offset"/> with ordinary file reads,
    /// not through the mapping: for one pass over a large file (as the checkpoint quantizer makes), the process
    /// then holds only the buffer, not every page of the file it has touched.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the tensor.</exception>
    public void ReadBytes(SafeTensorInfo tensor, long offset, Span<byte> destination)
    {
        _mapping.ThrowIfDisposed(this);
        CheckOwned(tensor);
        if (offset < 0 || offset > tensor.ByteLength - destination.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"[{offset}, {offset} + {destination.Length}) is outside tensor '{tensor.Name}' ({tensor.ByteLength} bytes).");
        }

        long position = DataOffset + tensor.Begin + offset;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, destination, position);
            if (read == 0) throw new EndOfStreamException($"{Path} ended while reading tensor '{tensor.Name}'; was it truncated after opening?");
            destination = destination[read..];
            position += read;
        }
    }

    private void CheckOwned(SafeTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_byName.TryGetValue(tensor.Name, out SafeTensorInfo? own) || own != tensor)
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to {Path}.", nameof(tensor));
        }
    }

    /// <summary>Unmaps the file; spans handed out before become invalid.</summary>
    public void Dispose()
    {
        _mapping.Dispose();
        _handle.Dispose();
    }
}
