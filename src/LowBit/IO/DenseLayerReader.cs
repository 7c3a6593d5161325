using LowBit.Internal;

namespace LowBit.IO;

/// <summary>Full-precision 2-D tensors as <see cref="DenseLinear{T}"/> layers: what every checkpoint reader shares.</summary>
internal static class DenseLayerReader
{
    /// <summary>True when <c>&lt;prefix&gt;.weight</c> is a 2-D F32, F16 or BF16 tensor of <paramref name="file"/>.</summary>
    public static bool IsDense(SafeTensorsFile file, string prefix) =>
        file.TryGetTensor(prefix + ".weight", out SafeTensorInfo? weight) && weight.Shape.Count == 2
        && weight.DType is SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16;

    /// <summary>Prefixes of the 2-D float <c>.weight</c> tensors of <paramref name="file"/>, in file order.</summary>
    public static IEnumerable<string> Prefixes(SafeTensorsFile file) =>
        file.Tensors.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)).Select(t => t.Name[..^".weight".Length])
            .Where(prefix => IsDense(file, prefix));

    /// <summary>The layer of <c>&lt;prefix&gt;.weight</c> (a copy, in its stored type), with <c>&lt;prefix&gt;.bias</c> when present.</summary>
    public static DenseLinear<T> Load<T>(SafeTensorsFile file, string prefix)
    {
        Elements<T>.EnsureSupported();
        SafeTensorInfo weight = file.GetTensor(prefix + ".weight");
        if (weight.Shape.Count != 2 || weight.Shape[0] > int.MaxValue || weight.Shape[1] > int.MaxValue || weight.ElementCount > Array.MaxLength)
        {
            throw new InvalidDataException($"'{weight.Name}' {weight.ShapeText} is not a 2-D weight a layer can hold.");
        }

        int outFeatures = (int)weight.Shape[0], inFeatures = (int)weight.Shape[1];
        T[] bias = [];
        if (file.TryGetTensor(prefix + ".bias", out SafeTensorInfo? biasTensor))
        {
            if (biasTensor.ElementCount != outFeatures) throw new InvalidDataException($"'{biasTensor.Name}' has {biasTensor.ElementCount} values; " +
                $"the layer needs {outFeatures}.");
            bias = file.ReadFloats<T>(biasTensor, outFeatures);
        }

        return weight.DType switch
        {
            SafeTensorDType.F32 => DenseLinear<T>.FromWeights(file.GetSpan<float>(weight.Name), outFeatures, inFeatures, bias),
            SafeTensorDType.F16 => DenseLinear<T>.FromHalf(file.GetSpan<Half>(weight.Name), outFeatures, inFeatures, bias),
            SafeTensorDType.BF16 => DenseLinear<T>.FromBFloat16(file.GetSpan<BFloat16>(weight.Name), outFeatures, inFeatures, bias),
            _ => throw new InvalidDataException($"'{weight.Name}' is {weight.DType}; a dense layer needs F32, F16 or BF16."),
        };
    }
}
