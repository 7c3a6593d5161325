using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

// Examples:
//   dotnet run -c Release --project benchmarks/LowBit.Benchmarks -- --filter '*Packing*'
//   dotnet run -c Release --project benchmarks/LowBit.Benchmarks -- --filter '*W8A16*' --job short
IEnumerable<Summary> summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

// A non-zero exit code when any benchmark failed to build or run, so `.ci/run`'s smoke test can tell.
bool failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
return failed ? 1 : 0;
