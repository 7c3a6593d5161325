using System.Buffers.Binary;
using System.Text;

namespace LowBit.IO;

/// <summary>
/// Parses a GGUF header (version 2 or 3: magic, counts, metadata key/values, tensor infos) from a stream, strictly:
/// every count, length, type, dimension, offset and the alignment is checked against the bytes the file has before it
/// is used, so a hostile file gets an <see cref="InvalidDataException"/> naming the field, never an allocation sized by
/// its claims or a read past its end. Layout: ggml's docs/gguf.md; little-endian only.
/// </summary>
internal sealed class GgufHeader
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    private const int MaxDimensions = 4;

    /// <summary>How deep arrays of arrays may nest (the format allows it; real files use one level).</summary>
    private const int MaxArrayDepth = 3;

    /// <summary>The alignment of tensor data when <c>general.alignment</c> is absent.</summary>
    public const uint DefaultAlignment = 32;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _stream;
    private readonly long _length;
    private readonly byte[] _scratch = new byte[8];
    private long _position;

    private GgufHeader(Stream stream, long length)
    {
        _stream = stream;
        _length = length;
    }

    public uint Version { get; private set; }
    public uint Alignment { get; private set; } = DefaultAlignment;
    public long DataOffset { get; private set; }
    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);
    public List<GgufTensorInfo> Tensors { get; } = [];

    /// <summary>True when the bytes start with the GGUF magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> prefix) => prefix.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(prefix) == Magic;

    /// <summary>Reads and validates the header of a file of <paramref name="length"/> bytes.</summary>
    public static GgufHeader Read(Stream stream, long length)
    {
        var header = new GgufHeader(stream, length);
        header.Parse();
        return header;
    }

    private long Remaining => _length - _position;

    private void Parse()
    {
        if (_length < 24) throw Invalid($"the file is {_length} bytes, shorter than a GGUF header (24)");
        uint magic = ReadUInt32("magic");
        if (magic != Magic) throw Invalid($"it does not start with the GGUF magic (found 0x{magic:x8})");
        Version = ReadUInt32("version");
        if (Version is not (2 or 3)) throw Invalid($"GGUF version {Version} is not supported (2 and 3 are)");
        ulong tensorCount = ReadUInt64("tensor_count"), kvCount = ReadUInt64("metadata_kv_count");
        // The smallest key/value is 13 bytes (empty key, type, one byte); the smallest tensor info 32 (empty name, one dimension).
        if (kvCount > (ulong)Remaining / 13) throw Invalid($"metadata_kv_count {kvCount} cannot fit in the file's {_length} bytes");
        if (tensorCount > (ulong)Remaining / 32) throw Invalid($"tensor_count {tensorCount} cannot fit in the file's {_length} bytes");

        for (ulong i = 0; i < kvCount; i++)
        {
            string key = ReadString($"the key of metadata entry {i}");
            uint type = ReadUInt32($"the value type of '{key}'");
            object value = ReadValue(type, key, depth: 0);
            if (!Metadata.TryAdd(key, value)) throw Invalid($"metadata key '{key}' appears twice");
        }

        if (Metadata.TryGetValue("general.alignment", out object? alignment))
        {
            if (alignment is not uint a || a == 0 || (a & (a - 1)) != 0)
            {
                throw Invalid($"general.alignment must be a power of two stored as uint32, not {alignment} ({alignment.GetType().Name})");
            }

            Alignment = a;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var raw = new List<(string Name, GgufType Type, long[] Dimensions, long Elements, ulong Offset, long Bytes)>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            string name = ReadString($"the name of tensor {i}");
            if (!names.Add(name)) throw Invalid($"tensor '{name}' appears twice");
            uint dimensionCount = ReadUInt32($"n_dims of tensor '{name}'");
            if (dimensionCount is 0
                or > MaxDimensions) throw Invalid($"tensor '{name}' has {dimensionCount} dimensions (1 to {MaxDimensions} allowed)");
            var dimensions = new long[dimensionCount];
            long elements = 1;
            for (int d = 0; d < dimensionCount; d++)
            {
                ulong extent = ReadUInt64($"dimension {d} of tensor '{name}'");
                if (extent > long.MaxValue) throw Invalid($"dimension {d} of tensor '{name}' is {extent}, more than a 64-bit size");
                dimensions[d] = (long)extent;
                try
                {
                    elements = checked(elements * (long)extent);
                }
                catch (OverflowException)
                {
                    throw Invalid($"the dimensions of tensor '{name}' multiply past a 64-bit size");
                }
            }

            uint typeId = ReadUInt32($"the type of tensor '{name}'");
            var type = (GgufType)typeId;
            if (!GgufTypes.TryGetLayout(type, out int blockWeights, out int blockBytes))
            {
                throw Invalid($"tensor '{name}' has ggml type {typeId}, which is unknown or was removed from ggml");
            }

            if (dimensions[0] % blockWeights != 0)
            {
                throw Invalid($"tensor '{name}' ({type}) has {dimensions[0]} elements per row, not a multiple of its block of {blockWeights}");
            }

            long bytes;
            try
            {
                bytes = checked(elements / blockWeights * blockBytes);
            }
            catch (OverflowException)
            {
                throw Invalid($"tensor '{name}' is larger than a 64-bit size");
            }

            ulong offset = ReadUInt64($"the offset of tensor '{name}'");
            if (offset % Alignment != 0) throw Invalid($"tensor '{name}' starts at offset {offset}, not a multiple of the alignment {Alignment}");
            raw.Add((name, type, dimensions, elements, offset, bytes));
        }

        long dataOffset = (_position + Alignment - 1) / Alignment * Alignment;
        if (dataOffset > _length) throw Invalid($"the data section would start at {dataOffset}, past the end of the file ({_length} bytes)");
        DataOffset = dataOffset;
        long dataLength = _length - dataOffset;
        // Tensors lie inside the data section and do not overlap (ggml writes them in order, each aligned).
        long end = 0;
        string? previous = null;
        foreach (var t in raw.OrderBy(t => t.Offset))
        {
            if (t.Offset > (ulong)dataLength || (ulong)t.Bytes > (ulong)dataLength - t.Offset)
            {
                throw Invalid($"tensor '{t.Name}' ({t.Bytes} bytes at offset {t.Offset}) runs past the end of the data section ({dataLength} bytes)");
            }

            if ((long)t.Offset < end) throw Invalid($"tensor '{t.Name}' at offset {t.Offset} overlaps tensor '{previous}', which ends at {end}");
            end = (long)t.Offset + t.Bytes;
            previous = t.Name;
        }

        foreach (var t in raw) Tensors.Add(new GgufTensorInfo(t.Name, t.Type, t.Dimensions, t.Elements, (long)t.Offset, t.Bytes));
    }

    private object ReadValue(uint type, string key, int depth) => type switch
    {
        0 => ReadBytes(1, key)[0],
        1 => (sbyte)ReadBytes(1, key)[0],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2, key)),
        3 => BinaryPrimitives.ReadInt16LittleEndian(ReadBytes(2, key)),
        4 => ReadUInt32(key),
        5 => BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4, key)),
        6 => BinaryPrimitives.ReadSingleLittleEndian(ReadBytes(4, key)),
        7 => ReadBool(key),
        8 => ReadString($"the value of '{key}'"),
        9 => ReadArray(key, depth),
        10 => ReadUInt64(key),
        11 => BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8, key)),
        12 => BinaryPrimitives.ReadDoubleLittleEndian(ReadBytes(8, key)),
        _ => throw Invalid($"metadata '{key}' has value type {type}, which GGUF does not define"),
    };

    private bool ReadBool(string key)
    {
        byte b = ReadBytes(1, key)[0];
        return b switch { 0 => false, 1 => true, _ => throw Invalid($"metadata '{key}' is a bool stored as {b}, not 0 or 1") };
    }

    private Array ReadArray(string key, int depth)
    {
        if (depth >= MaxArrayDepth) throw Invalid($"metadata '{key}' nests arrays deeper than {MaxArrayDepth}");
        uint elementType = ReadUInt32($"the element type of '{key}'");
        ulong count = ReadUInt64($"the length of '{key}'");
        int elementBytes = elementType switch
        {
            0 or 1 or 7 => 1,
            2 or 3 => 2,
            4 or 5 or 6 => 4,
            10 or 11 or 12 => 8,
            8 => 8, // a string's length field, at least
            9 => 12, // an array's element type and length, at least
            _ => throw Invalid($"metadata '{key}' is an array of value type {elementType}, which GGUF does not define"),
        };
        if (count > (ulong)Remaining / (ulong)elementBytes || count > int.MaxValue)
        {
            throw Invalid($"metadata '{key}' claims {count} elements, more than the file holds");
        }

        int n = (int)count;
        switch (elementType)
        {
            case 0: return ReadBytes(n, key).ToArray();
            case 1: return Array.ConvertAll(ReadBytes(n, key).ToArray(), b => (sbyte)b);
            case 8:
                {
                    var strings = new string[n];
                    for (int i = 0; i < n; i++) strings[i] = ReadString($"element {i} of '{key}'");
                    return strings;
                }
            case 9:
                {
                    var arrays = new Array[n];
                    for (int i = 0; i < n; i++) arrays[i] = ReadArray(key, depth + 1);
                    return arrays;
                }
            default:
                {
                    Array values = elementType switch
                    {
                        2 => new ushort[n],
                        3 => new short[n],
                        4 => new uint[n],
                        5 => new int[n],
                        6 => new float[n],
                        7 => new bool[n],
                        10 => new ulong[n],
                        11 => new long[n],
                        _ => new double[n],
                    };
                    for (int i = 0; i < n; i++) values.SetValue(ReadValue(elementType, key, depth + 1), i);
                    return values;
                }
        }
    }

    private string ReadString(string what)
    {
        ulong length = ReadUInt64($"the length of {what}");
        if (length > (ulong)Remaining || length > int.MaxValue) throw Invalid($"{what} claims {length} bytes, past the end of the file");
        try
        {
            return StrictUtf8.GetString(ReadBytes((int)length, what));
        }
        catch (DecoderFallbackException)
        {
            throw Invalid($"{what} is not valid UTF-8");
        }
    }

    private uint ReadUInt32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4, what));

    private ulong ReadUInt64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8, what));

    /// <summary>The next <paramref name="count"/> bytes (a view of a scratch buffer for 8 or fewer).</summary>
    private ReadOnlySpan<byte> ReadBytes(int count, string what)
    {
        if (count > Remaining) throw Invalid($"the file ends inside {what} (at byte {_position} of {_length})");
        byte[] buffer = count <= _scratch.Length ? _scratch : new byte[count];
        _stream.ReadExactly(buffer, 0, count);
        _position += count;
        return buffer.AsSpan(0, count);
    }

    private static InvalidDataException Invalid(string why) => new($"Not a valid GGUF file: {why}.");
}
