using System.Buffers.Binary;
using System.Text;
using LowBit.IO;
using LowBit.Tests.Infrastructure;

namespace LowBit.Tests.IO;

/// <summary>
/// The GGUF reader against a file written by llama.cpp's own gguf writer (Fixtures/make_gguf.c, ggml 0.25.1, with the
/// table ggml printed beside it), and against hostile files built byte by byte.
/// </summary>
public class GgufFileTests
{
    private static string Fixture(string name) => Path.Combine(Repository.Root, "tests", "LowBit.Tests", "IO", "Fixtures", name);

    [Test]
    public void GgmlWrittenFile_TensorsMatchGgmlsOwnTable()
    {
        using GgufFile file = GgufFile.Open(Fixture("ggml-written.gguf"));
        string[] table = File.ReadAllLines(Fixture("ggml-written.txt")).Skip(1).ToArray();  // line 1: ggml's data_offset before writing
        Assert.That(file.Version, Is.EqualTo(3));
        Assert.That(file.Alignment, Is.EqualTo(32));
        Assert.That(file.Tensors, Has.Count.EqualTo(table.Length));
        for (int i = 0; i < table.Length; i++)
        {
            // name, type id, ne0, ne1, offset, bytes
            string[] f = table[i].Split(' ');
            GgufTensorInfo t = file.Tensors[i];
            Assert.That(t.Name, Is.EqualTo(f[0]));
            Assert.That((int)t.Type, Is.EqualTo(int.Parse(f[1])), t.Name);
            Assert.That(t.Dimensions[0], Is.EqualTo(long.Parse(f[2])), t.Name);
            Assert.That(t.Dimensions.Length == 1 ? 1 : t.Dimensions[1], Is.EqualTo(long.Parse(f[3])), t.Name);
            Assert.That(t.Offset, Is.EqualTo(long.Parse(f[4])), t.Name);
            Assert.That(t.ByteLength, Is.EqualTo(long.Parse(f[5])), t.Name);
        }

        GgufTensorInfo last = file.Tensors[^1];
        long padding = new FileInfo(file.Path).Length - (file.DataOffset + last.Offset + last.ByteLength);
        Assert.That(padding, Is.InRange(0, 31), "ggml pads the data section to the alignment");
        Assert.That(file.DataOffset % 32, Is.Zero);
        GgufTensorInfo q8 = file.GetTensor("blk.0.attn_q.weight");
        Assert.That(q8.Type, Is.EqualTo(GgufType.Q8_0));
        Assert.That(q8.Shape, Is.EqualTo(new long[] { 4, 64 }), "row-major: 4 output rows of 64 inputs");
        Assert.That(q8.ElementCount, Is.EqualTo(256));
        Assert.That(file.GetBytes(q8).Length, Is.EqualTo(4 * 2 * 34));
    }

    [Test]
    public void GgmlWrittenFile_MetadataKeepsEveryType()
    {
        using GgufFile file = GgufFile.Open(Fixture("ggml-written.gguf"));
        IReadOnlyDictionary<string, object> m = file.Metadata;
        Assert.That(m["general.architecture"], Is.EqualTo("llama"));
        Assert.That(m["general.name"], Is.EqualTo("LowBit fixture \u001b[31mred\u001b[0m\nsecond line"));
        Assert.That(m["test.u8"], Is.EqualTo((byte)200));
        Assert.That(m["test.i8"], Is.EqualTo((sbyte)-100));
        Assert.That(m["test.u16"], Is.EqualTo((ushort)60000));
        Assert.That(m["test.i16"], Is.EqualTo((short)-30000));
        Assert.That(m["test.u32"], Is.EqualTo(4000000000u));
        Assert.That(m["test.i32"], Is.EqualTo(-2000000000));
        Assert.That(m["test.f32"], Is.EqualTo(0.15625f));
        Assert.That(m["test.u64"], Is.EqualTo(18000000000000000000ul));
        Assert.That(m["test.i64"], Is.EqualTo(-9000000000000000000L));
        Assert.That(m["test.f64"], Is.EqualTo(2.718281828459045));
        Assert.That(m["test.bool"], Is.EqualTo(true));
        Assert.That(m["test.i32_array"], Is.EqualTo(new[] { 1, -2, 3, -4, 5 }));
        Assert.That(m["tokenizer.ggml.tokens"], Is.EqualTo(new[] { "<s>", "</s>", "hello" }));
    }

