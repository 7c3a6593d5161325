using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LowBit.Kernels;

/// <summary>
/// One SIMD width seen as "bytes in, int32 dot-product lanes out", with the few operations the integer-activation
/// kernels need (<see cref="Int8ActivationMatMul"/>). Every vector is carried as <typeparamref name="TV"/> (its bytes) and
/// reinterpreted inside, which costs nothing. Lane l of a dot product is the sum of the products of bytes 4l..4l+3,
/// whatever instruction forms it: <c>vpdpbusd</c> (VNNI), <c>vpmaddubsw</c> + <c>vpmaddwd</c> (AVX2, AVX-512BW, SSSE3),
/// <c>sdot</c> (Arm64 dot product) or widening multiplies and pairwise adds (other Arm64 cores).
/// </summary>
internal unsafe interface IDotLanes<TV> where TV : unmanaged
{
    /// <summary>True when this width runs in hardware on this machine.</summary>
    static abstract bool IsSupported { get; }

    /// <summary>The instruction set of this width, as the kernel registry names it.</summary>
    static abstract KernelIsa Isa { get; }

    /// <summary>Bytes per vector (16 x this in int32 or float lanes: <see cref="Bytes"/> / 4).</summary>
    static abstract int Bytes { get; }

    static abstract TV Load(void* source);

    static abstract TV Zero { get; }

    /// <summary>
    /// Signed weights times signed codes, <c>acc + sum w x</c> per lane, given <paramref name="absWeights"/> = |w|: the
    /// unsigned-by-signed instructions multiply |w| (-128 gives 128) by x carrying w's sign, so every product and every
    /// pair sum (2 x 128 x 127) fits, with no offset to subtract afterwards (an offset of 128 lost float precision on
    /// outlier-heavy rows).
    /// </summary>
    static abstract TV DotInt8(TV acc, TV weights, TV absWeights, TV codes);

    /// <summary>The magnitude of each signed byte, as an unsigned byte (-128 gives 128).</summary>
    static abstract TV AbsBytes(TV weights);

    /// <summary>Two pairs of unsigned 4-bit codes (0..15) times signed activation codes.</summary>
    static abstract TV Dot2(TV acc, TV u0, TV s0, TV u1, TV s1);

    /// <summary>Four pairs of unsigned 2-bit codes (0..3) times signed activation codes.</summary>
    static abstract TV Dot4(TV acc, TV u0, TV s0, TV u1, TV s1, TV u2, TV s2, TV u3, TV s3);

    /// <summary>The low nibble of every byte.</summary>
    static abstract TV LowNibbles(TV packed);

    /// <summary>The high nibble of every byte.</summary>
    static abstract TV HighNibbles(TV packed);

    /// <summary>Bits 2k..2k+1 of every byte, for k = 0..3 (k is a constant at every call).</summary>
    static abstract TV Crumbs(TV packed, [ConstantExpected(Min = 0, Max = 3)] byte k);

    /// <summary>int32 lanes to float lanes.</summary>
    static abstract TV ToSingle(TV lanes);

    /// <summary>Float lanes: <c>a * b + c</c>.</summary>
    static abstract TV MultiplyAdd(TV a, TV b, TV c);

    /// <summary>Float lanes: <c>a * b</c>.</summary>
    static abstract TV Multiply(TV a, TV b);

    /// <summary>Float lanes: <c>a + b</c>.</summary>
    static abstract TV Add(TV a, TV b);

    /// <summary>The sum of the float lanes.</summary>
    static abstract float Sum(TV lanes);

    /// <summary>Loads float lanes.</summary>
    static abstract TV LoadSingle(float* source);

    /// <summary>Loads one unsigned byte per float lane (<see cref="Bytes"/> / 4 bytes), converted to float.</summary>
    static abstract TV LoadBytesAsSingle(byte* source);

    /// <summary>
    /// The weight scales of one step, one per lane: <paramref name="groups"/> (1, 2, 4 or 8, at most the lanes) consecutive
    /// group scales spread so each covers <see cref="Bytes"/> / 4 / <paramref name="groups"/> consecutive lanes. Reads
    /// exactly <paramref name="groups"/> floats.
    /// </summary>
    static abstract TV SpreadScales(float* scales, int groups);
}

