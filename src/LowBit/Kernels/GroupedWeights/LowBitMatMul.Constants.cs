namespace LowBit.Kernels;

// Compile-time constants for the generic kernels: the JIT specializes each struct instantiation, so loops over
// a row count or a bit width unroll and dead branches disappear.
internal static partial class LowBitMatMul
{
    /// <summary>Bits per packed weight.</summary>
    private interface IBits
    {
        static abstract int Bits { get; }
    }

    private readonly struct Bits2 : IBits
    {
        public static int Bits => 2;
    }

    private readonly struct Bits4 : IBits
    {
        public static int Bits => 4;
    }

    private readonly struct Bits8 : IBits
    {
        public static int Bits => 8;
    }

    /// <summary>Per-channel int8 codes: signed bytes, one scale per row, no zero point (the panels take them as one group per row).</summary>
    private readonly struct SignedBits8 : IBits
    {
        public static int Bits => 8;
    }
}