    [Test]
    public void BuiltFile_WithAlignmentNestedArraysAndEveryTensorTypeSize_Opens()
    {
        var gguf = new GgufBuilder { Alignment = 64 };
        gguf.Metadata.Add(("nested", 9, GgufBuilder.Array(9, 2, GgufBuilder.Array(5, 1, GgufBuilder.U32(7)), GgufBuilder.Array(5, 0))));
        gguf.Tensors.Add(("a", [32, 2], (uint)GgufType.Q4_0, 0));
        gguf.Tensors.Add(("b", [256], (uint)GgufType.Q3_K, 64));
        using var folder = new TempFolder();
        using GgufFile file = GgufFile.Open(gguf.Write(folder.File("x.gguf"), dataBytes: 64 + 110));
        Assert.That(file.Alignment, Is.EqualTo(64));
        Assert.That(file.DataOffset % 64, Is.Zero);
        Assert.That(((Array[])file.Metadata["nested"])[0], Is.EqualTo(new[] { 7 }));
        Assert.That(file.GetTensor("b").ByteLength, Is.EqualTo(110));
    }

    private static IEnumerable<TestCaseData> Hostile()
    {
        yield return Case("bad magic", g => g.Magic = 0x12345678, "magic");
        yield return Case("version 1", g => g.Version = 1, "version 1");
        yield return Case("huge tensor count", g => g.TensorCountOverride = ulong.MaxValue, "tensor_count");
        yield return Case("huge kv count", g => g.KvCountOverride = 1UL << 40, "metadata_kv_count");
        yield return Case("string past the end", g => g.Metadata.Add(("k", 8, GgufBuilder.U64(1UL << 50))), "past the end");
        yield return Case("unknown value type", g => g.Metadata.Add(("k", 13, [])), "value type 13");
        yield return Case("array of 2^40 elements", g => g.Metadata.Add(("k", 9, [.. GgufBuilder.U32(4), .. GgufBuilder.U64(1UL << 40)])), "claims");
        yield return Case("bool 2", g => g.Metadata.Add(("k", 7, [2])), "bool");
        yield return Case("invalid UTF-8 key", g => g.Metadata.Add(("\udcff", 0, [1])), "UTF-8");
        yield return Case("duplicate key", g => { g.Metadata.Add(("k", 0, [1])); g.Metadata.Add(("k", 0, [2])); }, "twice");
        yield return Case("arrays nested too deep", g => g.Metadata.Add(("k", 9, GgufBuilder.Array(9, 1, GgufBuilder.Array(9, 1, GgufBuilder.Array(9,
            1, GgufBuilder.Array(5, 0)))))), "deeper");
        yield return Case("alignment 0", g => g.Metadata.Add(("general.alignment", 4, GgufBuilder.U32(0))), "alignment");
        yield return Case("alignment 48", g => g.Metadata.Add(("general.alignment", 4, GgufBuilder.U32(48))), "alignment");
        yield return Case("alignment as int32", g => g.Metadata.Add(("general.alignment", 5, GgufBuilder.U32(32))), "alignment");
        yield return Case("five dimensions", g => g.Tensors.Add(("t", [1, 1, 1, 1, 32], 0, 0)), "5 dimensions");
        yield return Case("dimensions overflow", g => g.Tensors.Add(("t", [1L << 40, 1L << 40], 0, 0)), "64-bit");
        yield return Case("removed type 31", g => g.Tensors.Add(("t", [32], 31, 0)), "ggml type 31");
        yield return Case("unknown type 99", g => g.Tensors.Add(("t", [32], 99, 0)), "ggml type 99");
        yield return Case("row not whole blocks", g => g.Tensors.Add(("t", [33], (uint)GgufType.Q8_0, 0)), "multiple of its block");
        yield return Case("misaligned offset", g => g.Tensors.Add(("t", [8], 0, 16)), "alignment");
        yield return Case("past the data", g => g.Tensors.Add(("t", [1024], 0, 0)), "past the end of the data");
        yield return Case("overlap", g => { g.Tensors.Add(("a", [16], 0, 0)); g.Tensors.Add(("b", [16], 0, 32)); }, "overlaps");
        yield return Case("duplicate tensor", g => { g.Tensors.Add(("a", [8], 0, 0)); g.Tensors.Add(("a", [8], 0, 32)); }, "twice");

        static TestCaseData Case(string name, Action<GgufBuilder> change, string expected) =>
            new TestCaseData(change, expected).SetName($"Hostile file: {name}");
    }

