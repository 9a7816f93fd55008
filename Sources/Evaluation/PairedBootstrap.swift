import Sampling

/// A 95% interval for a difference between two models measured on the same items (tokens of one
/// text, questions of one task), and whether it excludes zero.
public struct DifferenceInterval: Sendable, Equatable, Codable {
    /// The observed mean difference (model − base).
    public var estimate: Double
    public var low: Double
    public var high: Double
    public var resamples: Int

    /// False when the interval holds 0: the data cannot tell the two apart.
    public var significant: Bool { low > 0 || high < 0 }

    /// `estimate [low, high]`, with "not significant" when the interval holds 0.
    public func describe(_ format: (Double) -> String) -> String {
        "\(format(estimate)) [\(format(low)), \(format(high))]" + (significant ? "" : " not significant")
    }
}

/// Paired bootstrap: resample the items (with replacement) and recompute the mean difference,
/// keeping each item's two measurements together, so that what both models find hard cancels out.
/// Tokens of one window are not independent, so they are resampled in blocks (a window each, as a
/// reviewer would ask); questions are resampled one by one. Seeded: the same data gives the same
/// interval.
public enum PairedBootstrap {
    public static func interval(_ differences: [Double], blockSize: Int = 1, resamples: Int = 2000, seed: UInt64 = 1) -> DifferenceInterval {
        let n = differences.count
        guard n > 0 else { return DifferenceInterval(estimate: 0, low: 0, high: 0, resamples: 0) }
        let size = max(1, blockSize)
        var sums: [Double] = [], counts: [Double] = []
        var start = 0
        while start < n {
            let end = min(n, start + size)
            sums.append(differences[start..<end].reduce(0, +))
            counts.append(Double(end - start))
            start = end
        }
        let estimate = differences.reduce(0, +) / Double(n)
        var rng = SplitMix64(seed: seed)
        var means: [Double] = []
        means.reserveCapacity(resamples)
        let blocks = sums.count
        for _ in 0..<resamples {
            var s = 0.0, c = 0.0
            for _ in 0..<blocks {
                let b = Int(rng.next() % UInt64(blocks))
                s += sums[b]
                c += counts[b]
            }
            means.append(s / c)
        }
        means.sort()
        func quantile(_ q: Double) -> Double { means[min(means.count - 1, max(0, Int((q * Double(means.count)).rounded(.down))))] }
        return DifferenceInterval(estimate: estimate, low: quantile(0.025), high: quantile(0.975), resamples: resamples)
    }

    /// The interval of accuracy(model) − accuracy(base) from per-item correctness.
    public static func accuracyDifference(model: [Bool], base: [Bool], resamples: Int = 2000, seed: UInt64 = 1) -> DifferenceInterval {
        precondition(model.count == base.count, "paired results must cover the same items")
        return interval(zip(model, base).map { Double($0 ? 1 : 0) - Double($1 ? 1 : 0) }, resamples: resamples, seed: seed)
    }
}
