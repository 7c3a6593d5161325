namespace LowBit.IO;

/// <summary>
/// A source of named linear layers and tensors, whatever the file format: a LowBit or full-precision safetensors
/// checkpoint (<see cref="QuantizedCheckpoint"/>), a GGUF file (<see cref="GgufFile"/>) or a GPTQ / AWQ folder
/// (<see cref="GptqAwqCheckpoint"/>). What a model runtime needs to build a model from any of them.
/// </summary>
/// <remarks>
/// <code>
/// using ICheckpoint checkpoint = Checkpoint.Open("model.gguf");        // or a .safetensors file, or a GPTQ folder
/// foreach (string prefix in checkpoint.Layers) Console.WriteLine(prefix);
/// ILinearLayer&lt;float&gt; q = checkpoint.LoadLayer&lt;float&gt;("blk.0.attn_q");
/// float[] norm = checkpoint.ReadFloats("blk.0.attn_norm.weight");
/// </code>
/// Layers own copies of what they need: they keep working after the checkpoint is disposed.
/// </remarks>
public interface ICheckpoint : IDisposable
{
    /// <summary>The file or folder this was opened from.</summary>
    string Path { get; }

    /// <summary>The prefix of every linear layer <see cref="LoadLayer{T}"/> takes (any format, quantized or not), in file order.</summary>
    IReadOnlyList<string> Layers { get; }

    /// <summary>Every tensor's name, in file order.</summary>
    IReadOnlyList<string> TensorNames { get; }

    /// <summary>A tensor's dimensions, outermost first (PyTorch's order; a linear weight is <c>[out, in]</c>).</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    IReadOnlyList<long> GetShape(string name);

    /// <summary>Builds the linear layer stored under <paramref name="prefix"/> (its bias too, when stored).</summary>
    /// <exception cref="KeyNotFoundException">No layer has that prefix.</exception>
    /// <exception cref="InvalidDataException">The layer's tensors are inconsistent.</exception>
    /// <exception cref="NotSupportedException">The format or <typeparamref name="T"/> is not supported for it.</exception>
    ILinearLayer<T> LoadLayer<T>(string prefix);

    /// <summary>A tensor's elements widened to float32 (F32, F16 or BF16; GGUF's quantized types dequantized), row-major.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="InvalidDataException">The tensor's type holds no float values.</exception>
    float[] ReadFloats(string name);
}
