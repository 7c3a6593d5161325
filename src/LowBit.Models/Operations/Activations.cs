using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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

    // erf(z) = 1 - (a1 t + a2 t^2 + a3 t^3 + a4 t^4 + a5 t^5) e^(-z^2), t = 1 / (1 + p z), z >= 0 (Abramowitz and Stegun 7.1.26,
    // |error| <= 1.5e-7): within float32's own rounding of GELU's output for the activations BERT sees.
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InverseSqrt2 = 0.70710678118654752f;

    /// <summary>GELU, the exact (erf) form BERT uses, in place: <c>x / 2 * (1 + erf(x / sqrt 2))</c>.</summary>
    public static void GeluErf(Span<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= values.Length - 8; i += 8)
            {
                ref float at = ref Unsafe.Add(ref start, i);
                GeluErf(Vector256.LoadUnsafe(ref at)).StoreUnsafe(ref at);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= values.Length - 4; i += 4)
            {
                ref float at = ref Unsafe.Add(ref start, i);
                GeluErf(Vector128.LoadUnsafe(ref at)).StoreUnsafe(ref at);
            }
        }

        for (; i < values.Length; i++) values[i] = GeluErf(values[i]);
    }

    /// <summary>The scalar GELU (the tail and the reference of the vector paths).</summary>
    public static float GeluErf(float x)
    {
        float z = MathF.Abs(x) * InverseSqrt2, t = 1 / (1 + P * z);
        float erf = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * MathF.Exp(-z * z);
        return 0.5f * x * (1 + MathF.CopySign(erf, x));
    }

    private static Vector256<float> GeluErf(Vector256<float> x)
    {
        Vector256<float> z = Vector256.Abs(x) * InverseSqrt2, t = Vector256<float>.One / (Vector256<float>.One + z * P);
        Vector256<float> poly = Vector256.MultiplyAddEstimate(Vector256.MultiplyAddEstimate(Vector256.MultiplyAddEstimate(
            Vector256.MultiplyAddEstimate(Vector256.Create(A5), t, Vector256.Create(A4)), t, Vector256.Create(A3)), t, Vector256.Create(A2)), t,
                Vector256.Create(A1)) * t;
        Vector256<float> erf = Vector256<float>.One - poly * Vector256.Exp(-(z * z));
        return x * 0.5f * (Vector256<float>.One + Vector256.CopySign(erf, x));
    }

    private static Vector128<float> GeluErf(Vector128<float> x)
    {
        Vector128<float> z = Vector128.Abs(x) * InverseSqrt2, t = Vector128<float>.One / (Vector128<float>.One + z * P);
        Vector128<float> poly = Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(
            Vector128.MultiplyAddEstimate(Vector128.Create(A5), t, Vector128.Create(A4)), t, Vector128.Create(A3)), t, Vector128.Create(A2)), t,
                Vector128.Create(A1)) * t;
        Vector128<float> erf = Vector128<float>.One - poly * Vector128.Exp(-(z * z));
        return x * 0.5f * (Vector128<float>.One + Vector128.CopySign(erf, x));
    }
}
