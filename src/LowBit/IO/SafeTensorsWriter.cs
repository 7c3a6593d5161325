using System.Text.Json;

namespace LowBit.IO;

/// <summary>
/// Writes a safetensors file tensor by tensor. The header (all names, dtypes, shapes and offsets) is
/// written first from the specs, then the data is appended in spec order, so a writer never holds more
/// than the piece it is given. Everything goes to a temporary file in the target's folder, which
/// replaces the target only in <see cref="Commit"/>: a failure or an abandoned writer never leaves a
/// truncated file and never destroys an existing one.
/// </summary>
/// <remarks>
/// <code>
/// using var writer = SafeTensorsWriter.Create("out.safetensors", specs, metadata);
/// foreach (var piece in pieces) writer.Append(piece);   // in spec order
/// writer.Commit();
/// </code>
/// </remarks>
public sealed class SafeTensorsWriter : IDisposable
{
    private readonly string _path;
    private readonly string _temporaryPath;
    private readonly FileStream _stream;
    private readonly IReadOnlyList<SafeTensorSpec> _tensors;
    private readonly long _dataLength;
    private long _written;
    private bool _committed;

    private SafeTensorsWriter(string path, string temporaryPath, FileStream stream, IReadOnlyList<SafeTensorSpec> tensors, long dataLength)
    {
        _path = path;
        _temporaryPath = temporaryPath;
        _stream = stream;
        _tensors = tensors;
        _dataLength = dataLength;
    }

    /// <summary>Starts a file with these tensors (data laid out in this order) and metadata.</summary>
    /// <exception cref="ArgumentException">A name is empty, reserved or repeated, or a shape has a negative dimension.</exception>
    /// <exception cref="IOException">The temporary file cannot be created.</exception>
    public static SafeTensorsWriter Create(string path, IReadOnlyList<SafeTensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        byte[] header = BuildHeader(tensors, metadata, out long dataLength);
        string fullPath = System.IO.Path.GetFullPath(path);
        string folder = System.IO.Path.GetDirectoryName(fullPath)!;
        string temporaryPath = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        var stream = new FileStream(temporaryPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        try
        {
            stream.Write(header);
            return new SafeTensorsWriter(fullPath, temporaryPath, stream, tensors, dataLength);
        }
        catch (IOException e)
        {
            Discard(stream, temporaryPath);
            throw UserFacing(e, temporaryPath, fullPath);
        }
        catch
        {
            Discard(stream, temporaryPath);
            throw;
        }
    }

    /// <summary>Writes a whole file from tensors in memory.</summary>
    public static void WriteAll(string path, IReadOnlyList<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        using SafeTensorsWriter writer = Create(path, tensors.Select(t => t.Spec).ToArray(), metadata);
        foreach (SafeTensorData tensor in tensors)
        {
            if (tensor.Data.Length != tensor.Spec.ByteLength)
            {
                throw new ArgumentException($"Tensor '{tensor.Spec.Name}' needs {tensor.Spec.ByteLength} bytes, got {tensor.Data.Length}.",
                                            nameof(tensors));
            }

            writer.Append(tensor.Data.Span);
        }

        writer.Commit();
    }

    /// <summary>Bytes of data still expected before <see cref="Commit"/>.</summary>
    public long Remaining => _dataLength - _written;

    /// <summary>Appends the next bytes of data (tensors in spec order; a piece may span tensors).</summary>
    /// <exception cref="ArgumentException">More bytes than the specs leave room for.</exception>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        if (bytes.Length > Remaining)
        {
            throw new ArgumentException($"{bytes.Length} bytes given but only {Remaining} remain for the declared tensors.", nameof(bytes));
        }

        try
        {
            _stream.Write(bytes);
        }
        catch (IOException e)
        {
            throw UserFacing(e, _temporaryPath, _path);
        }

        _written += bytes.Length;
    }