    [TestCaseSource(nameof(Hostile))]
    public void HostileFile_InvalidDataNamingTheField(Action<GgufBuilder> change, string expected)
    {
        var gguf = new GgufBuilder();
        change(gguf);
        using var folder = new TempFolder();
        string path = gguf.Write(folder.File("bad.gguf"), dataBytes: 128);
        var e = Assert.Throws<InvalidDataException>(() => GgufFile.Open(path).Dispose());
        Assert.That(e!.Message, Does.StartWith("Not a valid GGUF file: ").And.Contains(expected));
    }

    [Test]
    public void TruncatedAnywhere_OnlyEverInvalidData()
    {
        byte[] bytes = File.ReadAllBytes(Fixture("ggml-written.gguf"));
        using var folder = new TempFolder();
        string path = folder.File("cut.gguf");
        long end;
        using (GgufFile whole = GgufFile.Open(Fixture("ggml-written.gguf")))
        {
            end = whole.DataOffset + whole.Tensors.Max(t => t.Offset + t.ByteLength);
        }

        for (int length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(path, bytes[..length]);
            if (length < end) Assert.Throws<InvalidDataException>(() => GgufFile.Open(path).Dispose(), $"cut at {length}");
            else Assert.DoesNotThrow(() => GgufFile.Open(path).Dispose(), $"cut at {length}: only the trailing padding is missing");
        }
    }

    [Test]
    public void MutatedBytes_OpenOrInvalidData_NeverAnythingElse()
    {
        byte[] original = File.ReadAllBytes(Fixture("ggml-written.gguf"));
        using var folder = new TempFolder();
        string path = folder.File("mutated.gguf");
        var random = new Random(7);
        using (GgufFile whole = GgufFile.Open(Fixture("ggml-written.gguf")))
        {
            int header = (int)whole.DataOffset;
            for (int round = 0; round < 400; round++)
            {
                byte[] bytes = (byte[])original.Clone();
                for (int k = random.Next(1, 4); k > 0; k--) bytes[random.Next(header)] = (byte)random.Next(256);
                File.WriteAllBytes(path, bytes);
                try
                {
                    using GgufFile file = GgufFile.Open(path);
                    foreach (GgufTensorInfo t in file.Tensors) Assert.That(file.GetBytes(t).Length, Is.EqualTo(t.ByteLength));
                }
                catch (InvalidDataException)
                {
                }
            }
        }
    }

    /// <summary>ggml's own dequantization of every fixture tensor (its to_float), in file order.</summary>
    internal static Dictionary<string, float[]> GgmlDequantized(GgufFile file)
    {
        byte[] bytes = File.ReadAllBytes(Fixture("ggml-dequantized.bin"));
        var values = new Dictionary<string, float[]>();
        int at = 0;
        foreach (GgufTensorInfo t in file.Tensors)
        {
            values[t.Name] = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan(at, (int)t.ElementCount * 4)).ToArray();
            at += (int)t.ElementCount * 4;
        }

