namespace LowBit.Kernels;

// Compile-time constants for the generic kernels: the JIT specializes each struct instantiation, so loops over
// a row count or a bit width unroll and dead branches disappear.
internal static partial class LowBitMatMul
{
    /// <summary>Input rows per tile.</summary>
    private interface IRows
    {
        static abstract int Count { get; }
    }

    /// <summary>Bits per packed weight, and whether the codes are signed (per-channel int8) or unsigned with zero points.</summary>
    private interface IBits
    {
        static abstract int Bits { get; }

        static abstract bool Signed { get; }
    }

    private readonly struct OneRow : IRows
    {
        public static int Count => 1;
    }

    private readonly struct TwoRows : IRows
    {
        public static int Count => 2;
    }

    private readonly struct FourRows : IRows
    {
        public static int Count => 4;
    }

    private readonly struct EightRows : IRows
    {
        public static int Count => 8;
    }

    private readonly struct TwelveRows : IRows
    {
        public static int Count => 12;
    }

    private readonly struct Bits2 : IBits
    {
        public static int Bits => 2;
        public static bool Signed => false;
    }

    private readonly struct Bits4 : IBits
    {
        public static int Bits => 4;
        public static bool Signed => false;
    }

    private readonly struct Bits8 : IBits
    {
        public static int Bits => 8;
        public static bool Signed => false;
    }

    /// <summary>Per-channel int8 codes: signed, no zero point, one scale per row.</summary>
    private readonly struct SignedBits8 : IBits
    {
        public static int Bits => 8;
        public static bool Signed => true;
    }

    private readonly struct SixRows : IRows
    {
        public static int Count => 6;
    }
}
