using LowBit;
using LowBit.IO;

namespace LowBit.Tests;

/// <summary>
/// Sizes that overflow: every public entry point answers with an <see cref="ArgumentException"/> naming the caller's own
/// parameter, never an <see cref="OverflowException"/>, a wrapped size accepted as valid, or a message about a
/// parameter the caller never passed.
/// </summary>
public class OverflowValidationTests
{
    [Test]
    public void SafeTensorsWriter_OverflowingShape_ThrowsArgumentExceptionNamingTensors()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lowbit-overflow-{Guid.NewGuid():N}.safetensors");
        var specs = new[] { new SafeTensorSpec("a", SafeTensorDType.F32, [1L << 62, 4]) };
        var ex = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Create(path, specs).Dispose());
        Assert.That(ex!.ParamName, Is.EqualTo("tensors"));
        Assert.That(File.Exists(path), Is.False);
        Assert.That(Directory.GetFiles(Path.GetTempPath(), $".{Path.GetFileName(path)}*"), Is.Empty, "temporary file left behind");
    }

    [Test]
    public void SafeTensorData_ShapeWhoseProductWraps_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => SafeTensorData.Create("a", new float[0], 1L << 62, 4));
        Assert.That(ex!.ParamName, Is.EqualTo("shape"));
        Assert.That(() => SafeTensorData.Create("a", new float[6], 2, 3), Throws.Nothing);
    }

    [Test]
    public void LayerForwardIntoNewArray_OutputLargerThanAnArray_ThrowsNamingInput()
    {
        var lowBit = LowBitLinear<float>.FromWeights(new float[65536 * 8], 65536, 8, 4, 8);
        var int8 = W8A16Linear<float>.FromWeights(new float[65536 * 8], 65536, 8);
        float[] input = new float[8 * 40000];   // 40000 rows x 65536 outputs = 2.6 billion elements
        Assert.That(Assert.Throws<ArgumentException>(() => lowBit.Forward(input))!.ParamName, Is.EqualTo("input"));
        Assert.That(Assert.Throws<ArgumentException>(() => int8.Forward(input))!.ParamName, Is.EqualTo("input"));
    }

    [Test]
    public void BitPackingUnpack_ShortPackedInput_NamesTheInput()
    {
        var ex = Assert.Throws<ArgumentException>(() => BitPacking.Unpack(new byte[1], 2, 8));
        Assert.That(ex!.ParamName, Is.EqualTo("packed"));
        Assert.That(ex.Message, Does.StartWith("Input is too short"));
        ex = Assert.Throws<ArgumentException>(() => BitPacking.Unpack(new byte[1], 4, new byte[5]));
        Assert.That(ex!.ParamName, Is.EqualTo("packed"));
        Assert.That(ex.Message, Does.Not.Contain("Destination"));
    }
}
