namespace LowBit.Kernels;

/// <summary>How a layer's weights are quantized, as the kernels see them.</summary>
internal enum WeightFormat
{
    /// <summary>Signed int8 codes, one float scale per output row, no zero point (<see cref="W8A16Linear{T}"/>).</summary>
    Int8PerChannel,

    /// <summary>Unsigned 8-bit codes, a scale and a zero point per group of a row (<see cref="LowBitLinear{T}"/>, 8 bits).</summary>
    Group8,

    /// <summary>4-bit codes packed two per byte, a scale and a zero point per group.</summary>
    Group4,

    /// <summary>2-bit codes packed four per byte, a scale and a zero point per group.</summary>
    Group2,
}

/// <summary>A set of <see cref="WeightFormat"/>s: what a kernel takes.</summary>
[Flags]
internal enum WeightFormats
{
    None = 0,
    Int8PerChannel = 1 << WeightFormat.Int8PerChannel,
    Group8 = 1 << WeightFormat.Group8,
    Group4 = 1 << WeightFormat.Group4,
    Group2 = 1 << WeightFormat.Group2,
    Grouped = Group8 | Group4 | Group2,
}

/// <summary>The instruction set a kernel is written for; the registry lists kernels of the widest first.</summary>
internal enum KernelIsa
{
    /// <summary>Plain loops: any CPU.</summary>
    Scalar,

    /// <summary>Portable 128-bit vectors: SSE4.1, Arm64 NEON, WebAssembly SIMD.</summary>
    Vector128,

    /// <summary>256-bit AVX2 + FMA.</summary>
    Avx2,

    /// <summary>256-bit AVX-VNNI (<c>vpdpbusd</c>) on top of AVX2.</summary>
    AvxVnni,

    /// <summary>512-bit AVX-512 (F, BW).</summary>
    Avx512,
}

/// <summary>One layer's weights as a kernel sees them: format, shape and group size.</summary>
/// <param name="Format">How the codes are stored.</param>
/// <param name="OutFeatures">Rows of the weight matrix.</param>
/// <param name="InFeatures">Columns of the weight matrix.</param>
/// <param name="GroupSize">Consecutive weights of a row sharing a scale (InFeatures for per-channel int8).</param>
internal readonly record struct LayerShape(WeightFormat Format, int OutFeatures, int InFeatures, int GroupSize)
{
    /// <summary>Per-channel int8 weights of the given shape.</summary>
    public static LayerShape Int8(int outFeatures, int inFeatures) => new(WeightFormat.Int8PerChannel, outFeatures, inFeatures, inFeatures);

    /// <summary>Group-wise weights of 2, 4 or 8 bits.</summary>
    public static LayerShape Grouped(int bits, int outFeatures, int inFeatures, int groupSize) =>
        new(bits switch { 2 => WeightFormat.Group2, 4 => WeightFormat.Group4, _ => WeightFormat.Group8 }, outFeatures, inFeatures, groupSize);

    /// <summary>Bits per weight code.</summary>
    public int Bits => Format switch { WeightFormat.Group4 => 4, WeightFormat.Group2 => 2, _ => 8 };

    /// <summary>Groups per row (1 for per-channel int8).</summary>
    public int Groups => InFeatures / GroupSize;

    /// <summary>Bytes per packed row.</summary>
    public int RowBytes => InFeatures * Bits / 8;

    /// <summary>Packed bytes per group.</summary>
    public int GroupBytes => GroupSize * Bits / 8;

    /// <summary>The format as a one-member set.</summary>
    public WeightFormats FormatFlag => (WeightFormats)(1 << (int)Format);

    /// <summary>Rows of fewer than 1024 columns, where a kernel's fixed costs per weight row weigh most (the panel kernels lead there from fewer
    /// input rows).</summary>
    public bool HasShortRows => InFeatures < 1024;

    /// <summary>Rows of 512 columns or fewer (MiniLM's 1536x384): shorter still, the panel kernels lead from fewer input rows again.</summary>
    public bool HasVeryShortRows => InFeatures <= 512;

    /// <summary>
    /// Layers of 8 M weights or fewer (768x3072, 896x4864, 384x1536; 4 MiB at 4 bits): the panel kernels lead there from
    /// fewer input rows than on larger layers (4096x4096, 8192x2048, 11008x4096), where the field kernels stay ahead longer.
    /// </summary>
    public bool IsCacheSized => (long)OutFeatures * InFeatures <= 1 << 23;

    public override string ToString() => $"{Format} {OutFeatures}x{InFeatures}" + (Format == WeightFormat.Int8PerChannel ? ""
        : $" group {GroupSize}");
}
