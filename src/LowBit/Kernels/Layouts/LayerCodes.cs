namespace LowBit.Kernels;

/// <summary>
/// A layer's codes in the layouts its kernels read, one copy where it can: the canonical <see cref="WeightLayout.RowMajor"/>
/// codes it is built with, and each interleaved layout (<see cref="WeightLayout.Rows8"/>, <see cref="WeightLayout.Rows16"/>)
/// made on the first call of a kernel that reads it. Making the first interleaved layout drops the row-major copy unless a
/// row-major kernel has already run, and a row-major kernel called later makes it again (from then on both are kept): a
/// layer used in one precision (and by kernels of one layout) holds one copy, one used in both holds both. The canonical
/// views (<see cref="RowMajorView"/>, <see cref="Row"/>) read whichever copy is there. Thread-safe: at least one copy is
/// always published, a dropped array lives on for the calls that still read it, and two threads making the same layout
/// at once keep one of the two.
/// </summary>
internal abstract class LayerCodes : IWeightLayouts
{
    private byte[]? _rowMajor;
    private readonly AlignedBytes?[] _interleaved = new AlignedBytes?[2];   // Rows8, Rows16
    private volatile bool _rowMajorRun;
    private WeakReference<byte[]>? _view;

    protected LayerCodes(byte[] rowMajor, int rows, int rowBytes)
    {
        _rowMajor = rowMajor;
        Rows = rows;
        RowBytes = rowBytes;
    }

    /// <summary>Rows of codes (the layer's output features).</summary>
    protected int Rows { get; }

    /// <summary>Bytes of one row-major row.</summary>
    protected int RowBytes { get; }

    /// <summary>True when these codes can be laid out as <paramref name="layout"/> (an interleaved layout).</summary>
    protected virtual bool Has(WeightLayout layout) => layout == WeightLayout.Rows8;

    /// <inheritdoc/>
    public virtual GroupParameters Parameters(WeightLayout layout) => default;

    /// <summary>Bytes of the interleaved <paramref name="layout"/>.</summary>
    protected abstract long InterleavedBytes(WeightLayout layout);

    /// <summary>Writes the interleaved <paramref name="layout"/> from the row-major codes.</summary>
    protected abstract void Interleave(ReadOnlySpan<byte> rowMajor, WeightLayout layout, Span<byte> interleaved);

    /// <summary>Writes rows <paramref name="first"/>.. of the row-major codes (<c>target.Length / RowBytes</c> of them) from the
    /// interleaved <paramref name="layout"/>.</summary>
    protected abstract void Deinterleave(ReadOnlySpan<byte> interleaved, WeightLayout layout, int first, Span<byte> target);

    /// <summary>Bytes the codes hold in memory now (the copies made so far, less those dropped).</summary>
    public long HeldBytes => (Volatile.Read(ref _rowMajor)?.LongLength ?? 0) + (Volatile.Read(ref _interleaved[0])?.HeldBytes ?? 0)
                             + (Volatile.Read(ref _interleaved[1])?.HeldBytes ?? 0);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout)
    {
        if (layout == WeightLayout.RowMajor)
        {
            // Written once: every matmul call of every thread passes here, and a store per call would bounce the line between cores.
            if (!_rowMajorRun) _rowMajorRun = true;
            return Volatile.Read(ref _rowMajor) ?? RemakeRowMajor();
        }

        if (!Has(layout)) throw new ArgumentException($"These codes have no {layout} layout.", nameof(layout));
        ref AlignedBytes? slot = ref Slot(layout);
        if (Volatile.Read(ref slot) is { } held) return held.Span;
        // The row-major copy is dropped only after an interleaved layout is published: when it is gone, one is there, and a
        // second layout is made from a row-major view of the first.
        var made = new AlignedBytes(InterleavedBytes(layout));
        Interleave(Volatile.Read(ref _rowMajor) ?? RowMajorView(), layout, made.Span);
        return Publish(ref slot, made).Span;
    }

    private ref AlignedBytes? Slot(WeightLayout layout) => ref _interleaved[layout == WeightLayout.Rows8 ? 0 : 1];

    private AlignedBytes Publish(ref AlignedBytes? slot, AlignedBytes made)
    {
        AlignedBytes? first = Interlocked.CompareExchange(ref slot, made, null);
        if (first is not null) return first;
        // Dropped only after a layout is published, so a reader that finds no row-major copy always finds one.
        if (!_rowMajorRun) Volatile.Write(ref _rowMajor, null);
        return made;
    }

    /// <summary>An interleaved layout that is held (one is whenever the row-major copy is not).</summary>
    private (AlignedBytes Codes, WeightLayout Layout) Held() => Volatile.Read(ref _interleaved[0]) is { } rows8
        ? (rows8, WeightLayout.Rows8)
        : (Volatile.Read(ref _interleaved[1])!, WeightLayout.Rows16);

    private byte[] RemakeRowMajor()
    {
        byte[] rowMajor = GC.AllocateUninitializedArray<byte>(checked(Rows * RowBytes));
        (AlignedBytes held, WeightLayout layout) = Held();
        Deinterleave(held.Span, layout, 0, rowMajor);
        return Interlocked.CompareExchange(ref _rowMajor, rowMajor, null) ?? rowMajor;
    }

    /// <summary>
    /// The row-major codes: the held copy, or one made from an interleaved layout and kept only as long as someone uses it
    /// (a weak reference: reading a view does not bring the second copy back for good).
    /// </summary>
    public ReadOnlySpan<byte> RowMajorView()
    {
        if (Volatile.Read(ref _rowMajor) is { } held) return held;
        if (Volatile.Read(ref _view) is { } weak && weak.TryGetTarget(out byte[]? kept)) return kept;
        byte[] view = GC.AllocateUninitializedArray<byte>(checked(Rows * RowBytes));
        (AlignedBytes codes, WeightLayout layout) = Held();
        Deinterleave(codes.Span, layout, 0, view);
        Volatile.Write(ref _view, new WeakReference<byte[]>(view));
        return view;
    }

    /// <summary>
    /// Row <paramref name="row"/>'s row-major codes (RowBytes): a slice of the held copy, or taken out of an interleaved
    /// layout into <paramref name="scratch"/> (at least RowBytes) when only that is held.
    /// </summary>
    public ReadOnlySpan<byte> Row(int row, Span<byte> scratch)
    {
        if (Volatile.Read(ref _rowMajor) is { } held) return held.AsSpan(row * RowBytes, RowBytes);
        (AlignedBytes codes, WeightLayout layout) = Held();
        Deinterleave(codes.Span, layout, row, scratch[..RowBytes]);
        return scratch[..RowBytes];
    }
}
