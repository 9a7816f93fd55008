import Foundation

/// How to pick the next token. `temperature == 0` is greedy (argmax); the other filters apply to
/// sampling only, in llama.cpp's order: top-k → top-p → min-p → temperature.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0        // 0: off
    public var topP: Float = 1      // 1: off
    public var minP: Float = 0      // 0: off
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
    }

    /// Throws a message naming the first parameter out of range.
    public func validate() throws(SamplingError) {
        guard temperature.isFinite, temperature >= 0 else { throw .invalid("temperature must be a finite number ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw .invalid("top-k must be ≥ 0 (0 disables it), got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw .invalid("top-p must be in (0, 1], got \(topP)") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw .invalid("min-p must be in [0, 1], got \(minP)") }
    }
}

public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String { switch self { case .invalid(let m): return m } }
}

/// Picks tokens from logits. Candidate storage is allocated once and reused.
public struct Sampler {
    public let parameters: SamplingParameters
    private var rng: SplitMix64
    private var candidates: [(id: Int, value: Float)] = []
    private var weights: [Float] = []

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = SplitMix64(seed: parameters.seed)
    }

    /// Index of the largest logit (lowest id on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue { best = i; bestValue = v }
        return best
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if parameters.temperature == 0 { return Self.argmax(logits) }
        let total = survivors(logits)
        if candidates.isEmpty { return 0 }
        var r = rng.nextUnitFloat() * total
        for (i, q) in weights.enumerated() {
            r -= q
            if r < 0 { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }

    /// The distribution `sample` draws from: the surviving ids with probabilities summing to 1
    /// (greedy: the argmax alone). Speculative sampling compares the draft's and the target's.
    public mutating func distribution(_ logits: UnsafeBufferPointer<Float>) -> TokenDistribution {
        if parameters.temperature == 0 { return TokenDistribution(ids: [Self.argmax(logits)], probabilities: [1]) }
        let total = survivors(logits)
        if candidates.isEmpty { return TokenDistribution(ids: [0], probabilities: [1]) }
        return TokenDistribution(ids: candidates.map(\.id), probabilities: weights.map { $0 / total })
    }

    /// A uniform draw in [0, 1) from this sampler's generator (the acceptance test).
    public mutating func uniform() -> Float { rng.nextUnitFloat() }

    /// A draw from a distribution with this sampler's generator.
    public mutating func draw(_ d: TokenDistribution) -> Int {
        var r = rng.nextUnitFloat() * d.probabilities.reduce(0, +)
        for (i, q) in d.probabilities.enumerated() {
            r -= q
            if r < 0 { return d.ids[i] }
        }
        return d.ids[d.ids.count - 1]
    }

    /// Fills `candidates` with the ids that survive top-k, top-p and min-p, best first, and
    /// `weights` with their unnormalized probabilities at the temperature; returns their sum.
    private mutating func survivors(_ logits: UnsafeBufferPointer<Float>) -> Float {
        let p = parameters
        candidates.removeAll(keepingCapacity: true)
        weights.removeAll(keepingCapacity: true)
        for (i, v) in logits.enumerated() where !v.isNaN { candidates.append((i, v)) }
        if candidates.isEmpty { return 0 }
        candidates.sort { $0.value > $1.value || ($0.value == $1.value && $0.id < $1.id) }
        if p.topK > 0, p.topK < candidates.count { candidates.removeLast(candidates.count - p.topK) }
        // Probabilities at temperature 1 for the nucleus and min-p filters (as llama.cpp does).
        let maxLogit = candidates[0].value
        var probs = candidates.map { expf($0.value - maxLogit) }
        let total = probs.reduce(0, +)
        if p.topP < 1 {
            var cumulative: Float = 0
            var keep = candidates.count
            for (i, q) in probs.enumerated() {
                cumulative += q / total
                if cumulative >= p.topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
            probs.removeLast(probs.count - keep)
        }
        if p.minP > 0 {
            let threshold = p.minP * probs[0]
            let keep = max(1, probs.firstIndex(where: { $0 < threshold }) ?? probs.count)
            candidates.removeLast(candidates.count - keep)
        }
        // Temperature applies to the survivors.
        for c in candidates { weights.append(expf((c.value - maxLogit) / p.temperature)) }
        return weights.reduce(0, +)
    }
}

/// A sampling distribution over a few ids (the survivors of the sampler's filters).
public struct TokenDistribution: Sendable, Equatable {
    public var ids: [Int]
    public var probabilities: [Float]

    public init(ids: [Int], probabilities: [Float]) {
        self.ids = ids
        self.probabilities = probabilities
    }

    /// The probability of `id` (0 when filtered out).
    public func probability(of id: Int) -> Float {
        guard let i = ids.firstIndex(of: id) else { return 0 }
        return probabilities[i]
    }
}
