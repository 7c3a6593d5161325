namespace LowBit.Models;

/// <summary>How a decoder session stores the keys and values of past positions.</summary>
public enum KvCacheType
{
    /// <summary>float32: exact, 4 bytes a value (the default).</summary>
    Float32 = 0,

    /// <summary>IEEE half precision: half the memory, keys and values rounded to 11 significant bits (llama.cpp's default).</summary>
    Float16 = 1,
}
