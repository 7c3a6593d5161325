namespace LowBit.Tests.Infrastructure;

/// <summary>Files of the repository the tests check against the code (README, sources).</summary>
internal static class Repository
{
    /// <summary>The folder holding LowBit.sln, found above the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The text of a file, by its path from the repository root.</summary>
    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    private static string FindRoot()
    {
        string? folder = AppContext.BaseDirectory;
        while (folder is not null && !File.Exists(Path.Combine(folder, "LowBit.sln"))) folder = Path.GetDirectoryName(folder);
        return folder ?? throw new DirectoryNotFoundException("Repository root (LowBit.sln) not found above the test assembly.");
    }
}
