namespace LowBit.Kernels;

/// <summary>
/// A layer's codes in the layouts its kernels read, one copy where it can: the canonical <see cref="WeightLayout.RowMajor"/>
/// codes it is built with, and <see cref="WeightLayout.Rows8"/> made on the first call of a kernel that reads it. Making
/// Rows8 drops the row-major copy unless a row-major kernel has already run, and a row-major kernel called later makes it
/// again (from then on both are kept): a layer used in one precision holds one layout, one used in both holds both. The
/// canonical views (<see cref="RowMajorView"/>, <see cref="Row"/>) read whichever copy is there. Thread-safe: at
/// least one copy is always published, a dropped array lives on for the calls that still read it, and two threads making
/// the same layout at once keep one of the two.
/// </summary>
internal abstract class LayerCodes : IWeightLayouts
{
    private byte[]? _rowMajor;
    private AlignedBytes? _rows8;
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

    /// <summary>Bytes of the Rows8 layout.</summary>
    protected abstract long Rows8Bytes { get; }

    /// <summary>Writes Rows8 from the row-major codes.</summary>
    protected abstract void Interleave(ReadOnlySpan<byte> rowMajor, Span<byte> rows8);

    /// <summary>Writes rows <paramref name="first"/>.. of the row-major codes (<c>target.Length / RowBytes</c> of them) from Rows8.</summary>
    protected abstract void Deinterleave(ReadOnlySpan<byte> rows8, int first, Span<byte> target);

    /// <summary>Bytes the codes hold in memory now (the copies made so far, less those dropped).</summary>
    public long HeldBytes => (Volatile.Read(ref _rowMajor)?.LongLength ?? 0) + (Volatile.Read(ref _rows8)?.HeldBytes ?? 0);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> Codes(WeightLayout layout)
    {
        if (layout == WeightLayout.RowMajor)
        {
            // Written once: every matmul call of every thread passes here, and a store per call would bounce the line between cores.
            if (!_rowMajorRun) _rowMajorRun = true;
            return Volatile.Read(ref _rowMajor) ?? RemakeRowMajor();
        }

        if (layout != WeightLayout.Rows8) throw new ArgumentException($"These codes have no {layout} layout.", nameof(layout));
        AlignedBytes? rows8 = Volatile.Read(ref _rows8);
        if (rows8 is not null) return rows8.Span;
        // The row-major copy is dropped only after Rows8 is published: when it is gone, Rows8 is there.
        if (Volatile.Read(ref _rowMajor) is not { } rowMajor) return Volatile.Read(ref _rows8)!.Span;
        var made = new AlignedBytes(Rows8Bytes);
        Interleave(rowMajor, made.Span);
        return Publish(made).Span;
    }

    private AlignedBytes Publish(AlignedBytes made)
    {
        AlignedBytes? first = Interlocked.CompareExchange(ref _rows8, made, null);
        if (first is not null) return first;
        // Dropped only after Rows8 is published, so a reader that finds no row-major copy always finds Rows8.
        if (!_rowMajorRun) Volatile.Write(ref _rowMajor, null);
        return made;
    }

    private byte[] RemakeRowMajor()
    {
        byte[] rowMajor = GC.AllocateUninitializedArray<byte>(checked(Rows * RowBytes));
        Deinterleave(Volatile.Read(ref _rows8)!.Span, 0, rowMajor);
        return Interlocked.CompareExchange(ref _rowMajor, rowMajor, null) ?? rowMajor;
    }

    /// <summary>
    /// The row-major codes: the held copy, or one made from Rows8 and kept only as long as someone uses it (a weak
    /// reference: reading a view does not bring the second copy back for good).
    /// </summary>
    public ReadOnlySpan<byte> RowMajorView()
    {
        if (Volatile.Read(ref _rowMajor) is { } held) return held;
        if (Volatile.Read(ref _view) is { } weak && weak.TryGetTarget(out byte[]? kept)) return kept;
        byte[] view = GC.AllocateUninitializedArray<byte>(checked(Rows * RowBytes));
        Deinterleave(Volatile.Read(ref _rows8)!.Span, 0, view);
        Volatile.Write(ref _view, new WeakReference<byte[]>(view));
        return view;
    }

    /// <summary>
    /// Row <paramref name="row"/>'s row-major codes (RowBytes): a slice of the held copy, or taken out of Rows8 into
    /// <paramref name="scratch"/> (at least RowBytes) when only that is held.
    /// </summary>
    public ReadOnlySpan<byte> Row(int row, Span<byte> scratch)
    {
        if (Volatile.Read(ref _rowMajor) is { } held) return held.AsSpan(row * RowBytes, RowBytes);
        Deinterleave(Volatile.Read(ref _rows8)!.Span, row, scratch[..RowBytes]);
        return scratch[..RowBytes];
    }
}
