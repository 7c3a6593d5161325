namespace LowBit;

/// <summary>How a <see cref="DenseLinear{T}"/> stores its full-precision weights.</summary>
public enum DenseType
{
    /// <summary>IEEE float32: 4 bytes a weight.</summary>
    Float32 = 0,

    /// <summary>IEEE half precision (<see cref="Half"/>): 2 bytes a weight.</summary>
    Float16 = 1,

    /// <summary><see cref="BFloat16"/>: 2 bytes a weight.</summary>
    BFloat16 = 2,
}
