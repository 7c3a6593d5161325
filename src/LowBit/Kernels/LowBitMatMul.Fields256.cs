using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// The field kernel (LowBitMatMul.Fields.cs) for one input row on AVX2 + FMA: 32 packed bytes are 8 dword lanes of 8
// (4-bit) or 16 (2-bit) weights each; each field is masked in place and converted, against an input arranged in
// blocks of 8 lanes. Without it, 4-bit batch 1 on AVX2 ran the generic widen-and-FMA kernel at 0.46x of W8A16.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>True when the AVX2 field kernel covers this layout: 32-byte blocks per row, no 4-byte lane across two groups.</summary>
    private static bool HasFieldKernel256(int inFeatures, int bits, int groupSize)
    {
        if (!Avx2.IsSupported || !Fma.IsSupported || !Vector256.IsHardwareAccelerated || bits is not (2 or 4)) return false;
        int block = 256 / bits, perLane = 32 / bits;
        return inFeatures % block == 0 && (groupSize % block == 0 || (block % groupSize == 0 && groupSize >= perLane));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields256(void* state, int chunk)
    {
        ref Args args = ref Unsafe.AsRef<Args>(state);
        int groupsPerBlock = 256 / args.Bits / args.GroupSize;
        switch (args.Bits * 100 + groupsPerBlock)
        {
            case 400: case 401: ChunkFields256<Bits4, Scale256PerBlock>(in args, chunk); break;
            case 402: ChunkFields256<Bits4, Scale256Per4Lanes>(in args, chunk); break;
            case 404: ChunkFields256<Bits4, Scale256Per2Lanes>(in args, chunk); break;
            case 408: ChunkFields256<Bits4, Scale256PerLane>(in args, chunk); break;
            case 200: case 201: ChunkFields256<Bits2, Scale256PerBlock>(in args, chunk); break;
            case 202: ChunkFields256<Bits2, Scale256Per4Lanes>(in args, chunk); break;
            case 204: ChunkFields256<Bits2, Scale256Per2Lanes>(in args, chunk); break;
            default: ChunkFields256<Bits2, Scale256PerLane>(in args, chunk); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkFields256<TBits, TScale>(in Args args, int chunk) where TBits : IBits where TScale : IBlockScale256
    {
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        for (int o = start; o < end; o++)
        {
            float y = FieldsRow256<TBits, TScale>(in args, o);
            args.Output[o] = args.Bias is null ? y : y + args.Bias[o];
        }
    }

    /// <summary><c>sum_g s_g (sum_(i in g) x_i q_i - z_g sum_(i in g) x_i)</c> for row o and the one input row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float FieldsRow256<TBits, TScale>(in Args args, int o) where TBits : IBits where TScale : IBlockScale256
    {
        int bits = TBits.Bits, block = 256 / bits, n = args.InFeatures;
        int groups = n / args.GroupSize, blocksPerGroup = Math.Max(1, args.GroupSize / block);
        int* w = (int*)(args.Packed + (nint)o * (n * bits / 8));
        float* scales = args.Scales + (nint)o * groups;
        float* x = args.Streams;
        Vector256<float> t0 = default, t1 = default;
        for (int b = 0, blocks = n / block; b < blocks; b++, x += block)
        {
            Vector256<int> v = Vector256.Load(w + b * 8);
            Vector256<float> a0, a1, a2, a3;
            if (bits == 4)
            {
                a0 = Avx.ConvertToVector256Single(v & Vector256.Create(0xF)) * Vector256.Load(x + 0);
                a1 = Avx.ConvertToVector256Single(v & Vector256.Create(0xF0)) * Vector256.Load(x + 8);
                a2 = Avx.ConvertToVector256Single(v & Vector256.Create(0xF00)) * Vector256.Load(x + 16);
                a3 = Avx.ConvertToVector256Single(v & Vector256.Create(0xF000)) * Vector256.Load(x + 24);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xF0000)), Vector256.Load(x + 32), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xF00000)), Vector256.Load(x + 40), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xF000000)), Vector256.Load(x + 48), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 28)), Vector256.Load(x + 56), a3);
            }
            else
            {
                a0 = Avx.ConvertToVector256Single(v & Vector256.Create(0x3)) * Vector256.Load(x + 0);
                a1 = Avx.ConvertToVector256Single(v & Vector256.Create(0xC)) * Vector256.Load(x + 8);
                a2 = Avx.ConvertToVector256Single(v & Vector256.Create(0x30)) * Vector256.Load(x + 16);
                a3 = Avx.ConvertToVector256Single(v & Vector256.Create(0xC0)) * Vector256.Load(x + 24);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x300)), Vector256.Load(x + 32), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xC00)), Vector256.Load(x + 40), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x3000)), Vector256.Load(x + 48), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xC000)), Vector256.Load(x + 56), a3);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x30000)), Vector256.Load(x + 64), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xC0000)), Vector256.Load(x + 72), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x300000)), Vector256.Load(x + 80), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xC00000)), Vector256.Load(x + 88), a3);
                a0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x3000000)), Vector256.Load(x + 96), a0);
                a1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0xC000000)), Vector256.Load(x + 104), a1);
                a2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(v & Vector256.Create(0x30000000)), Vector256.Load(x + 112), a2);
                a3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(v, 30)), Vector256.Load(x + 120), a3);
            }

            Vector256<float> scale = TScale.Load(scales, b, blocksPerGroup);
            if ((b & 1) == 0) t0 = Fma.MultiplyAdd((a0 + a1) + (a2 + a3), scale, t0);
            else t1 = Fma.MultiplyAdd((a0 + a1) + (a2 + a3), scale, t1);
        }

        // The zero points: sum_g s_g z_g xsum_g, from the byte zero points.
        float* groupSums = args.GroupSums;
        byte* zeros = args.ZeroPoints + (nint)o * groups;
        Vector256<float> correction = default;
        int g = 0;
        for (; g + 8 <= groups; g += 8)
        {
            Vector256<float> z = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(zeros + g));
            correction = Fma.MultiplyAdd(Vector256.Load(scales + g) * z, Vector256.Load(groupSums + g), correction);
        }

        float tail = 0;
        for (; g < groups; g++) tail += scales[g] * zeros[g] * groupSums[g];
        return (Vector256.Sum(t0 + t1) - (Vector256.Sum(correction) + tail)) * args.InputUnscales[0];
    }

    /// <summary>The scales of block b, one per lane (8 lanes).</summary>
    private interface IBlockScale256
    {
        static abstract Vector256<float> Load(float* scales, int b, int blocksPerGroup);
    }

    private readonly struct Scale256PerBlock : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) => Vector256.Create(scales[b / blocksPerGroup]);
    }

    private readonly struct Scale256Per4Lanes : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) =>
            Vector256.Create(Vector128.Create(scales[2 * b]), Vector128.Create(scales[2 * b + 1]));
    }

    private readonly struct Scale256Per2Lanes : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) =>
            Avx2.PermuteVar8x32(Vector128.Load(scales + 4 * b).ToVector256Unsafe(), Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3));
    }

    private readonly struct Scale256PerLane : IBlockScale256
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(float* scales, int b, int blocksPerGroup) => Vector256.Load(scales + 8 * b);
    }
}
