using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace LowBit.Benchmarks.Infrastructure;

/// <summary>
/// A column that divides the work one call does (bytes, weights, flops; computed from the
/// benchmark's parameters) by its mean time, shown in G units per second.
/// </summary>
public sealed class ThroughputColumn(string name, Func<BenchmarkCase, double> unitsPerCall) : IColumn
{
    public string Id => nameof(ThroughputColumn) + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => $"{name}: work per call divided by the mean time, in G units per second";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats) return "-";
        double units = unitsPerCall(benchmarkCase);
        return (units / stats.Mean).ToString("0.00"); // units per ns == G units per s
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    /// <summary>Reads an integer [Params] value of the benchmark case.</summary>
    public static int Param(BenchmarkCase benchmarkCase, string paramName) =>
        Convert.ToInt32(benchmarkCase.Parameters[paramName]);
}
