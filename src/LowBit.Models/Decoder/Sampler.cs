namespace LowBit.Models;

/// <summary>
/// Picks the next token from a row of logits: greedy at temperature 0, else top-k, top-p, then temperature and a draw
/// from the seeded generator. Holds its scratch, so a step allocates nothing.
/// </summary>
internal sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;
    private readonly int[] _order;
    private readonly float[] _probabilities;

    public Sampler(GenerationOptions options, int vocabularySize)
    {
        _options = options;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
        _order = new int[vocabularySize];
        _probabilities = new float[vocabularySize];
    }

    public int Next(ReadOnlySpan<float> logits)
    {
        if (_options.Temperature == 0) return ArgMax(logits);

        // Top-k: the k largest logits, in descending order (ties by lower id, so the result never depends on the sort).
        int n = logits.Length, k = _options.TopK == 0 ? n : Math.Min(_options.TopK, n);
        SelectTop(logits, k);

        // Softmax over the kept tokens at the temperature, then top-p: the shortest prefix whose mass reaches p.
        float max = logits[_order[0]], sum = 0;
        for (int i = 0; i < k; i++) sum += _probabilities[i] = MathF.Exp((logits[_order[i]] - max) / _options.Temperature);
        float cumulative = 0;
        int kept = k;
        for (int i = 0; i < k; i++)
        {
            cumulative += _probabilities[i] / sum;
            if (cumulative >= _options.TopP)
            {
                kept = i + 1;
                break;
            }
        }

        float keptSum = 0;
        for (int i = 0; i < kept; i++) keptSum += _probabilities[i];
        float draw = (float)_random.NextDouble() * keptSum;
        for (int i = 0; i < kept; i++)
        {
            draw -= _probabilities[i];
            if (draw < 0) return _order[i];
        }

        return _order[kept - 1];
    }

    /// <summary>The id of the largest logit (the lowest id on a tie).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best]) best = i;
        }

        return best;
    }

    /// <summary>Puts the <paramref name="k"/> largest logits first in <c>_order</c>, sorted descending.</summary>
    private void SelectTop(ReadOnlySpan<float> logits, int k)
    {
        if (k > 64)
        {
            // Many kept: one sort of every id by its logit (deterministic for equal inputs, so a seed still repeats).
            for (int i = 0; i < logits.Length; i++)
            {
                _order[i] = i;
                _probabilities[i] = -logits[i];
            }

            Array.Sort(_probabilities, _order);
            return;
        }

        // A partial selection: keep a sorted top-k list while scanning (k is small in practice; k = n sorts everything).
        int count = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float v = logits[i];
            if (count == k && !(v > logits[_order[k - 1]])) continue;
            int at = count < k ? count++ : k - 1;
            while (at > 0 && v > logits[_order[at - 1]])
            {
                _order[at] = _order[at - 1];
                at--;
            }

            _order[at] = i;
        }
    }
}
