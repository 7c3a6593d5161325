using System.Buffers.Binary;
using System.Text.Json;

namespace LowBit.IO;

/// <summary>
/// Parses and validates a safetensors header: an 8-byte little-endian length, then that many bytes of
/// JSON mapping tensor names to <c>{dtype, shape, data_offsets}</c> plus an optional <c>__metadata__</c>
/// object of strings. Every rule is checked before any data is touched; a violation is an
/// <see cref="InvalidDataException"/> that says what is wrong.
/// </summary>
internal static class SafeTensorsHeader
{
    /// <summary>The largest header accepted; real headers are kilobytes to a few megabytes.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public const string MetadataKey = "__metadata__";

    /// <summary>Reads the header length from the first 8 bytes and checks it against the file length.</summary>
    public static long ReadLength(ReadOnlySpan<byte> prefix, long fileLength)
    {
        if (fileLength < 8 || prefix.Length < 8)
        {
            throw new InvalidDataException($"The file is {fileLength} bytes; a safetensors file starts with an 8-byte header length.");
        }

        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > MaxHeaderBytes)
        {
            throw new InvalidDataException($"The header length {length} exceeds the {MaxHeaderBytes}-byte limit.");
        }

        if ((long)length > fileLength - 8)
        {
            throw new InvalidDataException($"The header length {length} is larger than the {fileLength - 8} bytes after the length field.");
        }

        return (long)length;
    }

    /// <summary>Parses the JSON header; tensors come back sorted by offset, checked to tile the data section exactly.</summary>
    public static (List<SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(ReadOnlySpan<byte> json, long dataLength)
    {
        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            Expect(ref reader, JsonTokenType.StartObject, "the header must be a JSON object");
            while (Next(ref reader) != JsonTokenType.EndObject)
            {
                string name = reader.GetString()!;
                if (!names.Add(name)) throw new InvalidDataException($"Duplicate entry '{name}' in the header.");
                if (name == MetadataKey) ReadMetadata(ref reader, metadata);
                else tensors.Add(ReadTensor(ref reader, name));
            }

            // Only whitespace may follow (writers pad the header with spaces).
            if (reader.Read()) throw new InvalidDataException("Unexpected content after the header object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The header is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidDataException($"The header has an unexpected JSON value: {e.Message}", e);
        }

        CheckLayout(tensors, dataLength);
        return (tensors, metadata);
    }

    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read()) throw new InvalidDataException("The header JSON ends early.");
        return reader.TokenType;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string what)
    {
        if (Next(ref reader) != type) throw new InvalidDataException($"Malformed header: {what}.");
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        Expect(ref reader, JsonTokenType.StartObject, "__metadata__ must be an object of strings");
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            Expect(ref reader, JsonTokenType.String, $"__metadata__ value '{key}' must be a string");
            if (!metadata.TryAdd(key, reader.GetString()!)) throw new InvalidDataException($"Duplicate __metadata__ key '{key}'.");
        }
    }

    private static SafeTensorInfo ReadTensor(ref Utf8JsonReader reader, string name)
    {
        Expect(ref reader, JsonTokenType.StartObject, $"tensor '{name}' must be an object");
        SafeTensorDType? dtype = null;
        List<long>? shape = null;
        long[]? offsets = null;
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            // A repeated key would let two readers see two different tensors (one taking the first, one the last value):
            // rejected, as the reference parser does.
            if ((key == "dtype" && dtype is not null) || (key == "shape" && shape is not null) || (key == "data_offsets" && offsets is not null))
            {
                throw new InvalidDataException($"Tensor '{name}' has '{key}' twice.");
            }

            switch (key)
            {
                case "dtype":
                    Expect(ref reader, JsonTokenType.String, $"tensor '{name}': dtype must be a string");
                    string text = reader.GetString()!;
                    if (!SafeTensorDTypes.TryParse(text, out SafeTensorDType parsed))
                    {
                        throw new InvalidDataException($"Tensor '{name}' has unknown dtype '{text}'.");
                    }

                    dtype = parsed;
                    break;
                case "shape":
                    shape = ReadIntegers(ref reader, name, "shape");
                    break;
                case "data_offsets":
                    List<long> pair = ReadIntegers(ref reader, name, "data_offsets");
                    if (pair.Count != 2) throw new InvalidDataException($"Tensor '{name}': data_offsets must hold two numbers, not {pair.Count}.");
                    offsets = [pair[0], pair[1]];
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            throw new InvalidDataException($"Tensor '{name}' must have dtype, shape and data_offsets.");
        }

        if (offsets[1] < offsets[0])
        {
            throw new InvalidDataException($"Tensor '{name}': data_offsets [{offsets[0]}, {offsets[1]}] end before they begin.");
        }

        long bytes = dtype.Value.SizeOf();
        foreach (long dimension in shape)
        {
            if (dimension != 0 && bytes > long.MaxValue / dimension)
            {
                throw new InvalidDataException($"Tensor '{name}': shape [{string.Join(", ", shape)}] is too large.");
            }

            bytes *= dimension;
        }

        if (bytes != offsets[1] - offsets[0])
        {
            throw new InvalidDataException(
                $"Tensor '{name}': {dtype} shape [{string.Join(", ", shape)}] needs {bytes} bytes but data_offsets span {offsets[1] - offsets[0]}.");
        }

        return new SafeTensorInfo(name, dtype.Value, shape, offsets[0], offsets[1]);
    }

    private static List<long> ReadIntegers(ref Utf8JsonReader reader, string name, string what)
    {
        Expect(ref reader, JsonTokenType.StartArray, $"tensor '{name}': {what} must be an array");
        var values = new List<long>();
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
            {
                throw new InvalidDataException($"Tensor '{name}': {what} must hold non-negative integers.");
            }

            if (values.Count == 64) throw new InvalidDataException($"Tensor '{name}': {what} has too many entries.");
            values.Add(value);
        }

        return values;
    }

    /// <summary>The tensors, sorted by offset, must cover the data section exactly: no gap, no overlap, nothing past the end.</summary>
    private static void CheckLayout(List<SafeTensorInfo> tensors, long dataLength)
    {
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long position = 0;
        foreach (SafeTensorInfo tensor in tensors)
        {
            if (tensor.End > dataLength)
            {
                throw new InvalidDataException($"Tensor '{tensor.Name}': data_offsets end at {tensor.End}, past the {dataLength}-byte data section.");
            }

            if (tensor.Begin < position)
            {
                throw new InvalidDataException($"Tensor '{tensor.Name}': data [{tensor.Begin}, {tensor.End}) overlaps the previous tensor (which " +
                    $"ends at {position}).");
            }

            if (tensor.Begin > position)
            {
                throw new InvalidDataException($"Tensor '{tensor.Name}': data starts at {tensor.Begin}, leaving a gap after {position}.");
            }

            position = tensor.End;
        }

        if (position != dataLength)
        {
            throw new InvalidDataException($"The tensors cover {position} bytes but the data section holds {dataLength}.");
        }
    }
}
