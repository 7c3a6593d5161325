using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace LowBit.Kernels;

/// <summary>
/// Every matmul kernel, in one table, best first. A layer's <see cref="KernelPlan"/> takes, for each batch size, the
/// first entry whose kernel this machine runs, whose formats and layouts include the layer, and whose batch range (and
/// layer size) includes the call. Read the table to know what runs: "4-bit, group 64, batch 12 on AVX2" is the first row
/// that says AVX2 (or Vector128, or scalar) and takes Group4 with 12 in its range. Tests and benchmarks enumerate it.
/// </summary>
/// <remarks>
/// Kernels read the weights in the layers' canonical layout (row-major codes, <see cref="BitPacking"/>-packed rows), which
/// <c>PackedWeights</c> / <c>Int8Weights</c> expose, except those whose <see cref="MatMulKernel.Layout"/> says otherwise: a
/// layer makes that layout from its codes on the first call routed to such a kernel and keeps it beside them
/// (<see cref="IWeightLayouts"/>); callers without a layer (the static <c>W8A16.MatMul</c>) never get those kernels.
/// Batch ranges come from measurements on AMD Zen 5 (AVX-512, and AVX2 with DOTNET_EnableAVX512=0), made after warm-up
/// (tiered code at tier 1, as BenchmarkDotNet measures); each row says why, and its section header names the benchmark
/// whose table under benchmarks/results/ backs it.
/// </remarks>
internal static class KernelRegistry
{
    /// <summary>One row of the table.</summary>
    /// <param name="Formats">The weight formats this row is for (a kernel may take more, chosen by other rows).</param>
    /// <param name="Kernel">The kernel.</param>
    /// <param name="MinBatch">The fewest input rows it is chosen for.</param>
    /// <param name="MaxBatch">The most input rows it is chosen for.</param>
    /// <param name="Layers">Which layers it is chosen for: any, or only those with <see cref="LayerShape.HasShortRows"/>,
    /// <see cref="LayerShape.HasVeryShortRows"/> or <see cref="LayerShape.IsCacheSized"/>.</param>
    /// <param name="Why">Where the range comes from.</param>
    /// <param name="ForThisCpu">False when the row is not for this CPU although its kernel runs here (a choice measured on
    /// one vendor's pipes that port counts say loses on another's).</param>
    internal sealed record Entry(WeightFormats Formats, MatMulKernel Kernel, int MinBatch, int MaxBatch, LayerSizes Layers, string Why,
                                 bool ForThisCpu = true)
    {
        /// <summary>True when this row picks its kernel for a call of <paramref name="batch"/> rows on this layer, on this machine.</summary>
        public bool Matches(in LayerShape shape, int batch, ActivationPrecision activations) =>
            ForThisCpu && Kernel.Activations == activations && (Formats & shape.FormatFlag) != 0 && batch >= MinBatch && batch <= MaxBatch
            && Layers switch
            {
                LayerSizes.ShortRows => shape.HasShortRows,
                LayerSizes.VeryShortRows => shape.HasVeryShortRows,
                LayerSizes.CacheSized => shape.IsCacheSized,
                _ => true,
            }
            && Kernel.IsSupported && Kernel.Takes(shape);
    }

    /// <summary>The layers a row of the table is for.</summary>
    internal enum LayerSizes
    {
        /// <summary>Every layer.</summary>
        Any,

        /// <summary>Layers with <see cref="LayerShape.HasShortRows"/>.</summary>
        ShortRows,

        /// <summary>Layers with <see cref="LayerShape.HasVeryShortRows"/>.</summary>
        VeryShortRows,

        /// <summary>Layers with <see cref="LayerShape.IsCacheSized"/>.</summary>
        CacheSized,
    }

    private const LayerSizes AnyLayer = LayerSizes.Any;
    private const LayerSizes ShortRows = LayerSizes.ShortRows;
    private const LayerSizes VeryShort = LayerSizes.VeryShortRows;
    private const LayerSizes CacheSized = LayerSizes.CacheSized;

    private const int Any = int.MaxValue;

