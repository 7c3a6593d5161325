using System.Runtime.CompilerServices;

namespace LowBit.Kernels;

internal static unsafe partial class Int8ActivationMatMul
{
    /// <summary>
    /// The scalar reference of <see cref="ActivationPrecision.Int8"/>, for every format and layout: per block of 32 codes and
    /// each weight group it meets, the exact integer sum <c>sum xq (q - z)</c>, times <c>sx * s</c>, added in float32. The
    /// fallback without SIMD and for layouts the vector kernels do not take (groups under 32, short last blocks).
    /// </summary>
    internal sealed class ScalarKernel() : MatMulKernel("int8act-scalar", KernelIsa.Scalar, WeightFormats.Int8PerChannel | WeightFormats.Grouped,
                                                        "any",
                                                        ActivationPrecision.Int8)
    {
        public override bool IsSupported => true;

        public override long PreparedFloats(in LayerShape shape, int batch) => ScratchFloats(shape.InFeatures, batch);

        public override void Prepare(float* input, ref KernelArgs args)
        {
            int n = args.InFeatures, rowBytes = RowBytes(n), blocks = ActivationQuantizer.Blocks(n);
            sbyte* codes = (sbyte*)args.Input;
            float* scales = (float*)(codes + (nint)args.Batch * rowBytes);
            int* sums = (int*)(scales + (nint)args.Batch * (blocks + 16));
            for (int b = 0; b < args.Batch; b++)
            {
                ActivationQuantizer.QuantizeRow(input + (nint)b * n, n, codes + (nint)b * rowBytes, scales + (nint)b * (blocks + 16), sums
                    + (nint)b * (blocks + 16));
            }

            args.Codes = codes;
            args.LaneScales = scales;
        }

        public override int RowsPerChunk(in LayerShape shape, int batch) => LowBitMatMul.PackedRowsPerChunk(shape, 1024);

        public override delegate*<void*, int, void> Body(in LayerShape shape) => &ScalarChunk;
    }

    private static void ScalarChunk(void* state, int chunk)
    {
        ref KernelArgs args = ref Unsafe.AsRef<KernelArgs>(state);
        int start = chunk * args.RowsPerChunk, end = Math.Min(start + args.RowsPerChunk, args.OutFeatures);
        int n = args.InFeatures, bits = args.Bits, groupSize = args.GroupSize, groups = n / groupSize, blocks = ActivationQuantizer.Blocks(n);
        bool perChannel = args.ZeroPoints is null;
        int perByte = 8 / bits, mask = (1 << bits) - 1, rowBytes = n * bits / 8;
        for (int b = 0; b < args.Batch; b++)
        {
            sbyte* x = args.Codes + (nint)b * RowBytes(n);
            float* sx = args.LaneScales + (nint)b * (blocks + 16);
            for (int o = start; o < end; o++)
            {
                byte* w = args.Weights + (nint)o * rowBytes;
                float acc = 0;
                for (int k = 0; k < blocks; k++)
                {
                    int blockEnd = Math.Min(n, (k + 1) * ActivationQuantizer.BlockSize);
                    for (int i = k * ActivationQuantizer.BlockSize; i < blockEnd;)
                    {
                        // One (block, group) intersection: an exact integer sum, then one scaling.
                        int g = i / groupSize, stop = Math.Min(blockEnd, (g + 1) * groupSize), z = perChannel ? 0 : args.ZeroPoints[(nint)o * groups
                            + g];
                        int dot = 0, xsum = 0;
                        for (; i < stop; i++)
                        {
                            int q = perChannel ? (sbyte)w[i] : (w[i / perByte] >> (i % perByte * bits)) & mask;
                            dot += x[i] * (q - z);
                            xsum += x[i];
                        }

                        acc += dot * (sx[k] * args.Scales[(nint)o * groups + g]);
                        // A float offset per group: w = s (q - z) - offset, so the intersection adds -offset * sx * sum xq.
                        if (args.Offsets is not null) acc -= args.Offsets[(nint)o * groups + g] * (sx[k] * xsum);
                    }
                }

                args.Output[(nint)b * args.OutFeatures + o] = args.Bias is null ? acc : acc + args.Bias[o];
            }
        }
    }
}
