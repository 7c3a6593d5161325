using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using LowBit;
using LowBit.IO;

namespace LowBit.Tests.IO;

public class SafeTensorsTests
{
    /// <summary>A file built by hand from the format's definition: u64 LE header length, JSON, raw data.</summary>
    private static byte[] HandWritten(string json, byte[] data)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    private static byte[] Bytes<T>(params T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Test]
    public void Reader_HandWrittenFile_ListsTensorsMetadataAndData()
    {
        using var folder = new TempFolder();
        byte[] data = [.. Bytes(1.5f, -2f, 3.25f), .. Bytes((sbyte)-7, (sbyte)9), .. Bytes(BFloat16.One, (BFloat16)(-0.5f)), .. Bytes(1L)];
        string json = """
            {"b":{"dtype":"I8","shape":[2],"data_offsets":[12,14]},
             "__metadata__":{"format":"pt","note":"hand made"},
             "a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},
             "c":{"dtype":"BF16","shape":[1,2],"data_offsets":[14,18]},
             "d":{"dtype":"I64","shape":[],"data_offsets":[18,26]}}
            """;
        File.WriteAllBytes(folder.File("hand.safetensors"), HandWritten(json, data));

        using SafeTensorsFile file = SafeTensorsFile.Open(folder.File("hand.safetensors"));
        Assert.That(file.Tensors.Select(t => t.Name), Is.EqualTo(new[] { "a", "b", "c", "d" }), "sorted by data offset");
        Assert.That(file.Metadata, Is.EquivalentTo(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "hand made" }));
        Assert.That(file.GetSpan<float>("a").ToArray(), Is.EqualTo(new[] { 1.5f, -2f, 3.25f }));
        Assert.That(file.GetSpan<sbyte>("b").ToArray(), Is.EqualTo(new sbyte[] { -7, 9 }));
        Assert.That(file.GetSpan<BFloat16>("c").ToArray().Select(v => (float)v), Is.EqualTo(new[] { 1f, -0.5f }));
        Assert.That(file.GetTensor("c").Shape, Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(file.GetTensor("d").ElementCount, Is.EqualTo(1));
        Assert.That(file.ToArray<long>("d"), Is.EqualTo(new[] { 1L }));
        Assert.Throws<InvalidOperationException>(() => file.GetSpan<Half>("a"));
        Assert.Throws<KeyNotFoundException>(() => file.GetTensor("zzz"));
    }

    [Test]
    public void Writer_ProducesTheFormatByteForByte()
    {
        using var folder = new TempFolder();
        string path = folder.File("w.safetensors");
        SafeTensorsWriter.WriteAll(path, [SafeTensorData.Create("x", new float[] { 1f, 2f }, 2), SafeTensorData.Create("y", new byte[] { 5 }, 1)],
            new Dictionary<string, string> { ["k"] = "v" });
        byte[] bytes = File.ReadAllBytes(path);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        string json = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
        Assert.That((8 + headerLength) % 8, Is.Zero, "data section is 8-byte aligned");
        Assert.That(json.TrimEnd(' '), Is.EqualTo(
            """{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},""" +
            "\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}"));
        Assert.That(bytes.AsSpan(8 + (int)headerLength).ToArray(), Is.EqualTo(Bytes(1f, 2f).Concat(new byte[] { 5 }).ToArray()));
    }

