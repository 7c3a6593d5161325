using LowBit.Internal;

namespace LowBit.Tests.Infrastructure;

/// <summary>Seeded random data in any of the three element types.</summary>
internal static class TestData
{
    public static T[] Gaussian<T>(int count, int seed, double std = 1.0)
    {
        var random = new Random(seed);
        var values = new T[count];
        for (int i = 0; i < count; i++)
        {
            // Box-Muller
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double g = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            values[i] = Elements<T>.FromSingle((float)(g * std));
        }

        return values;
    }

    public static T[] Uniform<T>(int count, int seed, double min, double max)
    {
        var random = new Random(seed);
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = Elements<T>.FromSingle((float)(min + random.NextDouble() * (max - min)));
        return values;
    }

    public static sbyte[] Codes(int count, int seed)
    {
        var random = new Random(seed);
        var codes = new sbyte[count];
        for (int i = 0; i < count; i++) codes[i] = (sbyte)random.Next(-127, 128);
        return codes;
    }

    public static float F<T>(T value) => Elements<T>.ToSingle(value);

    public static T Of<T>(float value) => Elements<T>.FromSingle(value);

    /// <summary>Bit-level equality for the three element types (NaN-safe, distinguishes -0).</summary>
    public static bool SameBits<T>(T a, T b) => BitConverter.SingleToUInt32Bits(F(a)) == BitConverter.SingleToUInt32Bits(F(b));

    /// <summary>Half an ulp relative, as DESIGN.md's eps(T).</summary>
    public static double Epsilon<T>() =>
        typeof(T) == typeof(float) ? Math.Pow(2, -23) : typeof(T) == typeof(Half) ? Math.Pow(2, -10) : Math.Pow(2, -7);

    /// <summary>Half the smallest subnormal of T: the absolute rounding floor near zero.</summary>
    public static double RoundingFloor<T>() =>
        typeof(T) == typeof(float) ? Math.Pow(2, -150) : typeof(T) == typeof(Half) ? Math.Pow(2, -25) : Math.Pow(2, -134);
}
