namespace LowBit.Kernels;

// Compile-time constants for the generic kernels: the JIT specializes each struct instantiation, so loops over
// a row count or a bit width unroll and dead branches disappear.
internal static partial class LowBitMatMul
{
    /// <summary>Bits per packed weight, and whether the codes are signed (per-channel int8) or unsigned with zero points.</summary>
    private interface IBits
    {
        static abstract int Bits { get; }

        static abstract bool Signed { get; }
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
}
