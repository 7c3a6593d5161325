using System.IO.MemoryMappedFiles;

namespace LowBit.IO;

/// <summary>
/// A whole file mapped read-only, with a pointer to its data section: what <see cref="SafeTensorsFile"/> and
/// <see cref="GgufFile"/> share once their headers are validated.
/// </summary>
internal sealed unsafe class FileMapping : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _data;

    private FileMapping(MemoryMappedFile map, MemoryMappedViewAccessor view, long dataOffset)
    {
        _map = map;
        _view = view;
        byte* start = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref start);
        _data = start + view.PointerOffset + dataOffset;
    }

    /// <summary>Maps <paramref name="path"/>; <see cref="Data"/> points <paramref name="dataOffset"/> bytes in.</summary>
    public static FileMapping Open(string path, long dataOffset)
    {
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        try
        {
            return new FileMapping(map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read), dataOffset);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>The first byte of the data section; null once disposed.</summary>
    public byte* Data => _data;

    /// <summary>Throws <see cref="ObjectDisposedException"/> for <paramref name="owner"/> once unmapped.</summary>
    public void ThrowIfDisposed(object owner) => ObjectDisposedException.ThrowIf(_data is null, owner);

    /// <summary><paramref name="count"/> bytes at <paramref name="offset"/> in the data section (callers check <see cref="ThrowIfDisposed"/> and the
    /// range first).</summary>
    public ReadOnlySpan<byte> Span(long offset, int count) => new(_data + offset, count);

    public void Dispose()
    {
        if (_data is null) return;
        _data = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
