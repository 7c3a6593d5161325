namespace LowBit.Kernels;

/// <summary>
/// One matmul kernel: what it takes (instruction set, weight formats, layouts) and how it runs (the input arrangement it
/// wants, its work items, the function a worker runs per item). Kernels hold no state: <see cref="KernelRegistry"/> lists
/// one instance of each, and a <see cref="KernelPlan"/> keeps the ones a layer uses. <see cref="MatMulRunner"/> drives a
/// call: it converts the input to float32, lets the kernel arrange it, and splits the work items across threads.
/// </summary>
internal abstract unsafe class MatMulKernel(string name, KernelIsa isa, WeightFormats formats, string layouts,
                                            ActivationPrecision activations = ActivationPrecision.Float)
{
    /// <summary>A short name that says the algorithm and the width, as in the registry and the benchmark tables.</summary>
    public string Name { get; } = name;

    /// <summary>The instruction set it is written for.</summary>
    public KernelIsa Isa { get; } = isa;

    /// <summary>The weight formats it takes.</summary>
    public WeightFormats Formats { get; } = formats;

    /// <summary>Which layouts of those formats it covers, in words (what <see cref="Fits"/> checks).</summary>
    public string Layouts { get; } = layouts;

    /// <summary>How it multiplies the input: float32, or int8 codes per block of 32 (<see cref="ActivationPrecision"/>).</summary>
    public ActivationPrecision Activations { get; } = activations;

    /// <summary>True when this machine (and the runtime's settings, such as DOTNET_EnableAVX512=0) runs it.</summary>
    public abstract bool IsSupported { get; }

    /// <summary>The layout it reads the codes in: the canonical one, or one a layer makes for it on first use
    /// (<see cref="IWeightLayouts"/>).</summary>
    public virtual WeightLayout Layout => WeightLayout.RowMajor;

    /// <summary>True when the kernel takes this layer: its format, and a layout it covers.</summary>
    public bool Takes(in LayerShape shape) => (Formats & shape.FormatFlag) != 0 && Fits(shape);

    /// <summary>The layout rule beyond the format (column and group-size multiples).</summary>
    protected virtual bool Fits(in LayerShape shape) => true;

    /// <summary>Floats of scratch the arranged input takes (by default the rows themselves, for a 64-byte-aligned copy).</summary>
    public virtual long PreparedFloats(in LayerShape shape, int batch) => (long)batch * shape.InFeatures;

    /// <summary>True when the kernel reads <see cref="KernelArgs.GroupSums"/> (filled by <see cref="Prepare"/>).</summary>
    public virtual bool UsesGroupSums => false;

    /// <summary>True when the kernel reads <see cref="KernelArgs.LaneSums"/> (filled by <see cref="Prepare"/>).</summary>
    public virtual bool UsesLaneSums => false;

    /// <summary>
    /// Arranges the float32 input (batch x InFeatures rows) for the kernel. On entry <c>args.Input</c> points at
    /// <see cref="PreparedFloats"/> floats of 64-byte-aligned scratch, <c>args.GroupSums</c> at batch x groups floats when
    /// <see cref="UsesGroupSums"/>, <c>args.LaneSums</c> at batch x InFeatures / 8 floats when <see cref="UsesLaneSums"/>,
    /// and <c>args.InputUnscales</c> at one float per input row. The default uses the rows as they
    /// are when they start on a cache line, and copies them to the aligned scratch when not: a kernel's 64-byte loads of a
    /// misaligned input each touch two lines, which cost 40% on W8A16 GEMV with its input in L1 (measured, Zen 5).
    /// </summary>
    public virtual void Prepare(float* input, ref KernelArgs args)
    {
        if (((nint)input & 63) == 0)
        {
            args.Input = input;
            return;
        }

        long count = (long)args.Batch * args.InFeatures;
        Buffer.MemoryCopy(input, args.Input, count * sizeof(float), count * sizeof(float));
    }

    /// <summary>Output rows per work item on one thread; the last item may be shorter.</summary>
    public abstract int RowsPerChunk(in LayerShape shape, int batch);

    /// <summary>The rows a work item is a multiple of (the runner makes items smaller, in these steps, to share them among threads).</summary>
    public virtual int RowGranularity => 4;

    /// <summary>The function a worker runs for work item i: <c>body(&amp;args, i)</c>.</summary>
    public abstract delegate*<void*, int, void> Body(in LayerShape shape);

    public override string ToString() => Name;
}
