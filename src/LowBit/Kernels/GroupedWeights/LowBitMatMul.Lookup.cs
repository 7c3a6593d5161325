using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// Table-lookup kernels: per block of packed bytes, a 16-entry (AVX-512) or 8-entry (AVX2) table holds the
// dequantized values (q - z) * s of the block's group, built with one FMA. vpermps picks the entry by the
// low 4 (or 3) bits of each 32-bit lane, so a code needs no mask, no int-to-float conversion and no scale
// multiply: zero-extend the bytes, shift to each field, permute, FMA with the input. 2-bit tables repeat
// their 4 entries, so the bits above a field select the same value and need no mask either.
internal static unsafe partial class LowBitMatMul
{
    /// <summary>Table lookups on AVX-512: 4-bit and 2-bit, 16-entry tables, 16 packed bytes per step.</summary>
    internal sealed class Lookup512Kernel() : MatMulKernel("lookup-512", KernelIsa.Avx512, WeightFormats.Group4 | WeightFormats.Group2,
                                                           "group bytes a multiple of 16")
    {
        public override bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => shape.GroupBytes % 16 == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        // The tables hold (q - z) * s, so the zero points need no group sums.
        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: false);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PackedRowsPerChunk(shape, 4096);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkLookup<Lookup512>;
    }

    /// <summary>Table lookups on AVX2: 2-bit only (an 8-entry table holds 4 entries twice), 8 packed bytes per step.</summary>
    internal sealed class Lookup256Kernel() : MatMulKernel("lookup-256", KernelIsa.Avx2, WeightFormats.Group2, "group bytes a multiple of 8")
    {
        public override bool IsSupported => Avx2.IsSupported && Fma.IsSupported && Vector256.IsHardwareAccelerated;

        protected override bool Fits(in LayerShape shape) => shape.GroupBytes % 8 == 0;

        public override long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

        public override void Prepare(float* input, ref KernelArgs args) => PrepareStreams(input, ref args, groupSums: false);

        public override int RowsPerChunk(in LayerShape shape, int batch) => PackedRowsPerChunk(shape, 4096);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ChunkLookup<Lookup256>;
    }

    /// <summary>Which lookup width a chunk runs.</summary>
    private interface ILookupWidth
    {
        static abstract bool IsWide { get; }
    }

    private readonly struct Lookup512 : ILookupWidth
    {
        public static bool IsWide => true;
    }

    private readonly struct Lookup256 : ILookupWidth
    {
        public static bool IsWide => false;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ChunkLookup<TWidth>(void* state, int chunk) where TWidth : ILookupWidth
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        bool wide = TWidth.IsWide;
        float* sums = stackalloc float[4];
        for (int b = 0; b < args.Batch; b += 4)
        {
            int valid = Math.Min(4, args.Batch - b);
            for (int o = start; o < end; o++)
            {
                if (valid == 1)
                {
                    if (!wide) Lookup2Avx2<OneRow>(in args, o, b, valid, sums);
                    else if (args.Bits == 4) Lookup4Avx512<OneRow>(in args, o, b, valid, sums);
                    else Lookup2Avx512<OneRow>(in args, o, b, valid, sums);
                }
                else
                {
                    if (!wide) Lookup2Avx2<FourRows>(in args, o, b, valid, sums);
                    else if (args.Bits == 4) Lookup4Avx512<FourRows>(in args, o, b, valid, sums);
                    else Lookup2Avx512<FourRows>(in args, o, b, valid, sums);
                }

                for (int k = 0; k < valid; k++)
                {
                    float y = sums[k];
                    args.Output[(nint)(b + k) * args.OutFeatures + o] = args.Bias is null ? y : y + args.Bias[o];
                }
            }
        }
    }

    /// <summary>The table of group g: lane i holds (iota[i] - z) * s = iota[i] * s - s z.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Table512(in KernelArgs args, nint group, Vector512<float> iota) =>
        Avx512F.FusedMultiplyAdd(iota, Vector512.Create(args.Scales[group]), Vector512.Create(-args.ZeroTerms[group]));

    /// <summary>4-bit, AVX-512: 16 packed bytes (32 weights of one group) per step; low nibbles meet the even stream, high nibbles the odd
    /// one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lookup4Avx512<TRows>(in KernelArgs args, int o, int b, int valid, float* sums) where TRows : IRows
    {
        int streamLength = args.InFeatures / 2, groupBytes = args.GroupSize / 2, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * streamLength;
        nint firstGroup = (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector512<float> iota = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
        Vector512<float> a0b = default, b0b = default;
        for (int g = 0, j = 0; g < groups; g++)
        {
            Vector512<float> table = Table512(in args, firstGroup + g, iota);
            for (int end = j + groupBytes; j < end; j += 16)
            {
                Vector512<int> codes = Avx512F.ConvertToVector512Int32(Vector128.Load(w + j));
                Vector512<float> lo = Avx512F.PermuteVar16x32(table, codes);
                Vector512<float> hi = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(codes, 4));
                nint e = j, od = streamLength + j;
                if (TRows.Count == 1 && ((j >> 4) & 1) != 0)
                {
                    // One input row: alternate two accumulator pairs so consecutive blocks do not wait on each other's FMA.
                    a0b = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x0 + e), a0b);
                    b0b = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x0 + od), b0b);
                    continue;
                }

                a0 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x0 + e), a0);
                b0 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x0 + od), b0);
                if (TRows.Count > 1)
                {
                    a1 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x1 + e), a1);
                    b1 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x1 + od), b1);
                    a2 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x2 + e), a2);
                    b2 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x2 + od), b2);
                    a3 = Avx512F.FusedMultiplyAdd(lo, Vector512.Load(x3 + e), a3);
                    b3 = Avx512F.FusedMultiplyAdd(hi, Vector512.Load(x3 + od), b3);
                }
            }
        }

        sums[0] = Vector512.Sum((a0 + b0) + (a0b + b0b));
        if (TRows.Count > 1)
        {
            sums[1] = Vector512.Sum(a1 + b1);
            sums[2] = Vector512.Sum(a2 + b2);
            sums[3] = Vector512.Sum(a3 + b3);
        }
    }

    /// <summary>2-bit, AVX-512: 16 packed bytes (64 weights of one group) per step, four fields per byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lookup2Avx512<TRows>(in KernelArgs args, int o, int b, int valid, float* sums) where TRows : IRows
    {
        int streamLength = args.InFeatures / 4, groupBytes = args.GroupSize / 4, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * streamLength;
        nint firstGroup = (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector512<float> iota = Vector512.Create(0f, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3);
        nint s1 = streamLength, s2 = 2 * (nint)streamLength, s3 = 3 * (nint)streamLength;
        Vector512<float> a0 = default, c0 = default, a1 = default, c1 = default, a2 = default, c2 = default, a3 = default, c3 = default;
        for (int g = 0, j = 0; g < groups; g++)
        {
            Vector512<float> table = Table512(in args, firstGroup + g, iota);
            for (int end = j + groupBytes; j < end; j += 16)
            {
                Vector512<int> codes = Avx512F.ConvertToVector512Int32(Vector128.Load(w + j));
                Vector512<float> f0 = Avx512F.PermuteVar16x32(table, codes);
                Vector512<float> f1 = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(codes, 2));
                Vector512<float> f2 = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(codes, 4));
                Vector512<float> f3 = Avx512F.PermuteVar16x32(table, Avx512F.ShiftRightLogical(codes, 6));
                if (TRows.Count == 1)
                {
                    // One input row: a chain per field, so the four FMAs of a block are independent.
                    a0 = Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x0 + j), a0);
                    a1 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x0 + j + s1), a1);
                    c0 = Avx512F.FusedMultiplyAdd(f2, Vector512.Load(x0 + j + s2), c0);
                    c1 = Avx512F.FusedMultiplyAdd(f3, Vector512.Load(x0 + j + s3), c1);
                }
                else
                {
                    a0 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x0 + j + s1), Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x0 + j), a0));
                    c0 = Avx512F.FusedMultiplyAdd(f3, Vector512.Load(x0 + j + s3), Avx512F.FusedMultiplyAdd(f2, Vector512.Load(x0 + j + s2), c0));
                    {
                        a1 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x1 + j + s1), Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x1 + j), a1));
                        c1 = Avx512F.FusedMultiplyAdd(f3, Vector512.Load(x1 + j + s3), Avx512F.FusedMultiplyAdd(f2, Vector512.Load(x1 + j + s2), c1));
                        a2 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x2 + j + s1), Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x2 + j), a2));
                        c2 = Avx512F.FusedMultiplyAdd(f3, Vector512.Load(x2 + j + s3), Avx512F.FusedMultiplyAdd(f2, Vector512.Load(x2 + j + s2), c2));
                        a3 = Avx512F.FusedMultiplyAdd(f1, Vector512.Load(x3 + j + s1), Avx512F.FusedMultiplyAdd(f0, Vector512.Load(x3 + j), a3));
                        c3 = Avx512F.FusedMultiplyAdd(f3, Vector512.Load(x3 + j + s3), Avx512F.FusedMultiplyAdd(f2, Vector512.Load(x3 + j + s2), c3));
                    }
                }
            }
        }

        if (TRows.Count == 1)
        {
            sums[0] = Vector512.Sum((a0 + a1) + (c0 + c1));
            return;
        }

        sums[0] = Vector512.Sum(a0 + c0);
        if (TRows.Count > 1)
        {
            sums[1] = Vector512.Sum(a1 + c1);
            sums[2] = Vector512.Sum(a2 + c2);
            sums[3] = Vector512.Sum(a3 + c3);
        }
    }

    /// <summary>2-bit, AVX2: 8 packed bytes (32 weights of one group) per step with an 8-entry table (4 entries twice).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Lookup2Avx2<TRows>(in KernelArgs args, int o, int b, int valid, float* sums) where TRows : IRows
    {
        int streamLength = args.InFeatures / 4, groupBytes = args.GroupSize / 4, groups = args.InFeatures / args.GroupSize;
        byte* w = args.Weights + (nint)o * streamLength;
        nint firstGroup = (nint)o * groups;
        BatchRows(in args, b, valid, out float* x0, out float* x1, out float* x2, out float* x3);
        Vector256<float> iota = Vector256.Create(0f, 1, 2, 3, 0, 1, 2, 3);
        nint s1 = streamLength, s2 = 2 * (nint)streamLength, s3 = 3 * (nint)streamLength;
        Vector256<float> a0 = default, c0 = default, a1 = default, c1 = default, a2 = default, c2 = default, a3 = default, c3 = default;
        for (int g = 0, j = 0; g < groups; g++)
        {
            nint group = firstGroup + g;
            Vector256<float> table = Fma.MultiplyAdd(iota, Vector256.Create(args.Scales[group]), Vector256.Create(-args.ZeroTerms[group]));
            for (int end = j + groupBytes; j < end; j += 8)
            {
                Vector256<int> codes = Avx2.ConvertToVector256Int32(w + j);
                Vector256<float> f0 = Avx2.PermuteVar8x32(table, codes);
                Vector256<float> f1 = Avx2.PermuteVar8x32(table, Avx2.ShiftRightLogical(codes, 2));
                Vector256<float> f2 = Avx2.PermuteVar8x32(table, Avx2.ShiftRightLogical(codes, 4));
                Vector256<float> f3 = Avx2.PermuteVar8x32(table, Avx2.ShiftRightLogical(codes, 6));
                if (TRows.Count == 1)
                {
                    a0 = Fma.MultiplyAdd(f0, Vector256.Load(x0 + j), a0);
                    a1 = Fma.MultiplyAdd(f1, Vector256.Load(x0 + j + s1), a1);
                    c0 = Fma.MultiplyAdd(f2, Vector256.Load(x0 + j + s2), c0);
                    c1 = Fma.MultiplyAdd(f3, Vector256.Load(x0 + j + s3), c1);
                }
                else
                {
                    a0 = Fma.MultiplyAdd(f1, Vector256.Load(x0 + j + s1), Fma.MultiplyAdd(f0, Vector256.Load(x0 + j), a0));
                    c0 = Fma.MultiplyAdd(f3, Vector256.Load(x0 + j + s3), Fma.MultiplyAdd(f2, Vector256.Load(x0 + j + s2), c0));
                    {
                        a1 = Fma.MultiplyAdd(f1, Vector256.Load(x1 + j + s1), Fma.MultiplyAdd(f0, Vector256.Load(x1 + j), a1));
                        c1 = Fma.MultiplyAdd(f3, Vector256.Load(x1 + j + s3), Fma.MultiplyAdd(f2, Vector256.Load(x1 + j + s2), c1));
                        a2 = Fma.MultiplyAdd(f1, Vector256.Load(x2 + j + s1), Fma.MultiplyAdd(f0, Vector256.Load(x2 + j), a2));
                        c2 = Fma.MultiplyAdd(f3, Vector256.Load(x2 + j + s3), Fma.MultiplyAdd(f2, Vector256.Load(x2 + j + s2), c2));
                        a3 = Fma.MultiplyAdd(f1, Vector256.Load(x3 + j + s1), Fma.MultiplyAdd(f0, Vector256.Load(x3 + j), a3));
                        c3 = Fma.MultiplyAdd(f3, Vector256.Load(x3 + j + s3), Fma.MultiplyAdd(f2, Vector256.Load(x3 + j + s2), c3));
                    }
                }
            }
        }

        if (TRows.Count == 1)
        {
            sums[0] = Vector256.Sum((a0 + a1) + (c0 + c1));
            return;
        }

        sums[0] = Vector256.Sum(a0 + c0);
        if (TRows.Count > 1)
        {
            sums[1] = Vector256.Sum(a1 + c1);
            sums[2] = Vector256.Sum(a2 + c2);
            sums[3] = Vector256.Sum(a3 + c3);
        }
    }
}
