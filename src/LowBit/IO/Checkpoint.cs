namespace LowBit.IO;

/// <summary>Opens any checkpoint LowBit reads, by what it is: a GGUF file, a GPTQ / AWQ folder, or a safetensors file.</summary>
public static class Checkpoint
{
    /// <summary>
    /// Opens <paramref name="path"/>: a GGUF file (by its magic), a folder or <c>.safetensors</c> file with a GPTQ / AWQ
    /// quantization config, or any other safetensors file (LowBit's quantized checkpoints, full-precision ones).
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">The file is malformed (the message says why).</exception>
    public static ICheckpoint Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FileNotFoundException($"No file or folder at {path}.", path);
        if (GgufFile.IsGguf(path)) return GgufFile.Open(path);
        if (GptqAwqCheckpoint.IsGptqOrAwq(path)) return GptqAwqCheckpoint.Open(path);
        if (Directory.Exists(path))
        {
            string single = System.IO.Path.Combine(path, "model.safetensors");
            if (!File.Exists(single)) throw new FileNotFoundException($"{path} is a folder without model.safetensors (or a GPTQ / AWQ config).",
                                                                      single);
            path = single;
        }

        return QuantizedCheckpoint.Open(path);
    }
}