    [Test]
    public void RoundTrip_AllDTypes()
    {
        using var folder = new TempFolder();
        string path = folder.File("rt.safetensors");
        var tensors = new List<SafeTensorData>
        {
            SafeTensorData.Create("f32", new[] { 1f, -2f, 3f, 4f, 5f, 6f }, 2, 3),
            SafeTensorData.Create("f16", new[] { (Half)1.5, (Half)(-3) }, 2),
            SafeTensorData.Create("bf16", new[] { (BFloat16)2f }, 1),
            SafeTensorData.Create("i8", new sbyte[] { -127, 0, 127 }, 3),
            SafeTensorData.Create("u8", new byte[] { 255 }, 1),
            SafeTensorData.Create("i16", new short[] { -5 }, 1),
            SafeTensorData.Create("i32", new[] { 123456 }, 1),
            SafeTensorData.Create("i64", new[] { long.MinValue }, 1),
            SafeTensorData.Create("f64", new[] { Math.PI }, 1),
            SafeTensorData.Create("bool", new[] { true, false }, 2),
            SafeTensorData.Create("empty", Array.Empty<float>(), 0, 4),
        };
        SafeTensorsWriter.WriteAll(path, tensors);
        using SafeTensorsFile file = SafeTensorsFile.Open(path);
        foreach (SafeTensorData expected in tensors)
        {
            SafeTensorInfo actual = file.GetTensor(expected.Spec.Name);
            Assert.That(actual.DType, Is.EqualTo(expected.Spec.DType));
            Assert.That(actual.Shape, Is.EqualTo(expected.Spec.Shape));
            Assert.That(file.GetBytes(actual).ToArray(), Is.EqualTo(expected.Data.ToArray()), expected.Spec.Name);
        }

        Assert.That(file.Metadata, Is.Empty);
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [TestCase("{" + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", TestName = "Malformed JSON")]
    [TestCase("[1,2]", TestName = "Header is not an object")]
    [TestCase("{\"a\":{\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]}}", TestName = "Unknown dtype")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", TestName = "Shape does not match offsets")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", TestName = "Offsets past the data")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              TestName = "Overlapping data")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", TestName = "Gap before data")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", TestName = "Offsets end before they begin")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              TestName = "Duplicate names")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"dtype\":\"I32\",\"data_offsets\":[0,8]}}", TestName = "Duplicate dtype in a tensor")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[1,2],\"data_offsets\":[0,8]}}", TestName = "Duplicate shape in a tensor")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4],\"data_offsets\":[0,8]}}",
              TestName = "Duplicate data_offsets in a tensor")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", TestName = "Negative dimension")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", TestName = "Shape overflows")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", TestName = "Missing offsets")]
    [TestCase("{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
              TestName = "Metadata value not a string")]
    [TestCase("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", TestName = "Trailing garbage")]
    public void Reader_RejectsInvalidHeaders(string json)
    {
        using var folder = new TempFolder();
        string path = folder.File("bad.safetensors");
        File.WriteAllBytes(path, HandWritten(json, new byte[8]));
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.That(ex!.Message, Is.Not.Empty);
    }

    [Test]
    public void Reader_RejectsBadLengths()
    {
        using var folder = new TempFolder();
        string path = folder.File("len.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));

        byte[] file = HandWritten("{}", []);
        BinaryPrimitives.WriteUInt64LittleEndian(file, 1000);
        File.WriteAllBytes(path, file);
        Assert.That(() => SafeTensorsFile.Open(path), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("larger than"));

        BinaryPrimitives.WriteUInt64LittleEndian(file, 200UL * 1024 * 1024);
        File.WriteAllBytes(path, file);
        Assert.That(() => SafeTensorsFile.Open(path), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("limit"));

        Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(folder.File("missing.safetensors")));
    }

    [Test]
    public void Reader_MutatedFiles_OnlyEverThrowInvalidData()
    {
        using var folder = new TempFolder();
        string valid = folder.File("valid.safetensors");
        SafeTensorsWriter.WriteAll(valid,
        [
            SafeTensorData.Create("layer.weight", Enumerable.Range(0, 24).Select(i => (BFloat16)(i * 0.25f)).ToArray(), 4, 6),
            SafeTensorData.Create("layer.bias", new[] { 1f, 2f, 3f, 4f }, 4),
            SafeTensorData.Create("ids", new long[] { 7, 8 }, 2),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        byte[] original = File.ReadAllBytes(valid);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        var random = new Random(20261125);
        string path = folder.File("mutant.safetensors");
        int opened = 0, rejected = 0;
        for (int iteration = 0; iteration < 3000; iteration++)
        {
            byte[] mutant;
            switch (iteration % 4)
            {
                case 0:
                    mutant = original[..random.Next(0, original.Length)];
                    break;
                case 1:
                    mutant = (byte[])original.Clone();
                    mutant[random.Next(0, 8)] = (byte)random.Next(256);
                    break;
                default:
                    mutant = (byte[])original.Clone();
                    for (int k = random.Next(1, 4); k > 0; k--)
                    {
                        int at = random.Next(8, headerEnd);
                        mutant[at] = random.Next(2) == 0 ? (byte)(mutant[at] ^ (1 << random.Next(8)))
                            : (byte)"0123456789[]{},:\"-e."[random.Next(20)];
                    }

                    break;
            }

            File.WriteAllBytes(path, mutant);
            try
            {
                using SafeTensorsFile file = SafeTensorsFile.Open(path);
                foreach (SafeTensorInfo tensor in file.Tensors) _ = file.GetBytes(tensor).ToArray();
                opened++;
            }
            catch (InvalidDataException)
            {
                rejected++;
            }
        }

        Assert.That(rejected, Is.GreaterThan(1000), "most mutations must be caught");
        Assert.That(opened + rejected, Is.EqualTo(3000));
    }

    [Test]
    public void Writer_Abandoned_LeavesTargetUntouchedAndNoTempFiles()
    {
        using var folder = new TempFolder();
        string path = folder.File("target.safetensors");
        File.WriteAllText(path, "precious");
        using (SafeTensorsWriter writer = SafeTensorsWriter.Create(path, [new SafeTensorSpec("x", SafeTensorDType.F32, [4])]))
        {
            writer.Append(new byte[8]);
            Assert.Throws<InvalidOperationException>(writer.Commit);
        }

        Assert.That(File.ReadAllText(path), Is.EqualTo("precious"));
        Assert.That(Directory.GetFiles(folder.Path), Has.Length.EqualTo(1));
    }

    [Test]
    public void Writer_ValidationErrors()
    {
        using var folder = new TempFolder();
        string path = folder.File("v.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Create(path, [new("a", SafeTensorDType.F32, [1]), new("a", SafeTensorDType.F32,
                                                                                                                       [1])]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Create(path, [new("__metadata__", SafeTensorDType.F32, [1])]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Create(path, [new("a", SafeTensorDType.F32, [-1])]));
        using (SafeTensorsWriter writer = SafeTensorsWriter.Create(path, [new("a", SafeTensorDType.F32, [1])]))
        {
            Assert.Throws<ArgumentException>(() => writer.Append(new byte[5]));
        }

        Assert.That(File.Exists(path), Is.False);
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.WriteAll(path, [new SafeTensorData(new("a", SafeTensorDType.F32, [2]),
                                                                                                    new byte[4])]));
        Assert.That(Directory.GetFiles(folder.Path), Is.Empty);
    }
}
