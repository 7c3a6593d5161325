using System.Diagnostics;
using NUnit.Framework.Api;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

// Runs the tests of this assembly (the LowBit.Tests sources) and ends with the summary line `dotnet test` prints,
// "Passed!  - Failed: N, Passed: N, Skipped: N, Total: N", so .ci/run counts both the same way. Exit code 1 on any failure.
// Arguments: none for every test, or parts of full test names (any matches), e.g. "Int8Activation" "Int8ActivationMatMul";
// a part after '!' leaves out the tests that contain it ("!LowBit.Tests.Models").
var stopwatch = Stopwatch.StartNew();
var runner = new NUnitTestAssemblyRunner(new DefaultTestAssemblyBuilder());
runner.Load(typeof(FailureReporter).Assembly, new Dictionary<string, object>());
ITestResult result = runner.Run(new FailureReporter(), args.Length == 0 ? TestFilter.Empty : new NameFilter(args));
int failed = result.FailCount + result.InconclusiveCount;
// The listener's events may still be queued when Run returns: print every failure from the result tree as well.
FailureReporter.PrintFailures(result);
Console.WriteLine(
    $"{(failed == 0 ? "Passed!" : "Failed!")}  - Failed: {failed,5}, Passed: {result.PassCount,5}, Skipped: {result.SkipCount,5}, " +
    $"Total: {result.TotalCount,5}, Duration: {stopwatch.Elapsed.TotalSeconds:0} s - " +
        $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}");
return failed == 0 ? 0 : 1;

/// <summary>Prints a dot per hundred finished tests, and at the end each failing test with its message and stack trace.</summary>
internal sealed class FailureReporter : ITestListener
{
    private int _finished;

    public void TestStarted(ITest test)
    {
    }

    public void TestFinished(ITestResult result)
    {
        if (!result.Test.IsSuite && ++_finished % 100 == 0) Console.Error.Write('.');
    }

    /// <summary>Each failed or inconclusive test of the tree with its message and stack trace.</summary>
    public static void PrintFailures(ITestResult result)
    {
        if (result.HasChildren)
        {
            foreach (ITestResult child in result.Children) PrintFailures(child);
            return;
        }

        if (result.ResultState.Status is TestStatus.Failed or TestStatus.Inconclusive)
        {
            Console.WriteLine($"  Failed {result.FullName}");
            Console.WriteLine($"    {result.Message}");
            Console.WriteLine($"    {result.StackTrace}");
        }
    }

    public void TestOutput(TestOutput output)
    {
    }

    public void SendMessage(TestMessage message)
    {
    }
}

/// <summary>Tests whose full name contains any of the given parts (all, when every part is an exclusion), and none of the '!' parts.</summary>
internal sealed class NameFilter(string[] parts) : TestFilter
{
    private readonly string[] _include = parts.Where(p => !p.StartsWith('!')).ToArray();
    private readonly string[] _exclude = parts.Where(p => p.StartsWith('!')).Select(p => p[1..]).ToArray();

    public override bool Match(ITest test) =>
        !test.IsSuite && (_include.Length == 0 || _include.Any(part => test.FullName.Contains(part, StringComparison.Ordinal)))
        && !_exclude.Any(part => test.FullName.Contains(part, StringComparison.Ordinal));

    public override TNode AddToXml(TNode parentNode, bool recursive) => parentNode.AddElement("test", string.Join(" ", parts));
}
