using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LowBit.Internal;

namespace LowBit.IO;

/// <summary>
/// GGUF tensors as LowBit layers, without re-quantizing: each ggml block maps onto LowBit's group-wise format so that
/// <see cref="LowBitLinear{T}.Dequantize"/> gives what ggml's own dequantization gives, bit for bit.
/// <list type="bullet">
/// <item>Q8_0 (blocks of 32: f16 d, int8 q; w = d q): 8 bits, group 32, codes q + 128, zero point 128, scale d.</item>
/// <item>Q4_0 (blocks of 32: f16 d, nibbles; w = d (q - 8), byte j holding weights j and j + 16): 4 bits, group 32,
/// zero point 8, scale d, nibbles re-paired into LowBit's order (weights 2k and 2k + 1 in byte k).</item>
/// <item>Q5_0 (blocks of 32: f16 d, 5-bit q from a nibble and a bit of qh; w = d (q - 16)): widened to 8 bits, group 32,
/// zero point 16, scale d.</item>
/// <item>Q4_1 and Q5_1 (as Q4_0 and Q5_0 with an f16 minimum m; w = d q + m): zero point 0, scale d, float offset -m.</item>
/// <item>Q2_K (super-blocks of 256: 2-bit q, a byte per 16 holding a 4-bit scale and a 4-bit minimum, f16 d and dmin;
/// w = d sc q - dmin m): 2 bits, group 16, scale d sc, offset dmin m (both exact in float).</item>
/// <item>Q4_K and Q5_K (super-blocks of 256: 6-bit scales and minimums per 32 packed in 12 bytes, f16 d and dmin;
/// w = d sc q - dmin m): 4 bits (Q5_K widened to 8), group 32, scale d sc, offset dmin m.</item>
/// <item>Q3_K (super-blocks of 256: 2-bit q in qs, a third bit in hmask, 6-bit scales packed in 12 bytes, f16 d;
/// w = d (sc - 32) (q - 4)): 4 bits, group 16, zero point 4, scale d (sc - 32) (exact in float).</item>
/// <item>Q6_K (super-blocks of 256: 6-bit q from ql and qh, an int8 scale per 16, f16 d; w = d sc (q - 32)): widened to
/// 8 bits, group 16, zero point 32, scale d sc (exact in float: an f16 times an int8).</item>
/// </list>
/// The f16 scales are exact in float and Half, not in BFloat16; the K-quants' products need float.
/// </summary>
internal static class GgufLayers
{
    private const int Block = 32;

