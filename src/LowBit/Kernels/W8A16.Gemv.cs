using System.Runtime.CompilerServices;
using LowBit.Kernels;

namespace LowBit;

public static unsafe partial class W8A16
{
    /// <summary>
    /// The kernel over output rows [rowStart, rowEnd) of every batch row. Batch rows go in groups of 4
    /// (AVX-512) or 2 through the GEMM tiles, the rest one at a time through the GEMV tile; each tile
    /// covers four output rows, so each input load serves four rows and each widened weight vector
    /// serves every batch row of the group. The scale-and-bias epilogue runs last.
    /// </summary>
    private static void MultiplyRows<TLanes, TVec>(in MatMulArgs args, int rowStart, int rowEnd)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int n = args.InFeatures;
        int outFeatures = args.OutFeatures;
        int b = 0;
        // Several batch rows per pass share each widened weight vector. 4 x 4 tiles need 16 accumulators
        // plus operands, which only the 32 registers of AVX-512 (and Arm64) hold without spilling.
        if (TLanes.Count >= 16)
        {
            for (; b + 4 <= args.Batch; b += 4)
            {
                float* x = args.Input + (nint)b * n;
                float* y = args.Output + (nint)b * outFeatures;
                int o = rowStart;
                for (; o + 4 <= rowEnd; o += 4)
                {
                    Dot4x4<TLanes, TVec>(x, n, args.Weights + (nint)o * n, y + o, outFeatures);
                }

                for (; o < rowEnd; o++)
                {
                    for (int k = 0; k < 4; k++) y[k * outFeatures + o] = Dot1<TLanes, TVec>(x + k * n, args.Weights + (nint)o * n, n);
                }
            }
        }

        for (; b + 2 <= args.Batch; b += 2)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * outFeatures;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
            {
                Dot4x2<TLanes, TVec>(x, n, args.Weights + (nint)o * n, y + o, outFeatures);
            }

            for (; o < rowEnd; o++)
            {
                y[o] = Dot1<TLanes, TVec>(x, args.Weights + (nint)o * n, n);
                y[outFeatures + o] = Dot1<TLanes, TVec>(x + n, args.Weights + (nint)o * n, n);
            }
        }

        for (; b < args.Batch; b++)
        {
            float* x = args.Input + (nint)b * n;
            float* y = args.Output + (nint)b * outFeatures;
            int o = rowStart;
            for (; o + 4 <= rowEnd; o += 4)
            {
                Dot4<TLanes, TVec>(x, args.Weights + (nint)o * n, n, y + o);
            }

            for (; o < rowEnd; o++)
            {
                y[o] = Dot1<TLanes, TVec>(x, args.Weights + (nint)o * n, n);
            }
        }

        for (b = 0; b < args.Batch; b++)
        {
            float* y = args.Output + (nint)b * outFeatures;
            for (int o = rowStart; o < rowEnd; o++) y[o] = args.Finish(y[o], o);
        }
    }

    /// <summary>
    /// Four dot products of x with four consecutive int8 rows (stride n), written to sums[0..4].
    /// Two vectors per row per step: eight independent accumulators hide the FMA latency.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TLanes, TVec>(float* x, sbyte* w, int n, float* sums)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count;
        sbyte* w0 = w, w1 = w + n, w2 = w + 2 * (nint)n, w3 = w + 3 * (nint)n;
        TVec a0 = TLanes.Zero, a1 = TLanes.Zero, a2 = TLanes.Zero, a3 = TLanes.Zero;
        TVec b0 = TLanes.Zero, b1 = TLanes.Zero, b2 = TLanes.Zero, b3 = TLanes.Zero;
        int i = 0;
        for (; i + 2 * lanes <= n; i += 2 * lanes)
        {
            TVec xa = TLanes.Load(x + i);
            TVec xb = TLanes.Load(x + i + lanes);
            a0 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w0 + i), xa, a0);
            a1 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w1 + i), xa, a1);
            a2 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w2 + i), xa, a2);
            a3 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w3 + i), xa, a3);
            b0 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w0 + i + lanes), xb, b0);
            b1 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w1 + i + lanes), xb, b1);
            b2 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w2 + i + lanes), xb, b2);
            b3 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w3 + i + lanes), xb, b3);
        }

        if (i + lanes <= n)
        {
            TVec xa = TLanes.Load(x + i);
            a0 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w0 + i), xa, a0);
            a1 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w1 + i), xa, a1);
            a2 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w2 + i), xa, a2);
            a3 = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w3 + i), xa, a3);
            i += lanes;
        }

        float s0 = TLanes.Sum(TLanes.Add(a0, b0)), s1 = TLanes.Sum(TLanes.Add(a1, b1));
        float s2 = TLanes.Sum(TLanes.Add(a2, b2)), s3 = TLanes.Sum(TLanes.Add(a3, b3));
        for (; i < n; i++)
        {
            s0 += x[i] * w0[i];
            s1 += x[i] * w1[i];
            s2 += x[i] * w2[i];
            s3 += x[i] * w3[i];
        }

        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    /// <summary>One dot product of x with an int8 row, for the last rows of a chunk.</summary>
    private static float Dot1<TLanes, TVec>(float* x, sbyte* w, int n)
        where TLanes : unmanaged, IFloatLanes<TVec> where TVec : unmanaged
    {
        int lanes = TLanes.Count;
        TVec a = TLanes.Zero, b = TLanes.Zero;
        int i = 0;
        for (; i + 2 * lanes <= n; i += 2 * lanes)
        {
            a = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i), TLanes.Load(x + i), a);
            b = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i + lanes), TLanes.Load(x + i + lanes), b);
        }

        if (i + lanes <= n)
        {
            a = TLanes.MultiplyAdd(TLanes.LoadInt8AsSingle(w + i), TLanes.Load(x + i), a);
            i += lanes;
        }

        float s = TLanes.Sum(TLanes.Add(a, b));
        for (; i < n; i++) s += x[i] * w[i];
        return s;
    }
}
