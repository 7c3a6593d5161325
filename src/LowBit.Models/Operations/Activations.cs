using System.Numerics.Tensors;

namespace LowBit.Models;

/// <summary>Element-wise activations of the two model families, in float32.</summary>
internal static class Activations
{
    /// <summary>SwiGLU's gate: <c>gate[i] = silu(gate[i]) * up[i]</c>, <c>silu(x) = x / (1 + e^-x)</c>, in place.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        const int Slice = 1024;  // stays in L1 between the three passes
        Span<float> sigmoid = stackalloc float[Slice];
        for (int i = 0; i < gate.Length; i += Slice)
        {
            int n = Math.Min(Slice, gate.Length - i);
            Span<float> g = gate.Slice(i, n), s = sigmoid[..n];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(g, s, g);
            TensorPrimitives.Multiply(g, up.Slice(i, n), g);
        }
    }

    /// <summary>
    /// Softmax of <paramref name="values"/> in place: <c>e^(x - max) / sum e^(x - max)</c> (the maximum subtracted, so large
    /// scores cannot overflow).
    /// </summary>
    public static void Softmax(Span<float> values)
    {
        float max = TensorPrimitives.Max(values);
        TensorPrimitives.Subtract(values, max, values);
        TensorPrimitives.Exp(values, values);
        TensorPrimitives.Divide(values, TensorPrimitives.Sum(values), values);
    }
}