        Assert.That(at, Is.EqualTo(bytes.Length));
        return values;
    }

    [TestCase("blk.0.attn_q", 8, 32, 64, false)]          // Q8_0
    [TestCase("blk.0.ffn_up.weight", 4, 32, 64, false)]   // Q4_0, by the tensor's name
    [TestCase("blk.0.ffn_gate", 4, 32, 64, true)]         // Q4_1: offset -m
    [TestCase("blk.1.attn_q", 8, 32, 64, false)]          // Q5_0, widened to 8 bits
    [TestCase("blk.1.attn_v", 8, 32, 64, true)]           // Q5_1, widened to 8 bits, offset -m
    [TestCase("blk.0.ffn_down", 2, 16, 256, true)]        // Q2_K: group 16, scale d sc, offset dmin m
    [TestCase("blk.1.attn_k", 4, 16, 256, false)]         // Q3_K, widened to 4 bits, group 16
    [TestCase("blk.0.attn_k", 4, 32, 256, true)]          // Q4_K: scale d sc, offset dmin m
    [TestCase("blk.1.ffn_up", 8, 32, 256, true)]          // Q5_K, widened to 8 bits
    [TestCase("blk.0.attn_v", 8, 16, 256, false)]         // Q6_K, widened to 8 bits, group 16
    public void LoadLowBitLinear_DequantizesToGgmlsValuesBitForBit_AndForwardAgrees(string name, int bits, int groupSize, int n, bool offsets)
    {
        using GgufFile file = GgufFile.Open(Fixture("ggml-written.gguf"));
        float[] expected = GgmlDequantized(file)[name.EndsWith(".weight") ? name : name + ".weight"];
        LowBitLinear<float> layer = file.LoadLowBitLinear<float>(name);
        Assert.That(layer.Bits, Is.EqualTo(bits));
        Assert.That(layer.GroupSize, Is.EqualTo(groupSize));
        Assert.That(layer.InFeatures, Is.EqualTo(n));
        Assert.That(layer.HasOffsets, Is.EqualTo(offsets));
        var actual = new float[layer.OutFeatures * layer.InFeatures];
        layer.Dequantize(actual);
        Assert.That(actual, Is.EqualTo(expected), "bit for bit");

        if (n == 64)
        {
            // The 32-weight blocks have f16 scales and minimums: Half holds them exactly too.
            LowBitLinear<Half> half = file.LoadLowBitLinear<Half>(name);
            var halves = new Half[actual.Length];
            half.Dequantize(halves);
            Assert.That(halves, Is.EqualTo(expected.Select(v => (Half)v).ToArray()), "Half: ggml's value rounded once");
        }

        var random = new Random(3);
        float[] x = Enumerable.Range(0, 2 * n).Select(_ => random.NextSingle() * 2 - 1).ToArray();
        float[] y = layer.Forward(x);
        for (int b = 0; b < 2; b++)
        {
            for (int o = 0; o < layer.OutFeatures; o++)
            {
                double sum = 0, magnitude = 0;
                for (int i = 0; i < n; i++)
                {
                    sum += (double)x[b * n + i] * expected[o * n + i];
                    magnitude += Math.Abs((double)x[b * n + i] * expected[o * n + i]);
                }

                Assert.That(y[b * layer.OutFeatures + o], Is.EqualTo(sum).Within(1e-5 * magnitude + 1e-6), $"row {b}, output {o}");
            }
        }
    }

    [Test]
    public void LoadLowBitLinear_RefusesWhatItCannotHoldExactly()
    {
        using GgufFile file = GgufFile.Open(Fixture("ggml-written.gguf"));
        Assert.That(() => file.LoadLowBitLinear<float>("blk.0.attn_output"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("BF16"));
        Assert.That(() => file.LoadLowBitLinear<Half>("blk.0.attn_k"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("only float"));
        Assert.That(() => file.LoadLowBitLinear<Half>("blk.0.ffn_down"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("only float"));
        Assert.That(() => file.LoadLowBitLinear<BFloat16>("blk.0.attn_q"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("BFloat16"));
        Assert.That(() => file.LoadLowBitLinear<Half>("blk.0.attn_v"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("only float"));
        Assert.That(() => file.LoadLowBitLinear<Half>("blk.1.attn_k"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("only float"));
        Assert.That(() => file.LoadLowBitLinear<float>("blk.9.nothing"), Throws.TypeOf<KeyNotFoundException>());
        Assert.That(() => file.LoadLowBitLinear<float>("output_norm"), Throws.TypeOf<NotSupportedException>().With.Message.Contains("F32"));
    }

    [Test]
    public void GetBytes_RefusesForeignTensorsAndDisposedFiles()
    {
        GgufFile file = GgufFile.Open(Fixture("ggml-written.gguf"));
        GgufTensorInfo mine = file.Tensors[0];
        using (GgufFile other = GgufFile.Open(Fixture("ggml-written.gguf")))
        {
            Assert.That(() => other.GetBytes(mine), Throws.ArgumentException.With.Message.Contains("does not belong"));
        }

        file.Dispose();
        Assert.That(() => file.GetBytes(mine), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public void IsGguf_TellsByTheMagic()
    {
        using var folder = new TempFolder();
        File.WriteAllBytes(folder.File("a"), "GGUF"u8.ToArray());
        File.WriteAllBytes(folder.File("b"), "{\"a\""u8.ToArray());
        Assert.That(GgufFile.IsGguf(folder.File("a")), Is.True);
        Assert.That(GgufFile.IsGguf(folder.File("b")), Is.False);
        Assert.That(GgufFile.IsGguf(Fixture("ggml-written.gguf")), Is.True);
    }
}

/// <summary>Writes GGUF files byte by byte from the format's definition, with knobs to break each field.</summary>
public sealed class GgufBuilder
{
    public uint Magic { get; set; } = 0x46554747;
    public uint Version { get; set; } = 3;
    public ulong? TensorCountOverride { get; set; }
    public ulong? KvCountOverride { get; set; }
    public uint? Alignment { get; set; }

    /// <summary>Key, GGUF value type, the value's bytes.</summary>
    public List<(string Key, uint Type, byte[] Value)> Metadata { get; } = [];

    /// <summary>Name, ne (contiguous first), ggml type id, offset.</summary>
    public List<(string Name, long[] Dimensions, uint Type, ulong Offset)> Tensors { get; } = [];

    public static byte[] U32(uint v) => BitConverter.GetBytes(v);

    public static byte[] U64(ulong v) => BitConverter.GetBytes(v);

    /// <summary>An array value: element type, count, then the elements' bytes.</summary>
    public static byte[] Array(uint elementType, ulong count, params byte[][] elements) =>
        [.. U32(elementType), .. U64(count), .. elements.SelectMany(e => e)];

    public string Write(string path, int dataBytes)
    {
        var bytes = new List<byte>();
        bytes.AddRange(U32(Magic));
        bytes.AddRange(U32(Version));
        var metadata = Metadata.ToList();
        if (Alignment is uint a) metadata.Insert(0, ("general.alignment", 4, U32(a)));
        bytes.AddRange(U64(TensorCountOverride ?? (ulong)Tensors.Count));
        bytes.AddRange(U64(KvCountOverride ?? (ulong)metadata.Count));
        foreach (var (key, type, value) in metadata)
        {
            byte[] k = Encoding.UTF8.GetBytes(key);
            if (key == "\udcff") k = [0xff, 0xfe];
            bytes.AddRange(U64((ulong)k.Length));
            bytes.AddRange(k);
            bytes.AddRange(U32(type));
            bytes.AddRange(value);
        }

        foreach (var (name, dimensions, type, offset) in Tensors)
        {
            byte[] n = Encoding.UTF8.GetBytes(name);
            bytes.AddRange(U64((ulong)n.Length));
            bytes.AddRange(n);
            bytes.AddRange(U32((uint)dimensions.Length));
            foreach (long d in dimensions) bytes.AddRange(U64((ulong)d));
            bytes.AddRange(U32(type));
            bytes.AddRange(U64(offset));
        }

        int alignment = (int)(Alignment ?? 32);
        while (bytes.Count % alignment != 0) bytes.Add(0);
        bytes.AddRange(new byte[dataBytes]);
        File.WriteAllBytes(path, bytes.ToArray());
        return path;
    }
}
