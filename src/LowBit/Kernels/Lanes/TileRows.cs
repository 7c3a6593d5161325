namespace LowBit.Kernels;

/// <summary>
/// Input rows per register tile, as a compile-time constant: the JIT specializes each struct instantiation, so a
/// kernel generic over it keeps exactly the accumulators it uses and drops the branches of the others.
/// </summary>
internal interface IRows
{
    static abstract int Count { get; }
}

internal readonly struct OneRow : IRows
{
    public static int Count => 1;
}

internal readonly struct TwoRows : IRows
{
    public static int Count => 2;
}

internal readonly struct ThreeRows : IRows
{
    public static int Count => 3;
}

internal readonly struct FourRows : IRows
{
    public static int Count => 4;
}

internal readonly struct SixRows : IRows
{
    public static int Count => 6;
}

internal readonly struct EightRows : IRows
{
    public static int Count => 8;
}

internal readonly struct TwelveRows : IRows
{
    public static int Count => 12;
}