    /// <summary>The layer of a quantized 2-D tensor, with <c>&lt;prefix&gt;.bias</c> unless <paramref name="withBias"/> is false.</summary>
    public static LowBitLinear<T> Load<T>(GgufFile file, string nameOrPrefix, bool withBias = true)
    {
        Elements<T>.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(nameOrPrefix);
        string prefix = nameOrPrefix.EndsWith(".weight", StringComparison.Ordinal) ? nameOrPrefix[..^".weight".Length] : nameOrPrefix;
        GgufTensorInfo weight = file.TryGetTensor(prefix + ".weight", out GgufTensorInfo? w) ? w
            : file.TryGetTensor(nameOrPrefix, out GgufTensorInfo? exact) ? exact
            : throw new KeyNotFoundException($"No tensor '{prefix}.weight' (or '{nameOrPrefix}') in {file.Path}.");
        if (!TryGetMapping(weight.Type, out int bits, out int groupSize, out bool hasOffsets, out bool halfScales))
        {
            throw new NotSupportedException(
                $"Tensor '{weight.Name}' is {weight.Type}; LowBit loads {SupportedText} GGUF weights (losslessly), not {weight.Type}.");
        }

        if (typeof(T) == typeof(BFloat16) || (!halfScales && typeof(T) != typeof(float)))
        {
            throw new NotSupportedException(!halfScales
                ? $"Tensor '{weight.Name}' is {weight.Type}, whose scales (f16 times a small integer) only float holds exactly: load it as " +
                    $"LowBitLinear<float>."
                : $"Tensor '{weight.Name}' has f16 scales, which BFloat16 cannot hold exactly: load it as LowBitLinear<float> or " +
                    $"LowBitLinear<Half>.");
        }

        (int outFeatures, int inFeatures) = Matrix(weight);
        int groups = outFeatures * (inFeatures / groupSize);
        ReadOnlySpan<byte> source = file.GetBytes(weight);
        var packed = new byte[outFeatures * (inFeatures * bits / 8)];
        var scales = new T[groups];
        var zeroPoints = new byte[groups];
        T[] offsets = hasOffsets ? new T[groups] : [];
        switch (weight.Type)
        {
            case GgufType.Q8_0: Q8_0(source, packed, scales, zeroPoints); break;
            case GgufType.Q4_0: Q4_0(source, packed, scales, zeroPoints); break;
            case GgufType.Q4_1: Q4_1(source, packed, scales, offsets); break;
            case GgufType.Q5_0: Q5_0(source, packed, scales, zeroPoints); break;
            case GgufType.Q5_1: Q5_1(source, packed, scales, offsets); break;
            case GgufType.Q2_K: Q2_K(source, packed, scales, offsets); break;
            case GgufType.Q3_K: Q3_K(source, packed, scales, zeroPoints); break;
            case GgufType.Q4_K: Q4_K(source, packed, scales, offsets); break;
            case GgufType.Q5_K: Q5_K(source, packed, scales, offsets); break;
            default: Q6_K(source, packed, scales, zeroPoints); break;
        }

        T[] bias = withBias ? LoadBias<T>(file, prefix, outFeatures) : [];
        return LowBitLinear<T>.FromQuantized(packed, scales, zeroPoints, outFeatures, inFeatures, bits, groupSize, bias, offsets);
    }

    /// <summary>True for the full-precision types a <see cref="DenseLinear{T}"/> holds as stored.</summary>
    internal static bool IsDense(GgufType type) => type is GgufType.F32 or GgufType.F16 or GgufType.BF16;

    /// <summary>Any 2-D weight LowBit loads: quantized types as <see cref="Load{T}"/> builds them, F32 / F16 / BF16 as dense layers.</summary>
    public static ILinearLayer<T> LoadAny<T>(GgufFile file, string nameOrPrefix)
    {
        Elements<T>.EnsureSupported();
        ArgumentException.ThrowIfNullOrEmpty(nameOrPrefix);
        string prefix = nameOrPrefix.EndsWith(".weight", StringComparison.Ordinal) ? nameOrPrefix[..^".weight".Length] : nameOrPrefix;
        if (!file.TryGetTensor(prefix + ".weight", out GgufTensorInfo? weight) || !IsDense(weight.Type)) return Load<T>(file, nameOrPrefix);
        (int outFeatures, int inFeatures) = Matrix(weight);
        T[] bias = LoadBias<T>(file, prefix, outFeatures);
        ReadOnlySpan<byte> bytes = file.GetBytes(weight);
        return weight.Type switch
        {
            GgufType.F32 => DenseLinear<T>.FromWeights(MemoryMarshal.Cast<byte, float>(bytes), outFeatures, inFeatures, bias),
            GgufType.F16 => DenseLinear<T>.FromHalf(MemoryMarshal.Cast<byte, Half>(bytes), outFeatures, inFeatures, bias),
            _ => DenseLinear<T>.FromBFloat16(MemoryMarshal.Cast<byte, BFloat16>(bytes), outFeatures, inFeatures, bias),
        };
    }