    /// <summary>Flushes to disk and atomically replaces the target with the finished file.</summary>
    /// <exception cref="InvalidOperationException">Fewer bytes were appended than the specs declare.</exception>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        if (Remaining != 0)
        {
            throw new InvalidOperationException($"{Remaining} bytes of tensor data are missing; the file was not written.");
        }

        try
        {
            _stream.Flush(flushToDisk: true);
            _stream.Dispose();
            File.Move(_temporaryPath, _path, overwrite: true);
        }
        catch (IOException e)
        {
            throw UserFacing(e, _temporaryPath, _path);
        }

        _committed = true;
    }

    /// <summary>Discards the temporary file unless <see cref="Commit"/> succeeded.</summary>
    /// <remarks>
    /// Closing the stream flushes its buffer, which fails again on a full disk: the temporary file is deleted whatever
    /// the close does (it used to stay behind and keep the disk full).
    /// </remarks>
    public void Dispose()
    {
        if (_committed) return;
        _committed = true;
        Discard(_stream, _temporaryPath);
    }

    /// <summary>Closes the stream and deletes the temporary file, whatever the close throws.</summary>
    private static void Discard(FileStream stream, string temporaryPath)
    {
        try
        {
            stream.Dispose();
        }
        catch (IOException)
        {
            // The data is discarded anyway.
        }
        finally
        {
            try
            {
                File.Delete(temporaryPath);
            }
            catch (IOException)
            {
                // Best effort: the target was never touched either way.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>An I/O failure told in terms of the file the caller asked for, not the hidden temporary file.</summary>
    private static IOException UserFacing(IOException e, string temporaryPath, string path)
    {
        // .NET appends " : 'path'" to some IO messages ("No space left on device : '/x/.y.tmp'"): the path is said once, first.
        string reason = e.Message.Replace($" : '{temporaryPath}'", "", StringComparison.Ordinal).Replace(temporaryPath, path,
                                                                                                         StringComparison.Ordinal);
        return new IOException($"Could not write '{path}': {reason}", e);
    }

    private static byte[] BuildHeader(IReadOnlyList<SafeTensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata, out long dataLength)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                writer.WriteStartObject(SafeTensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }

            long offset = 0;
            foreach (SafeTensorSpec tensor in tensors)
            {
                if (string.IsNullOrEmpty(tensor.Name) || tensor.Name == SafeTensorsHeader.MetadataKey || !names.Add(tensor.Name))
                {
                    throw new ArgumentException($"Tensor name '{tensor.Name}' is empty, reserved or repeated.", nameof(tensors));
                }

                if (tensor.Shape.Any(d => d < 0))
                {
                    throw new ArgumentException($"Tensor '{tensor.Name}' has a negative dimension.", nameof(tensors));
                }

                if (!tensor.TryGetByteLength(out long length) || length > long.MaxValue - offset)
                {
                    throw new ArgumentException($"Tensor '{tensor.Name}': shape [{string.Join(", ", tensor.Shape)}] is too large for a file.",
                                                nameof(tensors));
                }

                writer.WriteStartObject(tensor.Name);
                writer.WriteString("dtype", tensor.DType.ToString());
                writer.WriteStartArray("shape");
                foreach (long dimension in tensor.Shape) writer.WriteNumberValue(dimension);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + length);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += length;
            }

            writer.WriteEndObject();
            dataLength = offset;
        }

        // Pad the JSON with spaces so that the data section starts 8-byte aligned.
        int jsonLength = (int)json.Length;
        int padded = (jsonLength + 7) & ~7;
        byte[] header = new byte[8 + padded];
        BitConverter.TryWriteBytes(header.AsSpan(0, 8), (ulong)padded);
        if (!BitConverter.IsLittleEndian) header.AsSpan(0, 8).Reverse();
        json.GetBuffer().AsSpan(0, jsonLength).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + jsonLength).Fill((byte)' ');
        return header;
    }
}
