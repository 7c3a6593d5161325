using System.Globalization;
using System.Text.Json;
using LowBit.IO;

namespace LowBit.Models;

/// <summary>
/// A decoder's GGUF metadata, read the same way from a GGUF file (typed values) and from a LowBit checkpoint converted
/// from one (<c>lowbit convert</c> keeps each key as <c>gguf.&lt;key&gt;</c>: scalars as text, arrays as JSON).
/// </summary>
internal sealed class ModelMetadata
{
    private readonly Func<string, object?> _lookup;

    private ModelMetadata(string source, Func<string, object?> lookup)
    {
        Source = source;
        _lookup = lookup;
    }

    /// <summary>The file the metadata comes from, for messages.</summary>
    public string Source { get; }

    /// <summary>The metadata of a GGUF file or a converted checkpoint.</summary>
    public static ModelMetadata From(ICheckpoint checkpoint) => checkpoint switch
    {
        GgufFile gguf => new ModelMetadata(gguf.Path, key => gguf.Metadata.TryGetValue(key, out object? value) ? value : null),
        QuantizedCheckpoint converted => new ModelMetadata(converted.Path, key => converted.File.Metadata.TryGetValue("gguf." + key,
            out string? text) ? text : null),
        _ => throw new NotSupportedException($"{checkpoint.Path} is not a GGUF file or a LowBit checkpoint converted from one."),
    };

    public bool Contains(string key) => _lookup(key) is not null;

    public string? String(string key) => _lookup(key) switch
    {
        null => null,
        string s => s,
        var other => throw Invalid(key, other, "a string"),
    };

    public string RequireString(string key) => String(key) ?? throw Missing(key);

    public long? Integer(string key) => _lookup(key) switch
    {
        null => null,
        string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) => value,
        byte or sbyte or ushort or short or uint or int or long => Convert.ToInt64(_lookup(key), CultureInfo.InvariantCulture),
        ulong u when u <= long.MaxValue => (long)u,
        var other => throw Invalid(key, other, "a whole number"),
    };

    /// <summary>A positive whole number that fits an int.</summary>
    public int RequirePositive(string key)
    {
        long value = Integer(key) ?? throw Missing(key);
        if (value <= 0 || value > int.MaxValue) throw new InvalidDataException($"{Source}: {key} is {value}; it must be a positive whole number.");
        return (int)value;
    }

    /// <summary>A number; text (a converted file's) is read as float32, the type GGUF stores these hyperparameters in.</summary>
    public double? Real(string key) => _lookup(key) switch
    {
        null => null,
        string s when float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float value) => value,
        float f => f,
        double d => d,
        byte or sbyte or ushort or short or uint or int or long or ulong => Convert.ToDouble(_lookup(key), CultureInfo.InvariantCulture),
        var other => throw Invalid(key, other, "a number"),
    };

    public bool? Boolean(string key) => _lookup(key) switch
    {
        null => null,
        bool b => b,
        "true" => true,
        "false" => false,
        var other => throw Invalid(key, other, "true or false"),
    };

    /// <summary>An array of strings (GGUF's string arrays, or a converted file's JSON array).</summary>
    public string[]? Strings(string key) => _lookup(key) switch
    {
        null => null,
        string[] values => values,
        string json => ParseJson(key, json, e => e.GetString() ?? throw Invalid(key, json, "an array of strings")),
        var other => throw Invalid(key, other, "an array of strings"),
    };

    /// <summary>An array of numbers as float (token scores).</summary>
    public float[]? Floats(string key) => _lookup(key) switch
    {
        null => null,
        float[] values => values,
        double[] values => Array.ConvertAll(values, v => (float)v),
        string json => ParseJson(key, json, e => e.GetSingle()),
        var other => throw Invalid(key, other, "an array of numbers"),
    };

    /// <summary>An array of whole numbers as int (token types).</summary>
    public int[]? Integers(string key) => _lookup(key) switch
    {
        null => null,
        int[] values => values,
        uint[] values => Array.ConvertAll(values, v => (int)v),
        long[] values => Array.ConvertAll(values, v => (int)v),
        string json => ParseJson(key, json, e => e.GetInt32()),
        var other => throw Invalid(key, other, "an array of whole numbers"),
    };

    private T[] ParseJson<T>(string key, string json, Func<JsonElement, T> read)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Array) throw Invalid(key, json, "a JSON array");
            return document.RootElement.EnumerateArray().Select(read).ToArray();
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{Source}: {key} is not a JSON array of the expected values: {e.Message}", e);
        }
    }

    private InvalidDataException Missing(string key) => new($"{Source} has no '{key}' in its metadata.");

    private InvalidDataException Invalid(string key, object value, string expected)
    {
        string text = value is string s ? (s.Length > 40 ? s[..40] + "..." : s) : value.GetType().Name;
        return new InvalidDataException($"{Source}: {key} is {text}; expected {expected}.");
    }
}