    /// <summary>A tensor's values as float32: F32 / F16 / BF16 widened, quantized 2-D weights dequantized as ggml does.</summary>
    public static float[] ReadFloats(GgufFile file, GgufTensorInfo tensor)
    {
        if (tensor.ElementCount > Array.MaxLength) throw new InvalidDataException($"'{tensor.Name}' has {tensor.ElementCount} elements, more than " +
            $"an array holds.");
        var values = new float[tensor.ElementCount];
        ReadOnlySpan<byte> bytes = file.GetBytes(tensor);
        switch (tensor.Type)
        {
            case GgufType.F32: MemoryMarshal.Cast<byte, float>(bytes).CopyTo(values); break;
            case GgufType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), values); break;
            case GgufType.BF16: BFloat16.ConvertToSingle(MemoryMarshal.Cast<byte, BFloat16>(bytes), values); break;
            default:
                if (tensor.Dimensions.Length != 2 || !TryGetMapping(tensor.Type, out _, out _, out _, out _))
                {
                    throw new InvalidDataException($"'{tensor.Name}' is {tensor.Type} {string.Join("x", tensor.Shape)}; LowBit reads F32, F16, " +
                        $"BF16 and 2-D {SupportedText} tensors as floats.");
                }

                Load<float>(file, tensor.Name, withBias: false).Dequantize(values);
                break;
        }

        return values;
    }

    /// <summary>A 2-D weight's (out, in); throws unless it fits a layer.</summary>
    private static (int Out, int In) Matrix(GgufTensorInfo weight)
    {
        ReadOnlySpan<long> ne = weight.Dimensions;
        if (ne.Length != 2 || ne[0] > int.MaxValue || ne[1] > int.MaxValue || ne[0] * ne[1] > int.MaxValue)
        {
            throw new InvalidDataException($"Tensor '{weight.Name}' is not a 2-D weight a layer can hold (ne = " +
                $"[{string.Join(", ", ne.ToArray())}]).");
        }

        return ((int)ne[1], (int)ne[0]);
    }

    /// <summary>The GGUF types LowBit loads, for messages.</summary>
    internal const string SupportedText = "Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K";

    /// <summary>
    /// How a GGUF type maps onto a LowBit layer: its bits, group size, whether it needs float offsets, and whether Half
    /// holds its scales and offsets exactly (the blocks of 32 store f16 ones; the super-blocks' d * sc needs float).
    /// </summary>
    internal static bool TryGetMapping(GgufType type, out int bits, out int groupSize, out bool offsets, out bool halfScales)
    {
        (bits, groupSize, offsets, halfScales) = type switch
        {
            GgufType.Q8_0 => (8, Block, false, true),
            GgufType.Q4_0 => (4, Block, false, true),
            GgufType.Q4_1 => (4, Block, true, true),
            GgufType.Q5_0 => (8, Block, false, true),
            GgufType.Q5_1 => (8, Block, true, true),
            GgufType.Q2_K => (2, 16, true, false),
            GgufType.Q3_K => (4, 16, false, false),
            GgufType.Q4_K => (4, Block, true, false),
            GgufType.Q5_K => (8, Block, true, false),
            GgufType.Q6_K => (8, 16, false, false),
            _ => (0, 0, false, false),
        };
        return bits != 0;
    }

    private static T F16<T>(ReadOnlySpan<byte> bytes) => Elements<T>.FromSingle((float)BinaryPrimitives.ReadHalfLittleEndian(bytes));

    private static void Q8_0<T>(ReadOnlySpan<byte> source, byte[] codes, T[] scales, byte[] zeroPoints)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * 34, 34);
            scales[b] = F16<T>(block);
            zeroPoints[b] = 128;
            for (int i = 0; i < Block; i++) codes[b * Block + i] = (byte)((sbyte)block[2 + i] + 128);
        }
    }

    private static void Q4_0<T>(ReadOnlySpan<byte> source, byte[] packed, T[] scales, byte[] zeroPoints)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * 18, 18), qs = block[2..];
            scales[b] = F16<T>(block);
            zeroPoints[b] = 8;
            for (int k = 0; k < Block / 2; k++) packed[b * Block / 2 + k] = (byte)(Nibble(qs, 2 * k) | Nibble(qs, 2 * k + 1) << 4);
        }
    }

    private static void Q4_1<T>(ReadOnlySpan<byte> source, byte[] packed, T[] scales, T[] offsets)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            // d, m (f16), then Q4_0's nibbles; w = d q + m, so the offset is -m (exact).
            ReadOnlySpan<byte> block = source.Slice(b * 20, 20), qs = block[4..];
            scales[b] = F16<T>(block);
            offsets[b] = Elements<T>.FromSingle(-(float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]));
            for (int k = 0; k < Block / 2; k++) packed[b * Block / 2 + k] = (byte)(Nibble(qs, 2 * k) | Nibble(qs, 2 * k + 1) << 4);
        }
    }

    private static void Q5_1<T>(ReadOnlySpan<byte> source, byte[] codes, T[] scales, T[] offsets)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            // d, m (f16), qh (the fifth bits), Q4_0's nibbles; w = d q + m.
            ReadOnlySpan<byte> block = source.Slice(b * 24, 24), qs = block[8..];
            scales[b] = F16<T>(block);
            offsets[b] = Elements<T>.FromSingle(-(float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]));
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[4..]);
            for (int i = 0; i < Block; i++) codes[b * Block + i] = (byte)(Nibble(qs, i) | (int)((qh >> i) & 1) << 4);
        }
    }

    private static void Q2_K<T>(ReadOnlySpan<byte> source, byte[] packed, T[] scales, T[] offsets)
    {
        Span<byte> codes = stackalloc byte[256];
        for (int b = 0; b < scales.Length / 16; b++)
        {
            // scales[16] (low nibble: scale, high: minimum), qs[64], d, dmin (f16).
            ReadOnlySpan<byte> block = source.Slice(b * 84, 84), sc = block[..16], qs = block.Slice(16, 64);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block[80..]), dmin = (float)BinaryPrimitives.ReadHalfLittleEndian(block[82..]);
            for (int g = 0; g < 16; g++)
            {
                scales[b * 16 + g] = Elements<T>.FromSingle(d * (sc[g] & 0xF));
                offsets[b * 16 + g] = Elements<T>.FromSingle(dmin * (sc[g] >> 4));
            }

            // Weight 128 n + 32 j + 16 h + l: bits 2j of qs[32 n + 16 h + l]; its group is 8 n + 2 j + h (ggml's order).
            for (int n = 0; n < 2; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        for (int l = 0; l < 16; l++) codes[128 * n + 32 * j + 16 * h + l] = (byte)((qs[32 * n + 16 * h + l] >> (2 * j)) & 3);
                    }
                }
            }

            for (int k = 0; k < 64; k++) packed[b * 64 + k] = (byte)(codes[4 * k] | codes[4 * k + 1] << 2 | codes[4 * k + 2] << 4 | codes[4 * k
                + 3] << 6);
        }
    }

    /// <summary>Q4_K's and Q5_K's sub-block j (0..7) scale and minimum, six bits each, from the 12 packed bytes (ggml's get_scale_min_k4).</summary>
    private static (int Scale, int Min) ScaleMinK4(ReadOnlySpan<byte> q, int j) =>
        j < 4 ? (q[j] & 63, q[j + 4] & 63)
              : ((q[j + 4] & 0xF) | (q[j - 4] >> 6) << 4, (q[j + 4] >> 4) | (q[j] >> 6) << 4);

    private static void Q4_K<T>(ReadOnlySpan<byte> source, byte[] packed, T[] scales, T[] offsets)
    {
        Span<byte> codes = stackalloc byte[256];
        for (int b = 0; b < scales.Length / 8; b++)
        {
            // d, dmin (f16), scales[12], qs[128]: weights 64 c + l and 64 c + 32 + l are the low and high nibbles of qs[32 c + l].
            ReadOnlySpan<byte> block = source.Slice(b * 144, 144), packedScales = block.Slice(4, 12), qs = block.Slice(16, 128);
            KScales(block, packedScales, scales.AsSpan(b * 8, 8), offsets.AsSpan(b * 8, 8));
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    codes[64 * c + l] = (byte)(qs[32 * c + l] & 0xF);
                    codes[64 * c + 32 + l] = (byte)(qs[32 * c + l] >> 4);
                }
            }

            for (int k = 0; k < 128; k++) packed[b * 128 + k] = (byte)(codes[2 * k] | codes[2 * k + 1] << 4);
        }
    }

    private static void Q5_K<T>(ReadOnlySpan<byte> source, byte[] codes, T[] scales, T[] offsets)
    {
        for (int b = 0; b < scales.Length / 8; b++)
        {
            // d, dmin (f16), scales[12], qh[32], qs[128]: as Q4_K, plus bit 2c (low nibbles) or 2c + 1 (high) of qh[l] as the fifth bit.
            ReadOnlySpan<byte> block = source.Slice(b * 176, 176), packedScales = block.Slice(4, 12), qh = block.Slice(16, 32), qs = block.Slice(48,
                                                                                                                                                 128);
            KScales(block, packedScales, scales.AsSpan(b * 8, 8), offsets.AsSpan(b * 8, 8));
            Span<byte> y = codes.AsSpan(b * 256, 256);
            for (int c = 0; c < 4; c++)
            {
                for (int l = 0; l < 32; l++)
                {
                    y[64 * c + l] = (byte)((qs[32 * c + l] & 0xF) | ((qh[l] >> (2 * c)) & 1) << 4);
                    y[64 * c + 32 + l] = (byte)((qs[32 * c + l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4);
                }
            }
        }
    }

    /// <summary>A Q4_K / Q5_K super-block's eight scales <c>d sc</c> and offsets <c>dmin m</c> (f16 times six bits: exact in float).</summary>
    private static void KScales<T>(ReadOnlySpan<byte> block, ReadOnlySpan<byte> packedScales, Span<T> scales, Span<T> offsets)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block), dmin = (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]);
        for (int j = 0; j < 8; j++)
        {
            (int scale, int min) = ScaleMinK4(packedScales, j);
            scales[j] = Elements<T>.FromSingle(d * scale);
            offsets[j] = Elements<T>.FromSingle(dmin * min);
        }
    }

    private static void Q5_0<T>(ReadOnlySpan<byte> source, byte[] codes, T[] scales, byte[] zeroPoints)
    {
        for (int b = 0; b < scales.Length; b++)
        {
            ReadOnlySpan<byte> block = source.Slice(b * 22, 22), qs = block[6..];
            scales[b] = F16<T>(block);
            zeroPoints[b] = 16;
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
            // Weight i: its nibble (as Q4_0's) and bit i of qh as the fifth bit.
            for (int i = 0; i < Block; i++) codes[b * Block + i] = (byte)(Nibble(qs, i) | (int)((qh >> i) & 1) << 4);
        }
    }

    private static void Q3_K<T>(ReadOnlySpan<byte> source, byte[] packed, T[] scales, byte[] zeroPoints)
    {
        Span<byte> codes = stackalloc byte[256];
        Span<int> sc = stackalloc int[16];
        for (int b = 0; b < scales.Length / 16; b++)
        {
            // hmask[32]: the third bit; qs[64]: 2-bit pairs; scales[12]: sixteen 6-bit scales; d: f16.
            ReadOnlySpan<byte> block = source.Slice(b * 110, 110), hmask = block[..32], qs = block.Slice(32, 64), packedScales = block.Slice(96, 12);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block[108..]);
            // Scale j: low 4 bits from byte j (j < 8) or the high nibble of byte j - 8, high 2 bits from bytes 8..11.
            for (int j = 0; j < 16; j++)
            {
                int low = j < 8 ? packedScales[j] & 0xF : packedScales[j - 8] >> 4;
                int high = (packedScales[8 + j % 4] >> (2 * (j / 4))) & 3;
                sc[j] = (low | high << 4) - 32;
                scales[b * 16 + j] = Elements<T>.FromSingle(d * sc[j]);
                zeroPoints[b * 16 + j] = 4;
            }

            // Weight y = 128 n + 32 j + 16 h + l (n = 0..1, j = 0..3, h = 0..1, l = 0..15): bits 2j of qs[32 n + 16 h + l],
            // and bit (4 n + j) of hmask[16 h + l] as the third bit.
            for (int n = 0; n < 2; n++)
            {
                for (int j = 0; j < 4; j++)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        for (int l = 0; l < 16; l++)
                        {
                            int q = (qs[32 * n + 16 * h + l] >> (2 * j)) & 3, third = (hmask[16 * h + l] >> (4 * n + j)) & 1;
                            codes[128 * n + 32 * j + 16 * h + l] = (byte)(q | third << 2);
                        }
                    }
                }
            }

            for (int k = 0; k < 128; k++) packed[b * 128 + k] = (byte)(codes[2 * k] | codes[2 * k + 1] << 4);
        }
    }

    private static void Q6_K<T>(ReadOnlySpan<byte> source, byte[] codes, T[] scales, byte[] zeroPoints)
    {
        const int Super = 256;
        for (int b = 0; b < scales.Length / 16; b++)
        {
            // ql[128]: low nibbles; qh[64]: two high bits each; scales[16]: int8 per 16 weights; d: f16.
            ReadOnlySpan<byte> block = source.Slice(b * 210, 210), ql = block[..128], qh = block.Slice(128, 64);
            ReadOnlySpan<byte> sc = block.Slice(192, 16);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block[208..]);
            for (int g = 0; g < 16; g++)
            {
                scales[b * 16 + g] = Elements<T>.FromSingle(d * (sbyte)sc[g]);
                zeroPoints[b * 16 + g] = 32;
            }

            // Each half of 128 weights: position l + 32 k (k = 0..3) takes ql[l] or ql[l + 32] (low nibble for k 0/1,
            // high for 2/3) and bits 2k..2k+1 of qh[l].
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> l4 = ql.Slice(half * 64, 64), h2 = qh.Slice(half * 32, 32);
                Span<byte> y = codes.AsSpan(b * Super + half * 128, 128);
                for (int l = 0; l < 32; l++)
                {
                    y[l] = (byte)((l4[l] & 0xF) | ((h2[l] >> 0) & 3) << 4);
                    y[l + 32] = (byte)((l4[l + 32] & 0xF) | ((h2[l] >> 2) & 3) << 4);
                    y[l + 64] = (byte)((l4[l] >> 4) | ((h2[l] >> 4) & 3) << 4);
                    y[l + 96] = (byte)((l4[l + 32] >> 4) | ((h2[l] >> 6) & 3) << 4);
                }
            }
        }
    }

    /// <summary>Weight i of a Q4_0 block: the low nibble of byte i for the first 16, the high nibble of byte i - 16 after.</summary>
    private static int Nibble(ReadOnlySpan<byte> qs, int i) => i < Block / 2 ? qs[i] & 0xF : qs[i - Block / 2] >> 4;

    /// <summary><c>&lt;prefix&gt;.bias</c> (F32 or F16) rounded to T, or none.</summary>
    private static T[] LoadBias<T>(GgufFile file, string prefix, int outFeatures)
    {
        if (!file.TryGetTensor(prefix + ".bias", out GgufTensorInfo? bias)) return [];
        if (bias.Type is not (GgufType.F32 or GgufType.F16) || bias.ElementCount != outFeatures)
        {
            throw new InvalidDataException($"Bias '{bias.Name}' is {bias.Type} with {bias.ElementCount} elements; the layer needs {outFeatures} " +
                $"F32 or F16 values.");
        }

        ReadOnlySpan<byte> bytes = file.GetBytes(bias);
        var values = new T[outFeatures];
        for (int i = 0; i < outFeatures; i++)
        {
            float v = bias.Type == GgufType.F32 ? BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..])
                : (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
            values[i] = Elements<T>.FromSingle(v);
        }

        return values;
    }
}
