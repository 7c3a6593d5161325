using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

// Zero points and offsets out of a group-wise dot product: the float terms every group-wise family shares (fields, bytes, int8 activations).
internal static unsafe partial class LowBitMatMul
{
    /// <summary>
    /// True when one input row's zero-point term is folded in lane by lane, <c>(s z)_lane * (sum of the lane's inputs)</c>,
    /// one FMA per block: on layers with few groups per row the group-by-group loop after the row (a horizontal sum and a
    /// scalar loop per row) took a third of the call (1536 x 384 4-bit: 20.7 us, 13.9 us without it). When the groups fill
    /// whole vectors of <paramref name="lanes"/> the loop has no scalar tail and costs fewer FMAs than one per block, and at
    /// batch 1 it reads the one-byte zero points where the lanes read s z as floats.
    /// </summary>
    private static bool LaneZeroPoints(in KernelArgs args, int lanes)
    {
        int groups = args.InFeatures / args.GroupSize;
        return groups < lanes || groups % lanes != 0;
    }

    /// <summary>Subtracts the zero points, <c>sum_g (s z)_g * xsum_g</c>, from the block sums of one input row and undoes the input's
    /// scaling.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroPointTerm(in KernelArgs args, int o, int row, Vector512<float> total) =>
        (Vector512.Sum(total) - ZeroPointCorrection(in args, o, row)) * args.InputUnscales[row];

    /// <summary>
    /// <c>sum_g s_g z_g xsum_g</c> for row o and one input row (in the input's scaling). Reads the one-byte zero points
    /// rather than the float s z: at batch 1 the kernel streams its bytes from memory, and for 2-bit group 32 this is
    /// 0.41 instead of 0.5 bytes per weight. The scales were just read by the block loop and come from L1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroPointCorrection(in KernelArgs args, int o, int row)
    {
        int groups = args.InFeatures / args.GroupSize;
        return args.Offsets is not null ? FloatZeroTerm(args.ZeroTerms + (nint)o * groups, args.GroupSums + (nint)row * groups, groups)
                                        : ByteZeroPointCorrection(in args, o, row);
    }

    /// <summary><see cref="ZeroPointCorrection"/> of a layer without float offsets: from the one-byte zero points.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ByteZeroPointCorrection(in KernelArgs args, int o, int row) => ByteZeroTermDot<Lanes512, Vector512<float>>(in args, o, row);

    /// <summary>
    /// <c>sum_g s_g z_g xsum_g</c> from the one-byte zero points of row o, against one input row's group sums, at one vector
    /// width (each field kernel's own, inlined where its loop over rows must hold no call).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ByteZeroTermDot<TLanes, TV>(in KernelArgs args, int o, int row) where TLanes : unmanaged, IFloatLanes<TV>
        where TV : unmanaged
    {
        int groups = args.InFeatures / args.GroupSize, g = 0;
        float* scales = args.Scales + (nint)o * groups, groupSums = args.GroupSums + (nint)row * groups;
        byte* zeros = args.ZeroPoints + (nint)o * groups;
        TV sum = TLanes.Zero;
        for (; g + TLanes.Count <= groups; g += TLanes.Count)
        {
            TV z = TLanes.BytesToSingle(TLanes.LoadBytes(zeros + g));
            sum = TLanes.MultiplyAdd(TLanes.Multiply(TLanes.Load(scales + g), z), TLanes.Load(groupSums + g), sum);
        }

        float correction = TLanes.Sum(sum);
        for (; g < groups; g++) correction += scales[g] * zeros[g] * groupSums[g];
        return correction;
    }

    /// <summary>
    /// <see cref="FloatZeroTerm"/> at one vector width, inlined where the caller's loop must hold no call (the batch-1
    /// field kernels: a call in their loop over rows made the JIT keep the masks on the stack).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ZeroTermDot<TLanes, TV>(float* zeroTerms, float* groupSums, int groups)
        where TLanes : unmanaged, IFloatLanes<TV> where TV : unmanaged
    {
        TV sum = TLanes.Zero;
        int g = 0;
        for (; g + TLanes.Count <= groups; g += TLanes.Count) sum = TLanes.MultiplyAdd(TLanes.Load(zeroTerms + g), TLanes.Load(groupSums + g), sum);
        float total = TLanes.Sum(sum);
        for (; g < groups; g++) total += zeroTerms[g] * groupSums[g];
        return total;
    }

    /// <summary>
    /// <c>sum_g zt_g * xsum_g</c> with float zero terms <c>zt = s z + offset</c>: layers with float offsets (loaded from
    /// formats such as GGUF's Q4_K), where the one-byte zero points do not say the whole term.
    /// </summary>
    /// <remarks>Vector loops of its own, not TensorPrimitives.Dot: at batch 1 a call per output row cost 0.2 ms of 1.4 (11008 x 4096).</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static float FloatZeroTerm(float* zeroTerms, float* groupSums, int groups)
    {
        if (Lanes512.IsSupported && groups >= 16) return ZeroTermDot<Lanes512, Vector512<float>>(zeroTerms, groupSums, groups);
        if (Lanes256.IsSupported && groups >= 8) return ZeroTermDot<Lanes256, Vector256<float>>(zeroTerms, groupSums, groups);
        if (Lanes128.IsSupported && groups >= 4) return ZeroTermDot<Lanes128, Vector128<float>>(zeroTerms, groupSums, groups);
        float total = 0;
        for (int g = 0; g < groups; g++) total += zeroTerms[g] * groupSums[g];
        return total;
    }
}