    /// <summary>
    /// Intel cores with AVX-VNNI and AVX-512 (Sapphire and Emerald Rapids, Granite Rapids): 512-bit integer multiplies
    /// issue on one port there, 256-bit <c>vpdpbusd</c> on two, so per 16 rows x 32 inputs the 512-bit <c>vpmaddubsw</c>
    /// kernel's 9 multiplies take about 9 cycles where the Rows8 VNNI kernel's 16 dots take 8 (not measured: no such CPU
    /// since the 16-row kernel). Zen 4 and 5, and Intel without AVX-VNNI (Ice Lake), take the 16-row kernel.
    /// </summary>
    private static readonly bool IntelWithAvxVnni = AvxVnni.IsSupported && IsIntel();

    /// <summary>
    /// AMD x64 cores: with only 128-bit vectors (AVX2 off) int8 weights at batch 8 and more run the row-major int8act-128
    /// 1.27-1.40x faster than the 8-row int8 tile on Zen 5, where the Xeon measured the tile 1.2-1.55x ahead (and the int8
    /// GEMV of the 8-row kernels fetches ahead as Zen 5 measured it best: Int8RowsMatMul.PrefetchGemv).
    /// </summary>
    internal static readonly bool Amd = IsAmd();
    private const WeightFormats Int8 = WeightFormats.Int8PerChannel;
    private const WeightFormats Grouped = WeightFormats.Grouped;
    private const WeightFormats All = WeightFormats.Int8PerChannel | WeightFormats.Grouped;
    private const WeightFormats G4G8 = WeightFormats.Group4 | WeightFormats.Group8;
    private const WeightFormats Group4 = WeightFormats.Group4;
    private const WeightFormats Group2 = WeightFormats.Group2;

    // Per-channel int8 (W8A16).
    public static readonly MatMulKernel Int8Tiles512 = new Int8WeightMatMul.TilesKernel<Lanes512, Vector512<float>>();
    public static readonly MatMulKernel Int8Gemv512 = new Int8WeightMatMul.GemvKernel<Lanes512, Vector512<float>>();
    public static readonly MatMulKernel Int8Tiles256 = new Int8WeightMatMul.TilesKernel<Lanes256, Vector256<float>>();
    public static readonly MatMulKernel Int8Gemv256 = new Int8WeightMatMul.GemvKernel<Lanes256, Vector256<float>>();
    public static readonly MatMulKernel Int8Tiles128 = new Int8WeightMatMul.TilesKernel<Lanes128, Vector128<float>>();
    public static readonly MatMulKernel Int8Gemv128 = new Int8WeightMatMul.GemvKernel<Lanes128, Vector128<float>>();
    public static readonly MatMulKernel Int8Scalar = new Int8WeightMatMul.ScalarKernel();

    // Group-wise 2/4/8-bit (LowBitLinear); the panels take per-channel int8 too.
    public static readonly MatMulKernel Panel512 = new LowBitMatMul.Panel512Kernel();
    public static readonly MatMulKernel Panel256 = new LowBitMatMul.Panel256Kernel();
    public static readonly MatMulKernel Field512 = new LowBitMatMul.Field512Kernel();
    public static readonly MatMulKernel Field256 = new LowBitMatMul.Field256Kernel();
    public static readonly MatMulKernel Field128 = new LowBitMatMul.Field128Kernel();
    public static readonly MatMulKernel Lookup512 = new LowBitMatMul.Lookup512Kernel();
    public static readonly MatMulKernel Lookup256 = new LowBitMatMul.Lookup256Kernel();
    public static readonly MatMulKernel Block512 = new LowBitMatMul.BlockKernel<Lanes512, Vector512<float>>();
    public static readonly MatMulKernel Block256 = new LowBitMatMul.BlockKernel<Lanes256, Vector256<float>>();
    public static readonly MatMulKernel Block128 = new LowBitMatMul.BlockKernel<Lanes128, Vector128<float>>();
    public static readonly MatMulKernel Bytes512 = new LowBitMatMul.BytesKernel<Lanes512, Vector512<float>>();
    public static readonly MatMulKernel Bytes256 = new LowBitMatMul.BytesKernel<Lanes256, Vector256<float>>();
    public static readonly MatMulKernel Bytes128 = new LowBitMatMul.BytesKernel<Lanes128, Vector128<float>>();
    public static readonly MatMulKernel Streams512 = new LowBitMatMul.StreamKernel<Lanes512, Vector512<float>>();
    public static readonly MatMulKernel Streams256 = new LowBitMatMul.StreamKernel<Lanes256, Vector256<float>>();
    public static readonly MatMulKernel Streams128 = new LowBitMatMul.StreamKernel<Lanes128, Vector128<float>>();
    public static readonly MatMulKernel GroupScalar = new LowBitMatMul.ScalarKernel();