/// <summary>
/// AVX-512 (BW): 64 bytes, 16 lanes, <c>vpmaddubsw</c> + <c>vpmaddwd</c> (.NET 10 exposes <c>vpdpbusd</c> at 128 and 256
/// bits only, see <see cref="Dot256Vnni"/>).
/// </summary>
internal readonly unsafe struct Dot512 : IDotLanes<Vector512<byte>>
{
    public static bool IsSupported => Vector512.IsHardwareAccelerated && Avx512BW.IsSupported;
    public static KernelIsa Isa => KernelIsa.Avx512;
    public static int Bytes => 64;
    public static Vector512<byte> Zero => Vector512<byte>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Load(void* source) => Vector512.Load((byte*)source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> DotInt8(Vector512<byte> acc, Vector512<byte> weights, Vector512<byte> absWeights, Vector512<byte> codes)
    {
        // No vpsignb at 512 bits: negate x where w is negative.
        Vector512<sbyte> x = codes.AsSByte();
        Vector512<sbyte> signed = Vector512.ConditionalSelect(Vector512.LessThan(weights.AsSByte(), Vector512<sbyte>.Zero), -x, x);
        Vector512<short> pairs = Avx512BW.MultiplyAddAdjacent(absWeights, signed);
        return (acc.AsInt32() + Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> AbsBytes(Vector512<byte> weights) => Avx512BW.Abs(weights.AsSByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Dot2(Vector512<byte> acc, Vector512<byte> u0, Vector512<byte> s0, Vector512<byte> u1, Vector512<byte> s1)
    {
        // 4-bit codes: two pairs sum to at most 4 x 15 x 127, within int16.
        Vector512<short> pairs = Avx512BW.MultiplyAddAdjacent(u0, s0.AsSByte()) + Avx512BW.MultiplyAddAdjacent(u1, s1.AsSByte());
        return (acc.AsInt32() + Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Dot4(Vector512<byte> acc, Vector512<byte> u0, Vector512<byte> s0, Vector512<byte> u1, Vector512<byte> s1,
                                       Vector512<byte> u2, Vector512<byte> s2, Vector512<byte> u3, Vector512<byte> s3)
    {
        // 2-bit codes: four pairs sum to at most 8 x 3 x 127, within int16.
        Vector512<short> pairs = (Avx512BW.MultiplyAddAdjacent(u0, s0.AsSByte()) + Avx512BW.MultiplyAddAdjacent(u1, s1.AsSByte()))
                               + (Avx512BW.MultiplyAddAdjacent(u2, s2.AsSByte()) + Avx512BW.MultiplyAddAdjacent(u3, s3.AsSByte()));
        return (acc.AsInt32() + Avx512BW.MultiplyAddAdjacent(pairs, Vector512.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> LowNibbles(Vector512<byte> packed) => packed & Vector512.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> HighNibbles(Vector512<byte> packed) => Avx512BW.ShiftRightLogical(packed.AsUInt16(),
                                                                                                    4).AsByte() & Vector512.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Crumbs(Vector512<byte> packed, [ConstantExpected(Min = 0, Max = 3)] byte k) => k switch
    {
        0 => packed & Vector512.Create((byte)3),
        1 => Avx512BW.ShiftRightLogical(packed.AsUInt16(), 2).AsByte() & Vector512.Create((byte)3),
        2 => Avx512BW.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & Vector512.Create((byte)3),
        _ => Avx512BW.ShiftRightLogical(packed.AsUInt16(), 6).AsByte() & Vector512.Create((byte)3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> ToSingle(Vector512<byte> lanes) => Avx512F.ConvertToVector512Single(lanes.AsInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> MultiplyAdd(Vector512<byte> a, Vector512<byte> b, Vector512<byte> c) =>
        Avx512F.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Multiply(Vector512<byte> a, Vector512<byte> b) => (a.AsSingle() * b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Add(Vector512<byte> a, Vector512<byte> b) => (a.AsSingle() + b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<byte> lanes) => Vector512.Sum(lanes.AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> LoadSingle(float* source) => Vector512.Load(source).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> LoadBytesAsSingle(byte* source) =>
        Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(source))).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> SpreadScales(float* scales, int groups) => (groups switch
    {
        1 => Vector512.Create(*scales),
        2 => Avx512F.PermuteVar16x32(Vector512.Create(*(double*)scales).AsSingle(), Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
        4 => Avx512F.PermuteVar16x32(Vector128.Load(scales).ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                                                                                      2, 3, 3, 3, 3)),
        _ => Avx512F.PermuteVar16x32(Vector256.Load(scales).ToVector512Unsafe(), Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)),
    }).AsByte();
}

/// <summary>AVX2: 32 bytes, 8 lanes, <c>vpmaddubsw</c> + <c>vpmaddwd</c>.</summary>
internal readonly unsafe struct Dot256 : IDotLanes<Vector256<byte>>
{
    public static bool IsSupported => Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported;
    public static KernelIsa Isa => KernelIsa.Avx2;
    public static int Bytes => 32;
    public static Vector256<byte> Zero => Vector256<byte>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(void* source) => Vector256.Load((byte*)source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> DotInt8(Vector256<byte> acc, Vector256<byte> weights, Vector256<byte> absWeights, Vector256<byte> codes)
    {
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(absWeights, Avx2.Sign(codes.AsSByte(), weights.AsSByte()));
        return (acc.AsInt32() + Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> AbsBytes(Vector256<byte> weights) => Avx2.Abs(weights.AsSByte());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Dot2(Vector256<byte> acc, Vector256<byte> u0, Vector256<byte> s0, Vector256<byte> u1, Vector256<byte> s1)
    {
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(u0, s0.AsSByte()) + Avx2.MultiplyAddAdjacent(u1, s1.AsSByte());
        return (acc.AsInt32() + Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Dot4(Vector256<byte> acc, Vector256<byte> u0, Vector256<byte> s0, Vector256<byte> u1, Vector256<byte> s1,
                                       Vector256<byte> u2, Vector256<byte> s2, Vector256<byte> u3, Vector256<byte> s3)
    {
        Vector256<short> pairs = (Avx2.MultiplyAddAdjacent(u0, s0.AsSByte()) + Avx2.MultiplyAddAdjacent(u1, s1.AsSByte()))
                               + (Avx2.MultiplyAddAdjacent(u2, s2.AsSByte()) + Avx2.MultiplyAddAdjacent(u3, s3.AsSByte()));
        return (acc.AsInt32() + Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LowNibbles(Vector256<byte> packed) => packed & Vector256.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighNibbles(Vector256<byte> packed) => Avx2.ShiftRightLogical(packed.AsUInt16(),
                                                                                                4).AsByte() & Vector256.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Crumbs(Vector256<byte> packed, [ConstantExpected(Min = 0, Max = 3)] byte k) => k switch
    {
        0 => packed & Vector256.Create((byte)3),
        1 => Avx2.ShiftRightLogical(packed.AsUInt16(), 2).AsByte() & Vector256.Create((byte)3),
        2 => Avx2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & Vector256.Create((byte)3),
        _ => Avx2.ShiftRightLogical(packed.AsUInt16(), 6).AsByte() & Vector256.Create((byte)3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ToSingle(Vector256<byte> lanes) => Avx.ConvertToVector256Single(lanes.AsInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> MultiplyAdd(Vector256<byte> a, Vector256<byte> b, Vector256<byte> c) =>
        Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Multiply(Vector256<byte> a, Vector256<byte> b) => (a.AsSingle() * b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Add(Vector256<byte> a, Vector256<byte> b) => (a.AsSingle() + b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<byte> lanes) => Vector256.Sum(lanes.AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LoadSingle(float* source) => Vector256.Load(source).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LoadBytesAsSingle(byte* source) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(source)).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SpreadScales(float* scales, int groups) => (groups switch
    {
        1 => Vector256.Create(*scales),
        2 => Avx2.PermuteVar8x32(Vector256.Create(*(double*)scales).AsSingle(), Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1)),
        _ => Avx2.PermuteVar8x32(Vector128.Load(scales).ToVector256Unsafe(), Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3)),
    }).AsByte();
}

/// <summary>
/// AVX-VNNI: 32 bytes, 8 lanes, <c>vpdpbusd</c> (one instruction per 32 multiply-adds, unsigned by signed bytes). Everything
/// else as <see cref="Dot256"/>.
/// </summary>
internal readonly unsafe struct Dot256Vnni : IDotLanes<Vector256<byte>>
{
    public static bool IsSupported => Dot256.IsSupported && AvxVnni.IsSupported;
    public static KernelIsa Isa => KernelIsa.AvxVnni;
    public static int Bytes => 32;
    public static Vector256<byte> Zero => Vector256<byte>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Load(void* source) => Vector256.Load((byte*)source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> DotInt8(Vector256<byte> acc, Vector256<byte> weights, Vector256<byte> absWeights, Vector256<byte> codes) =>
        AvxVnni.MultiplyWideningAndAdd(acc.AsInt32(), absWeights, Avx2.Sign(codes.AsSByte(), weights.AsSByte())).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> AbsBytes(Vector256<byte> weights) => Dot256.AbsBytes(weights);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Dot2(Vector256<byte> acc, Vector256<byte> u0, Vector256<byte> s0, Vector256<byte> u1, Vector256<byte> s1) =>
        AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(acc.AsInt32(), u0, s0.AsSByte()), u1, s1.AsSByte()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Dot4(Vector256<byte> acc, Vector256<byte> u0, Vector256<byte> s0, Vector256<byte> u1, Vector256<byte> s1,
                                       Vector256<byte> u2, Vector256<byte> s2, Vector256<byte> u3, Vector256<byte> s3)
    {
        Vector256<int> a = AvxVnni.MultiplyWideningAndAdd(acc.AsInt32(), u0, s0.AsSByte());
        a = AvxVnni.MultiplyWideningAndAdd(a, u1, s1.AsSByte());
        a = AvxVnni.MultiplyWideningAndAdd(a, u2, s2.AsSByte());
        return AvxVnni.MultiplyWideningAndAdd(a, u3, s3.AsSByte()).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LowNibbles(Vector256<byte> packed) => Dot256.LowNibbles(packed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighNibbles(Vector256<byte> packed) => Dot256.HighNibbles(packed);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Crumbs(Vector256<byte> packed, [ConstantExpected(Min = 0, Max = 3)] byte k) => Dot256.Crumbs(packed, k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> ToSingle(Vector256<byte> lanes) => Dot256.ToSingle(lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> MultiplyAdd(Vector256<byte> a, Vector256<byte> b, Vector256<byte> c) => Dot256.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Multiply(Vector256<byte> a, Vector256<byte> b) => Dot256.Multiply(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Add(Vector256<byte> a, Vector256<byte> b) => Dot256.Add(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<byte> lanes) => Dot256.Sum(lanes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LoadSingle(float* source) => Dot256.LoadSingle(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LoadBytesAsSingle(byte* source) => Dot256.LoadBytesAsSingle(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> SpreadScales(float* scales, int groups) => Dot256.SpreadScales(scales, groups);
}

/// <summary>
/// 128-bit: 16 bytes, 4 lanes. Arm64 <c>sdot</c> where the dot-product extension is present, else widening multiplies
/// and pairwise adds; x86 <c>pmaddubsw</c> + <c>pmaddwd</c> (SSSE3).
/// </summary>
internal readonly unsafe struct Dot128 : IDotLanes<Vector128<byte>>
{
    public static bool IsSupported => Vector128.IsHardwareAccelerated && (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported);
    public static KernelIsa Isa => KernelIsa.Vector128;
    public static int Bytes => 16;
    public static Vector128<byte> Zero => Vector128<byte>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load(void* source) => Vector128.Load((byte*)source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> DotInt8(Vector128<byte> acc, Vector128<byte> weights, Vector128<byte> absWeights, Vector128<byte> codes)
    {
        if (Dp.IsSupported) return Dp.DotProduct(acc.AsInt32(), weights.AsSByte(), codes.AsSByte()).AsByte();
        if (AdvSimd.Arm64.IsSupported) return (acc.AsInt32() + SignedProducts(weights.AsSByte(), codes.AsSByte())).AsByte();
        Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(absWeights, Ssse3.Sign(codes.AsSByte(), weights.AsSByte()));
        return (acc.AsInt32() + Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> AbsBytes(Vector128<byte> weights) => Ssse3.IsSupported ? Ssse3.Abs(weights.AsSByte())
        : weights; // Arm64 multiplies signed by signed

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Dot2(Vector128<byte> acc, Vector128<byte> u0, Vector128<byte> s0, Vector128<byte> u1, Vector128<byte> s1)
    {
        if (AdvSimd.Arm64.IsSupported) return DotInt8(DotInt8(acc, u0, u0, s0), u1, u1, s1); // codes 0..15 are valid signed bytes
        Vector128<short> pairs = Ssse3.MultiplyAddAdjacent(u0, s0.AsSByte()) + Ssse3.MultiplyAddAdjacent(u1, s1.AsSByte());
        return (acc.AsInt32() + Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1))).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Dot4(Vector128<byte> acc, Vector128<byte> u0, Vector128<byte> s0, Vector128<byte> u1, Vector128<byte> s1,
                                       Vector128<byte> u2, Vector128<byte> s2, Vector128<byte> u3, Vector128<byte> s3)
    {
        if (AdvSimd.Arm64.IsSupported) return DotInt8(DotInt8(DotInt8(DotInt8(acc, u0, u0, s0), u1, u1, s1), u2, u2, s2), u3, u3, s3);
        Vector128<short> pairs = (Ssse3.MultiplyAddAdjacent(u0, s0.AsSByte()) + Ssse3.MultiplyAddAdjacent(u1, s1.AsSByte()))
                               + (Ssse3.MultiplyAddAdjacent(u2, s2.AsSByte()) + Ssse3.MultiplyAddAdjacent(u3, s3.AsSByte()));
        return (acc.AsInt32() + Sse2.MultiplyAddAdjacent(pairs, Vector128.Create((short)1))).AsByte();
    }

    /// <summary>Arm64 without the dot-product extension: lane l = sum of the products of bytes 4l..4l+3, via 16-bit products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> SignedProducts(Vector128<sbyte> w, Vector128<sbyte> x)
    {
        Vector128<short> low = AdvSimd.MultiplyWideningLower(w.GetLower(), x.GetLower());     // products of bytes 0..7
        Vector128<short> high = AdvSimd.MultiplyWideningUpper(w, x);                          // products of bytes 8..15
        // Pairwise adds keep neighbours together: (0+1, 2+3, ...) then (0+1+2+3, ...).
        return AdvSimd.Arm64.AddPairwise(AdvSimd.AddPairwiseWidening(low), AdvSimd.AddPairwiseWidening(high));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LowNibbles(Vector128<byte> packed) => packed & Vector128.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> HighNibbles(Vector128<byte> packed) => Vector128.ShiftRightLogical(packed, 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Crumbs(Vector128<byte> packed, [ConstantExpected(Min = 0, Max = 3)] byte k) =>
        Vector128.ShiftRightLogical(packed, 2 * k) & Vector128.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ToSingle(Vector128<byte> lanes) => Vector128.ConvertToSingle(lanes.AsInt32()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> MultiplyAdd(Vector128<byte> a, Vector128<byte> b, Vector128<byte> c) =>
        Vector128.MultiplyAddEstimate(a.AsSingle(), b.AsSingle(), c.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Multiply(Vector128<byte> a, Vector128<byte> b) => (a.AsSingle() * b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Add(Vector128<byte> a, Vector128<byte> b) => (a.AsSingle() + b.AsSingle()).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<byte> lanes) => Vector128.Sum(lanes.AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LoadSingle(float* source) => Vector128.Load(source).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LoadBytesAsSingle(byte* source) =>
        Vector128.ConvertToSingle(Vector128.Create((int)source[0], source[1], source[2], source[3])).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> SpreadScales(float* scales, int groups) =>
        (groups == 1 ? Vector128.Create(*scales) : Vector128.Create(scales[0], scales[0], scales[1], scales[1])).AsByte();
}
