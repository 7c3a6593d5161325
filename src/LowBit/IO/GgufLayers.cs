using System.Buffers.Binary;
using LowBit.Internal;

namespace LowBit.IO;

/// <summary>
/// GGUF tensors as LowBit layers, without re-quantizing: each ggml block maps onto LowBit's group-wise format so that
/// <see cref="LowBitLinear{T}.Dequantize"/> gives what ggml's own dequantization gives, bit for bit.
/// <list type="bullet">
/// <item>Q8_0 (blocks of 32: f16 d, int8 q; w = d q): 8 bits, group 32, codes q + 128, zero point 128, scale d.</item>
/// <item>Q4_0 (blocks of 32: f16 d, nibbles; w = d (q - 8), byte j holding weights j and j + 16): 4 bits, group 32,
/// zero point 8, scale d, nibbles re-paired into LowBit's order (weights 2k and 2k + 1 in byte k).</item>
/// </list>
/// The f16 scales are exact in float and Half, not in BFloat16, so the layer's type must be one of the first two.
/// </summary>
internal static class GgufLayers
{
    private const int Block = 32;

    public static LowBitLinear<T> Load<T>(GgufFile file, string nameOrPrefix)
    {
        Elements<T>.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(nameOrPrefix);
        string prefix = nameOrPrefix.EndsWith(".weight", StringComparison.Ordinal) ? nameOrPrefix[..^".weight".Length] : nameOrPrefix;
        GgufTensorInfo weight = file.TryGetTensor(prefix + ".weight", out GgufTensorInfo? w) ? w
            : file.TryGetTensor(nameOrPrefix, out GgufTensorInfo? exact) ? exact
            : throw new KeyNotFoundException($"No tensor '{prefix}.weight' (or '{nameOrPrefix}') in {file.Path}.");
        if (weight.Type is not (GgufType.Q8_0 or GgufType.Q4_0))
        {
            throw new NotSupportedException(
                $"Tensor '{weight.Name}' is {weight.Type}; LowBit loads Q8_0 and Q4_0 GGUF weights losslessly so far (the other types are listed by lowbit inspect).");
        }

        if (typeof(T) == typeof(BFloat16))
        {
            throw new NotSupportedException(
                $"Tensor '{weight.Name}' has f16 scales, which BFloat16 cannot hold exactly: load it as LowBitLinear<float> or LowBitLinear<Half>.");
        }

        ReadOnlySpan<long> ne = weight.Dimensions;
        if (ne.Length != 2 || ne[0] > int.MaxValue || ne[1] > int.MaxValue || ne[0] * ne[1] > int.MaxValue)
        {
            throw new InvalidDataException($"Tensor '{weight.Name}' is not a 2-D weight a layer can hold (ne = [{string.Join(", ", ne.ToArray())}]).");
        }

        int inFeatures = (int)ne[0], outFeatures = (int)ne[1], blocks = outFeatures * (inFeatures / Block);
        int bits = weight.Type == GgufType.Q8_0 ? 8 : 4;
        ReadOnlySpan<byte> source = file.GetBytes(weight);
        var packed = new byte[outFeatures * (inFeatures * bits / 8)];
        var scales = new T[blocks];
        var zeroPoints = new byte[blocks];
        int blockBytes = bits == 8 ? 34 : 18, packedBlock = Block * bits / 8;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * blockBytes, blockBytes);
            scales[b] = Elements<T>.FromSingle((float)BinaryPrimitives.ReadHalfLittleEndian(block));
            Span<byte> codes = packed.AsSpan(b * packedBlock, packedBlock);
            if (bits == 8)
            {
                zeroPoints[b] = 128;
                for (int i = 0; i < Block; i++) codes[i] = (byte)((sbyte)block[2 + i] + 128);
            }
            else
            {
                zeroPoints[b] = 8;
                ReadOnlySpan<byte> qs = block[2..];
                for (int k = 0; k < Block / 2; k++)
                {
                    int first = Nibble(qs, 2 * k), second = Nibble(qs, 2 * k + 1);
                    codes[k] = (byte)(first | second << 4);
                }
            }
        }

        T[] bias = LoadBias<T>(file, prefix, outFeatures);
        return LowBitLinear<T>.FromQuantized(packed, scales, zeroPoints, outFeatures, inFeatures, bits, Block, bias);
    }

    /// <summary>Weight i of a Q4_0 block: the low nibble of byte i for the first 16, the high nibble of byte i - 16 after.</summary>
    private static int Nibble(ReadOnlySpan<byte> qs, int i) => i < Block / 2 ? qs[i] & 0xF : qs[i - Block / 2] >> 4;

    /// <summary><c>&lt;prefix&gt;.bias</c> (F32 or F16) rounded to T, or none.</summary>
    private static T[] LoadBias<T>(GgufFile file, string prefix, int outFeatures)
    {
        if (!file.TryGetTensor(prefix + ".bias", out GgufTensorInfo? bias)) return [];
        if (bias.Type is not (GgufType.F32 or GgufType.F16) || bias.ElementCount != outFeatures)
        {
            throw new InvalidDataException($"Bias '{bias.Name}' is {bias.Type} with {bias.ElementCount} elements; the layer needs {outFeatures} F32 or F16 values.");
        }

        ReadOnlySpan<byte> bytes = file.GetBytes(bias);
        var values = new T[outFeatures];
        for (int i = 0; i < outFeatures; i++)
        {
            float v = bias.Type == GgufType.F32 ? BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]) : (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
            values[i] = Elements<T>.FromSingle(v);
        }

        return values;
    }
}
