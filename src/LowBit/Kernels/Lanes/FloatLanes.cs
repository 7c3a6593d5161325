using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

/// <summary>
/// One SIMD width seen as "a vector of float lanes", with the few operations the matmul kernels
/// need. Kernels are generic over it, so one kernel body serves Vector512, Vector256 and Vector128;
/// the JIT specializes each struct instantiation and inlines the static calls.
/// </summary>
internal unsafe interface IFloatLanes<TVec> where TVec : unmanaged
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    /// <summary>True when this width runs in hardware on this machine.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>The instruction set of this width, as the kernel registry names it.</summary>
    static abstract KernelIsa Isa { get; }

    static abstract TVec Zero { get; }

    /// <summary>Loads <see cref="Count"/> int8 values, sign-extends them and converts them to float.</summary>
    static abstract TVec LoadInt8AsSingle(sbyte* source);

    static abstract TVec Load(float* source);

    static abstract void Store(TVec value, float* destination);

    /// <summary><c>a * b + c</c>, fused where the hardware has FMA.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);

    static abstract TVec Add(TVec a, TVec b);

    static abstract TVec Multiply(TVec a, TVec b);

    static abstract float Sum(TVec value);

    static abstract TVec Broadcast(float value);

    /// <summary>Loads <see cref="Count"/> bytes into the low lanes of a Vector128 (the rest is unspecified).</summary>
    static abstract Vector128<byte> LoadBytes(byte* source);

    /// <summary>Zero-extends the low <see cref="Count"/> bytes to int32 lanes and converts them to float.</summary>
    static abstract TVec BytesToSingle(Vector128<byte> bytes);
}

/// <summary>AVX-512: 16 floats; <c>vpmovsxbd zmm, m128</c> sign-extends 16 bytes straight into int32 lanes.</summary>
internal readonly unsafe struct Lanes512 : IFloatLanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;
    public static KernelIsa Isa => KernelIsa.Avx512;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadInt8AsSingle(sbyte* source) =>
        Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(source)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* source) => Vector512.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> value) => Vector512.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LoadBytes(byte* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> BytesToSingle(Vector128<byte> bytes) =>
        Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(bytes));
}

/// <summary>AVX2 + FMA: 8 floats; <c>vpmovsxbd ymm, m64</c> sign-extends 8 bytes straight into int32 lanes.</summary>
internal readonly unsafe struct Lanes256 : IFloatLanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported;
    public static KernelIsa Isa => KernelIsa.Avx2;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadInt8AsSingle(sbyte* source) =>
        Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source) => Vector256.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> value) => Vector256.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LoadBytes(byte* source) => Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(source)).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> BytesToSingle(Vector128<byte> bytes) =>
        Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(bytes));
}

/// <summary>Portable 128-bit (SSE4.1, Arm64 NEON, WebAssembly SIMD): 4 floats.</summary>
internal readonly unsafe struct Lanes128 : IFloatLanes<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;
    public static bool IsSupported => Vector128.IsHardwareAccelerated;
    public static KernelIsa Isa => KernelIsa.Vector128;
    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadInt8AsSingle(sbyte* source)
    {
        if (Sse41.IsSupported)
        {
            return Vector128.ConvertToSingle(Sse41.ConvertToVector128Int32(source));
        }

        // Four bytes into the low lane, then sign-extend twice (sxtl on Arm64).
        Vector128<sbyte> bytes = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<int>(source)).AsSByte();
        return Vector128.ConvertToSingle(Vector128.WidenLower(Vector128.WidenLower(bytes)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(float* source) => Vector128.Load(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, float* destination) => value.Store(destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.MultiplyAddEstimate(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> value) => Vector128.Sum(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LoadBytes(byte* source) => Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<uint>(source)).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> BytesToSingle(Vector128<byte> bytes) =>
        Vector128.ConvertToSingle(Sse41.IsSupported
            ? Sse41.ConvertToVector128Int32(bytes)
            : Vector128.WidenLower(Vector128.WidenLower(bytes)).AsInt32());
}