    // Int8 activations (ActivationPrecision.Int8), every format.
    public static readonly MatMulKernel IntDot512 = new Int8ActivationMatMul.DotKernel<Dot512, Vector512<byte>>("int8act-512");
    public static readonly MatMulKernel IntRows16Avx512 = new Int8RowsMatMul.Avx512Kernel();
    public static readonly MatMulKernel IntRows8Vnni256 = new Int8RowsMatMul.Vnni256Kernel();
    public static readonly MatMulKernel IntRows8Avx2 = new Int8RowsMatMul.Avx2Kernel();
    public static readonly MatMulKernel IntRows8Vector128 = new Int8RowsMatMul.Vector128Kernel();
    public static readonly MatMulKernel IntVnni256 = new Int8ActivationMatMul.DotKernel<Dot256Vnni, Vector256<byte>>("int8act-vnni-256");
    public static readonly MatMulKernel IntDot256 = new Int8ActivationMatMul.DotKernel<Dot256, Vector256<byte>>("int8act-256");
    public static readonly MatMulKernel IntDot128 = new Int8ActivationMatMul.DotKernel<Dot128, Vector128<byte>>("int8act-128");
    public static readonly MatMulKernel IntScalar = new Int8ActivationMatMul.ScalarKernel();

    /// <summary>The table, best first.</summary>
    public static readonly Entry[] Entries =
    [
        // ---- Per-channel int8 (measured: W8A16Benchmarks, BatchSweepBenchmarks) ------------------------------------
        new(Int8, Panel512,       32, Any, AnyLayer, "Xeon: from 32 rows 1.0-2.0x int8-tiles-512 (whose 4-row passes read the weights again)"),
        new(Int8, Panel512,       16,  31, ShortRows, "Xeon: rows under 1024 columns, from 16 rows 1.05-1.65x int8-tiles-512"),
        new(Int8, Panel512,        8,  15, VeryShort, "Xeon: rows of 512 columns or fewer, from 8 rows 1.15-1.4x int8-tiles-512"),
        new(Int8, Int8Gemv512,     1,   1, AnyLayer, "one sequential weight stream per row: the prefetcher's best case"),
        new(Int8, Int8Tiles512,    2, Any, AnyLayer, "4 x 4 tiles: each widened weight vector feeds four inputs; ahead of the panel below 32 rows"),
        new(Int8, Panel256,       32, Any, AnyLayer, "Xeon, AVX-512 off: from 32 rows 0.98-1.4x int8-tiles-256, 1.1-1.5x at 64"),
        new(Int8, Panel256,       16,  31, ShortRows, "Xeon, AVX-512 off: rows under 1024 columns, from 16 rows 1.05-1.35x int8-tiles-256"),
        new(Int8, Int8Gemv256,     1,   1, AnyLayer, "as on AVX-512"),
        new(Int8, Int8Tiles256,    2, Any, AnyLayer, "4 x 3 tiles (16 registers); the 4 x 2 tiles ran convert- and shuffle-bound on Zen 3"),
        new(Int8, Int8Gemv128,     1,   1, AnyLayer, "as on AVX-512"),
        new(Int8, Int8Tiles128,    2, Any, AnyLayer, "4 x 3 tiles"),
        new(Int8, Int8Scalar,      1, Any, AnyLayer, "no SIMD"),

        // ---- Group-wise 2/4/8-bit (measured: LayerSweepBenchmarks, BatchSweepBenchmarks, GgufLayoutBenchmarks) ---------
        new(Grouped, Bytes512,     1,  23, AnyLayer, "8-bit groups only (GGUF Q8_0, Q5_x, Q6_K); panel-512 leads from 32 rows"),
        new(Grouped, Bytes256,     1,  23, AnyLayer, "as bytes-512, 4 x 2 tiles"),
        new(Grouped, Bytes128,     1,  23, AnyLayer, "as bytes-512 (Arm64 NEON, SSE)"),
        new(Grouped, Panel512,    24, Any, AnyLayer, "from 24 rows the dequantized panel leads on every layer"),
        new(Grouped, Panel512,    20,  23, CacheSized, "layers of 8 M weights or fewer: from 20 rows 0-17% faster than field-512"),
        new(Grouped, Panel512,     6,  23, VeryShort, "rows of 512 columns or fewer: from 6 rows 1.25-1.55x faster than field-512"),
        new(Grouped, Panel512,    10,  23, ShortRows, "rows under 1024 columns: from 10 rows 7-19% faster than field-512"),
        new(Grouped, Field512,     1,  23, AnyLayer, "no dequantized copy: 1.7-1.9x faster than panel-512 at 4 rows on rows of 1536 columns or more"),
        new(Grouped, Panel512,     4,  23, AnyLayer, "layouts field-512 does not take (columns not whole half blocks, 2-bit groups of 8)"),
        new(Grouped, Panel256,    16, Any, AnyLayer, "from 16 rows as fast as field-256 or up to 12% faster"),
        new(Grouped, Panel256,     6,  15, VeryShort, "rows of 512 columns or fewer: from 6 rows 1.2-1.4x faster than field-256"),
        new(Grouped, Panel256,    10,  15, ShortRows, "rows under 1024 columns: from 10 rows 4-10% faster than field-256"),
        new(Grouped, Field256,     1,  15, AnyLayer, "the 2 x 4 field tile at 8 lanes: 1.1-1.5x faster than panel-256 at 4 rows"),
        new(Grouped, Lookup512,    1,  15, AnyLayer, "layouts the field kernels do not take (columns not whole blocks)"),
        new(Grouped, Lookup256,    1,  15, AnyLayer, "as lookup-512, 2-bit only"),
        new(Grouped, Field128,     1,  15, AnyLayer, "the field kernel at 4 lanes (Arm64 NEON, SSE4.1)"),
        new(Grouped, Block512,    16, Any, AnyLayer, "layouts the panels do not take: a block dequantized once beats unpacking per input row"),
        new(Grouped, Block256,    16, Any, AnyLayer, "as block-512"),
        new(Grouped, Block128,    16, Any, AnyLayer, "as block-512 (Arm64 NEON, SSE)"),
        new(Grouped, Streams512,   1, Any, AnyLayer, "the generic fused kernel, for what nothing above takes"),
        new(Grouped, Streams256,   1, Any, AnyLayer, "as streams-512"),
        new(Grouped, Streams128,   1, Any, AnyLayer, "as streams-512"),
        new(Grouped, GroupScalar,  1, Any, AnyLayer, "no SIMD"),

        // ---- Int8 activations, ActivationPrecision.Int8 (measured: Int8ActivationBenchmarks) ------------------------
        // Rows interleaved 8 at a time, against the rows below (Int8RowsBenchmarks-xeon: Xeon Emerald Rapids, one thread):
        // int8 weights 1.2-3.9x, 4-bit 1.05-5x, 8-bit groups 1.2-6x at every batch; 2-bit 1.14-3.5x from batch 2 and on rows
        // under 1024 columns, but 0.8x at batch 1 on rows of 2048 and more, where int8act-512's 512-bit vectors lead (and
        // int8act-vnni-256 with AVX-512 off: 0.87x). The AVX2 variant (vpmaddubsw) against the row-major kernels on the same
        // Xeon with AVX-VNNI off (in-process A/B): int8 1.0x at batch 1, 1.3-2.2x from 8 on rows under 1024 columns (but
        // 0.7-0.95x int8act-512 on rows of 4096); 4-bit 1.0-3.7x at every batch; 2-bit 1.0-3.9x from batch 2. Zen 5 runs the
        // VNNI rows; with their batch-1 pass for groups in straight-line code (GroupGemv) and 16 KiB prefetch, 2-bit at
        // batch 1 runs 1.33-1.38x the AVX2 rows on rows under 1024 columns, 1.0-1.21x int8act-512 on longer rows in cache and
        // 1.11x from DRAM (11008x4096). Zen 2-4 run the AVX2 rows (not measured). The 128-bit variant (SSSE3 pmaddubsw, Arm64 sdot or NEON
        // widening multiplies) against int8act-128 on the same Xeon with AVX2 off (in-process A/B, one thread): from batch 8
        // 1.2-1.7x for every format; at batch 1 int8 runs 0.72-0.95x (the q + 128 restore and the code broadcast cost two
        // operations per 16 weights where the row-major dot needs none), so int8 batch 1 stays row-major and a layer used at
        // batch 1 and above holds both layouts there. Arm64 measured only for exactness (qemu): its rows follow x64's.
        // Rows interleaved 16 at a time at 512 bits (AVX-512BW: vpmaddubsw, int16 block sums, 9 multiplies per 16 rows and 32
        // inputs where 256-bit vpdpbusd over Rows8 takes 16), against the VNNI rows on Zen 5, one thread (in-process A/B, the
        // small-layer shapes): 2/4-bit 1.55-1.98x from batch 8; at batch 1 2-bit 1.05-1.2x, 4-bit 0.85-1.07x in cache and
        // 0.9-1.2x from DRAM. Chosen at every batch so that a layer holds one layout; not on Intel with AVX-VNNI, where
        // 512-bit multiplies issue on one port (IntelWithAvxVnni; PlanMode.Measure can still pick it there).
        new(Group4 | Group2, IntRows16Avx512, 1, Any, AnyLayer, "AVX-512BW: 2/4-bit at every batch, 1.55-1.98x the VNNI rows from 8 (Zen 5)",
            ForThisCpu: !IntelWithAvxVnni),
        new(Int8, IntRows8Vnni256, 1, Any, AnyLayer, "int8 weights, every batch: 1.2-3.9x the row-major kernels (from 2 rows: two groups at a time)"),
        new(G4G8, IntRows8Vnni256, 1, Any, AnyLayer, "4-bit and 8-bit groups, every batch: 1.05-6x the row-major routes"),
        new(Group2, IntRows8Vnni256, 1, Any, AnyLayer, "2-bit groups, every batch: 1.14-3.5x the row-major kernels from 2, 1.0-1.38x at 1 (Zen 5)"),
        new(Group2, IntRows8Avx2,  1,   1, ShortRows, "no AVX-VNNI: 2-bit at batch 1 on rows under 1024 columns, ahead of int8act-512"),
        new(Int8, IntRows8Avx2,    1, Any, ShortRows, "no AVX-VNNI: int8 on rows under 1024 columns, 1.3-2.2x int8act-512 from batch 8"),
        new(Group4, IntRows8Avx2,  1, Any, AnyLayer, "no AVX-VNNI: 4-bit at every batch, 1.0-3.7x the row-major kernels"),
        new(Group2, IntRows8Avx2,  2, Any, AnyLayer, "no AVX-VNNI: 2-bit from batch 2, 1.0-3.9x the row-major kernels"),
        new(Int8, IntVnni256,      1,   1, AnyLayer, "int8 weights at batch 1 from DRAM: 256-bit vpdpbusd streams 30% faster than int8act-512"),
        new(Int8, IntDot256,       1,   1, AnyLayer, "as the row above, on AVX-512 CPUs without AVX-VNNI"),
        new(All, IntDot512,        1, Any, AnyLayer, "vpmaddubsw + vpmaddwd, 512 bits: ahead of 256-bit vpdpbusd on Zen 5 (.NET 10: no 512-bit one)"),
        new(All, IntVnni256,       1, Any, AnyLayer, "vpdpbusd (AVX-VNNI): 5-20% ahead of vpmaddubsw at 256 bits"),
        new(Int8, IntRows8Avx2,    2, Any, AnyLayer, "AVX2 without AVX-512: int8 from batch 2, 1.07-1.5x int8act-256 on rows of 4096"),
        new(All, IntDot256,        1, Any, AnyLayer, "vpmaddubsw + vpmaddwd (AVX2)"),
        new(Int8, IntDot128,       8, Any, AnyLayer, "AMD, 128 bits: int8 from batch 8, 1.27-1.40x int8act-rows8-128 (Zen 5, AVX2 off)",
            ForThisCpu: Amd),
        new(Int8, IntRows8Vector128, 2, Any, AnyLayer, "128 bits (SSSE3, Arm64): int8 from batch 2, 1.2-1.55x int8act-128; 0.72-0.95x at batch 1"),
        new(Group4, IntRows8Vector128, 1, Any, AnyLayer, "128 bits: 4-bit at every batch, 1.0-1.45x int8act-128 at batch 1, 1.24-1.71x from 8"),
        new(Group2, IntRows8Vector128, 1,   1, ShortRows, "128 bits: 2-bit at batch 1 on rows under 1024 columns, 1.02-1.35x (0.91x on longer rows)"),
        new(Group2, IntRows8Vector128, 2, Any, AnyLayer, "128 bits: 2-bit from batch 2, 1.24-1.72x int8act-128"),
        new(All, IntDot128,        1, Any, AnyLayer, "sdot (Arm64 dot product), widening multiplies (other Arm64), pmaddubsw (SSSE3)"),
        new(All, IntScalar,        1, Any, AnyLayer, "no SIMD; layouts no vector kernel takes (groups under 32, short blocks, 8-bit groups)"),
    ];

