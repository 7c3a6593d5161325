using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// GEMV (one input row) on AVX-512, arithmetic instead of shuffles. The table-lookup kernel spends three cross-lane
// shuffles per 32 weights (widen the bytes, two vpermps) and tops out near 8 weights per cycle here. This kernel loads
// 64 packed bytes as 16 dword lanes as they are: each lane holds 8 (4-bit) or 16 (2-bit) consecutive weights of one
// row. Field k of every lane is masked in place and converted, which gives q * 2^(bits * k) exactly (one AND, one
// convert; no shift except for the top field, whose mask would set the sign bit). The input was arranged once per
// call so that lane l of its vector k holds x[block + l * fieldsPerLane + k] * 2^-(bits * k), so each FMA forms the
// plain product x * q. The sum of a block's fields is scaled per lane (lanes of one group share a scale, gathered with
// at most one shuffle per 64 bytes), and the zero points are folded out with the input's group sums.
// Measured on Zen 5: shifts and int-to-float converts share two pipes and FMAs use two others, so dropping the seven
// shifts per 64 bytes took 2-bit from 40 to 45 G weights/s; four accumulators per block keep the FMA chains short.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>True when the field kernel covers this layout: 64-byte blocks per row, and no 4-byte lane across two groups.</summary>
    private static bool HasFieldKernel(int inFeatures, int bits, int groupSize)
    {
        if (!Avx512F.IsSupported || !Vector512.IsHardwareAccelerated || bits is not (2 or 4)) return false;
        int block = 512 / bits, perLane = 32 / bits;
        return inFeatures % block == 0 && (groupSize % block == 0 || (block % groupSize == 0 && groupSize >= perLane));
    }

    /// <summary>
    /// Arranges one input row for the field kernel: per block of 16 lanes x f fields, element k * 16 + l holds
    /// <c>x[l * f + k] * 2^(e - bits * k)</c>, the top field <c>x[l * f + f - 1] * 2^e</c>; also the group sums times 2^e.
    /// Returns <c>2^-e</c>, the factor that undoes the scaling. The weights are masked in place, not shifted down, so field
    /// k converts to <c>q * 2^(bits * k)</c>, exactly; the input carries the inverse power of two. Powers of two are exact,
    /// so the products are the unscaled ones. e brings the largest input near 1, so no product overflows and only inputs
    /// below 2^-100 of the largest can underflow, far under float32's own resolution of the sum.
    /// </summary>
    private static float PrepareFieldInput(ReadOnlySpan<float> x, int bits, int groupSize, Span<float> destination, Span<float> groupSums)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(x);
        int e = max == 0 || !float.IsFinite(max) ? 0 : Math.Clamp(-MathF.ILogB(max), -100, 100);
        int perLane = 32 / bits, block = 16 * perLane;
        Span<float> factors = stackalloc float[16];
        for (int k = 0; k < perLane; k++) factors[k] = MathF.ScaleB(1f, k == perLane - 1 ? e : e - bits * k);
        for (int start = 0; start < x.Length; start += block)
        {
            ReadOnlySpan<float> source = x.Slice(start, block);
            Span<float> target = destination.Slice(start, block);
            for (int l = 0; l < 16; l++)
            {
                for (int k = 0; k < perLane; k++) target[k * 16 + l] = source[l * perLane + k] * factors[k];
            }
        }

        float scale = MathF.ScaleB(1f, e);
        for (int g = 0; g < groupSums.Length; g++) groupSums[g] = System.Numerics.Tensors.TensorPrimitives.Sum(x.Slice(g * groupSize, groupSize)) * scale;
        return MathF.ScaleB(1f, -e);
    }

    private static void ChunkFields(void* state, int chunk)
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int groupsPerBlock = 512 / args.Bits / args.GroupSize;
        switch (args.Bits * 100 + groupsPerBlock)
        {
            case 400: case 401: ChunkFields<Bits4, ScalePerBlock>(in args, chunk); break;
            case 402: ChunkFields<Bits4, ScalePer8Lanes>(in args, chunk); break;
            case 404: ChunkFields<Bits4, ScalePer4Lanes>(in args, chunk); break;
            case 408: ChunkFields<Bits4, ScalePer2Lanes>(in args, chunk); break;
            case 416: ChunkFields<Bits4, ScalePerLane>(in args, chunk); break;
            case 200: case 201: ChunkFields<Bits2, ScalePerBlock>(in args, chunk); break;
            case 202: ChunkFields<Bits2, ScalePer8Lanes>(in args, chunk); break;
            case 204: ChunkFields<Bits2, ScalePer4Lanes>(in args, chunk); break;
            case 208: ChunkFields<Bits2, ScalePer2Lanes>(in args, chunk); break;
            default: ChunkFields<Bits2, ScalePerLane>(in args, chunk); break;
        }
    }

    private static void ChunkFields<TBits, TScale>(in Args args, int chunk) where TBits : IBits where TScale : IBlockScale
    {
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        for (int o = start; o < end; o++)
        {
            float y = FieldsRow<TBits, TScale>(in args, o);
            args.Output[o] = args.Bias is null ? y : y + args.Bias[o];
        }
    }

    /// <summary><c>sum_g s_g (sum_(i in g) x_i q_i - z_g sum_(i in g) x_i)</c> for row o.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FieldsRow<TBits, TScale>(in Args args, int o) where TBits : IBits where TScale : IBlockScale
    {
        int bits = TBits.Bits, block = 512 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Packed + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        float* x = args.Streams;
        Vector512<float> t0 = default, t1 = default;
        for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
        {
            Vector512<int> v = Vector512.Load(w + b * 16);
            Vector512<float> a0, a1, a2, a3;
            if (bits == 4)
            {
                a0 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF)) * Vector512.Load(x + 0);
                a1 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF0)) * Vector512.Load(x + 16);
                a2 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF00)) * Vector512.Load(x + 32);
                a3 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF000)) * Vector512.Load(x + 48);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF0000)), Vector512.Load(x + 64), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF00000)), Vector512.Load(x + 80), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xF000000)), Vector512.Load(x + 96), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 28)), Vector512.Load(x + 112), a3);
            }

            else
            {
                a0 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0x3)) * Vector512.Load(x + 0);
                a1 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC)) * Vector512.Load(x + 16);
                a2 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0x30)) * Vector512.Load(x + 32);
                a3 = Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC0)) * Vector512.Load(x + 48);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x300)), Vector512.Load(x + 64), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC00)), Vector512.Load(x + 80), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x3000)), Vector512.Load(x + 96), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC000)), Vector512.Load(x + 112), a3);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x30000)), Vector512.Load(x + 128), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC0000)), Vector512.Load(x + 144), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x300000)), Vector512.Load(x + 160), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC00000)), Vector512.Load(x + 176), a3);
                a0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x3000000)), Vector512.Load(x + 192), a0);
                a1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0xC000000)), Vector512.Load(x + 208), a1);
                a2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(v & Vector512.Create(0x30000000)), Vector512.Load(x + 224), a2);
                a3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(Avx512F.ShiftRightLogical(v, 30)), Vector512.Load(x + 240), a3);
            }

            Vector512<float> scale = TScale.Load(scales, b, blocksPerGroup);
            if ((b & 1) == 0) t0 = Avx512F.FusedMultiplyAdd((a0 + a1) + (a2 + a3), scale, t0);
            else t1 = Avx512F.FusedMultiplyAdd((a0 + a1) + (a2 + a3), scale, t1);
        }

        // The zero points: minus sum_g (s z)_g * xsum_g, into the same accumulators.
        float* scaledZeros = args.ScaledZeros + (nint)o * groups, groupSums = args.GroupSums;
        int g = 0;
        for (; g + 16 <= groups; g += 16) t0 = Avx512F.FusedMultiplyAddNegated(Vector512.Load(scaledZeros + g), Vector512.Load(groupSums + g), t0);
        float correction = 0;
        for (; g < groups; g++) correction += scaledZeros[g] * groupSums[g];
        return (Vector512.Sum(t0 + t1) - correction) * args.InputUnscale;
    }

    /// <summary>The scales of block b, one per lane: lanes that share a group share its scale.</summary>
    private interface IBlockScale
    {
        static abstract Vector512<float> Load(float* scales, int b, int blocksPerGroup);
    }

    /// <summary>A group spans one block or more: one scale.</summary>
    private readonly struct ScalePerBlock : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) => Vector512.Create(scales[b / blocksPerGroup]);
    }

    /// <summary>Two groups per block, 8 lanes each.</summary>
    private readonly struct ScalePer8Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Vector512.Create(Vector256.Create(scales[2 * b]), Vector256.Create(scales[2 * b + 1]));
    }

    /// <summary>Four groups per block, 4 lanes each.</summary>
    private readonly struct ScalePer4Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx512F.PermuteVar16x32(Avx512F.BroadcastVector128ToVector512(scales + 4 * b), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    }

    /// <summary>Eight groups per block, 2 lanes each.</summary>
    private readonly struct ScalePer2Lanes : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx512F.PermuteVar16x32(Vector256.Load(scales + 8 * b).ToVector512Unsafe(), Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    }

    /// <summary>Sixteen groups per block: a group per lane.</summary>
    private readonly struct ScalePerLane : IBlockScale
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(float* scales, int b, int blocksPerGroup) => Vector512.Load(scales + 16 * b);
    }
}
