using System.Text;

namespace LowBit.IO;

/// <summary>
/// Writes small GGUF v3 files in memory (ggml's docs/gguf.md): metadata of every value type and arrays of them, then
/// tensor infos and the data, each tensor aligned to 32 bytes. What the tests and benchmarks make their models with.
/// </summary>
internal sealed class GgufWriter
{
    private readonly List<(string Key, object Value)> _metadata = [];
    private readonly List<(string Name, GgufType Type, long[] Ne, byte[] Data)> _tensors = [];

    public GgufWriter Set(string key, object value)
    {
        _metadata.RemoveAll(m => m.Key == key);
        _metadata.Add((key, value));
        return this;
    }

    /// <summary>Adds a tensor: <paramref name="ne"/> in ggml's order (contiguous dimension first), data as ggml stores it.</summary>
    public GgufWriter Tensor(string name, GgufType type, long[] ne, byte[] data)
    {
        _tensors.Add((name, type, ne, data));
        return this;
    }

    public void Save(string path)
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(0x46554747u);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach ((string key, object value) in _metadata)
        {
            String(w, key);
            Value(w, value, withType: true);
        }

        long offset = 0;
        foreach ((string name, GgufType type, long[] ne, byte[] data) in _tensors)
        {
            String(w, name);
            w.Write((uint)ne.Length);
            foreach (long n in ne) w.Write((ulong)n);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offset += Align(data.Length);
        }

        Pad(w);
        foreach ((_, _, _, byte[] data) in _tensors)
        {
            w.Write(data);
            Pad(w);
        }

        w.Flush();
        File.WriteAllBytes(path, stream.ToArray());
    }

    private static long Align(long n) => (n + 31) / 32 * 32;

    private static void Pad(BinaryWriter w)
    {
        while (w.BaseStream.Position % 32 != 0) w.Write((byte)0);
    }

    private static void String(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static uint TypeOf(object value) => value is Array ? 9u : TypeOf(value.GetType());

    private static readonly Dictionary<Type, uint> TypeIds = new()
    {
        [typeof(byte)] = 0,
        [typeof(sbyte)] = 1,
        [typeof(ushort)] = 2,
        [typeof(short)] = 3,
        [typeof(uint)] = 4,
        [typeof(int)] = 5,
        [typeof(float)] = 6,
        [typeof(bool)] = 7,
        [typeof(string)] = 8,
        [typeof(ulong)] = 10,
        [typeof(long)] = 11,
        [typeof(double)] = 12,
    };

    private static uint TypeOf(Type type) =>
        type.IsArray ? 9u : TypeIds.TryGetValue(type, out uint id) ? id : throw new ArgumentException($"No GGUF type for {type}");

    private static void Value(BinaryWriter w, object value, bool withType)
    {
        if (withType) w.Write(TypeOf(value));
        switch (value)
        {
            case byte v: w.Write(v); break;
            case sbyte v: w.Write(v); break;
            case ushort v: w.Write(v); break;
            case short v: w.Write(v); break;
            case uint v: w.Write(v); break;
            case int v: w.Write(v); break;
            case float v: w.Write(v); break;
            case bool v: w.Write(v); break;
            case string v: String(w, v); break;
            case ulong v: w.Write(v); break;
            case long v: w.Write(v); break;
            case double v: w.Write(v); break;
            case Array array:
                w.Write(TypeOf(array.GetType().GetElementType()!));
                w.Write((ulong)array.Length);
                foreach (object item in array) Value(w, item, withType: false);
                break;
        }
    }
}