    /// <summary>Every distinct kernel of the table, in table order.</summary>
    public static readonly MatMulKernel[] Kernels = Entries.Select(e => e.Kernel).Distinct().ToArray();

    /// <summary>The batch sizes at which some row's range starts or ends: the registry's choice is constant between them.</summary>
    public static readonly int[] BatchBreakpoints = Entries
        .SelectMany(e => e.MaxBatch == Any ? new[] { e.MinBatch } : new[] { e.MinBatch, e.MaxBatch + 1 })
        .Append(1).Distinct().Order().ToArray();

    /// <summary>
    /// The first row's kernel that takes this call on this machine (the scalar kernels take everything); without
    /// <paramref name="layouts"/> (weights with no <see cref="IWeightLayouts"/>), only kernels of the canonical layout.
    /// </summary>
    public static MatMulKernel Choose(in LayerShape shape, int batch, ActivationPrecision activations = ActivationPrecision.Float,
                                      bool layouts = true)
    {
        foreach (Entry entry in Entries)
        {
            if (entry.Matches(shape, batch, activations) && (layouts || entry.Kernel.Layout == WeightLayout.RowMajor)) return entry.Kernel;
        }

        throw new InvalidOperationException($"No kernel takes {shape} at batch {batch} with {activations} activations.");
    }

    /// <summary>True on an x64 CPU whose vendor string is "GenuineIntel".</summary>
    internal static bool IsIntel() => Vendor() == "GenuineIntel";

    /// <summary>True on an x64 CPU whose vendor string is "AuthenticAMD".</summary>
    internal static bool IsAmd() => Vendor() == "AuthenticAMD";

    /// <summary>The CPU vendor string (CPUID leaf 0: ebx, edx, ecx), or empty off x64.</summary>
    internal static string Vendor()
    {
        if (!X86Base.IsSupported) return "";
        (_, int ebx, int ecx, int edx) = X86Base.CpuId(0, 0);
        return Encoding.ASCII.GetString(MemoryMarshal.AsBytes<int>([ebx, edx, ecx]));
    }
}
