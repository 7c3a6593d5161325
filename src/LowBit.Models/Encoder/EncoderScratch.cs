namespace LowBit.Models;

/// <summary>One Embed call's working memory, pooled by the model so calls after the first allocate nothing for it.</summary>
internal sealed class EncoderScratch
{
    private int[][] _tokens = [];
    private int[] _order = [];

    public float[] X { get; private set; } = [];
    public float[] Q { get; private set; } = [];
    public float[] K { get; private set; } = [];
    public float[] V { get; private set; } = [];
    public float[] Context { get; private set; } = [];
    public float[] Hidden { get; private set; } = [];
    public float[] Stacked { get; private set; } = [];   // the stacked q | k | v output (SharedInputLayers)
    public int[] Starts { get; private set; } = [];

    public int[][] Tokens(int count)
    {
        if (_tokens.Length < count) _tokens = new int[count][];
        return _tokens;
    }

    public int[] Order(int count)
    {
        if (_order.Length < count) _order = new int[count];
        for (int i = 0; i < count; i++) _order[i] = i;
        return _order;
    }

    public void Ensure(int rows, int hidden, int intermediate, int texts)
    {
        if (X.Length < rows * hidden)
        {
            int grown = Math.Max(rows, X.Length / Math.Max(hidden, 1) * 2);
            X = new float[grown * hidden];
            Q = new float[grown * hidden];
            K = new float[grown * hidden];
            V = new float[grown * hidden];
            Context = new float[grown * hidden];
            Hidden = new float[grown * intermediate];
            Stacked = new float[grown * 3 * hidden];
        }

        if (Starts.Length < texts + 1) Starts = new int[Math.Max(texts + 1, 2 * Starts.Length)];
    }
}
