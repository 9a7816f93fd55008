import Foundation

/// Penalties against repeating tokens, applied to logits before sampling (vLLM's semantics, which
/// OpenAI's API documents): the repetition penalty (CTRL, 1 = off) divides positive logits and
/// multiplies negative ones of every token seen in the prompt or the output; the frequency
/// penalty subtracts `count × f` and the presence penalty `p` once, for tokens of the output.
public struct Penalties: Sendable, Equatable {
    public var repetition: Float = 1
    public var frequency: Float = 0
    public var presence: Float = 0

    public init(repetition: Float = 1, frequency: Float = 0, presence: Float = 0) {
        self.repetition = repetition
        self.frequency = frequency
        self.presence = presence
    }

    public var isActive: Bool { repetition != 1 || frequency != 0 || presence != 0 }

    public func validate() throws(SamplingError) {
        guard repetition.isFinite, repetition > 0, repetition <= 2 else { throw .invalid("repetition penalty must be in (0, 2], got \(repetition)") }
        guard frequency.isFinite, frequency >= -2, frequency <= 2 else { throw .invalid("frequency penalty must be in [-2, 2], got \(frequency)") }
        guard presence.isFinite, presence >= -2, presence <= 2 else { throw .invalid("presence penalty must be in [-2, 2], got \(presence)") }
    }
}

/// Token counts of one sequence for the penalties: which ids the prompt holds, how often each id
/// was generated.
public struct PenaltyHistory: Sendable {
    private var promptIDs: Set<Int> = []
    private(set) var outputCounts: [Int: Int] = [:]

    public init(prompt: [Int], penalties: Penalties) {
        if penalties.repetition != 1 { promptIDs = Set(prompt) }
    }

    public mutating func record(output id: Int) { outputCounts[id, default: 0] += 1 }

    public func apply(_ penalties: Penalties, to logits: UnsafeMutableBufferPointer<Float>) {
        guard penalties.isActive else { return }
        if penalties.repetition != 1 {
            for id in promptIDs.union(outputCounts.keys) where id >= 0 && id < logits.count {
                let l = logits[id]
                logits[id] = l > 0 ? l / penalties.repetition : l * penalties.repetition
            }
        }
        for (id, count) in outputCounts where id >= 0 && id < logits.count {
            logits[id] -= Float(count) * penalties.frequency + penalties.presence
        }
    }
}

/// Log-probabilities of a row of logits (log-softmax), for `logprobs` in responses.
public enum LogProbabilities {
    /// log p(id) and the `top` most likely ids with their log-probabilities, best first (lower id
    /// first on ties).
    public static func of(_ id: Int, top: Int, logits: UnsafeBufferPointer<Float>) -> (logprob: Float, top: [(id: Int, logprob: Float)]) {
        var maxLogit = -Float.infinity
        for v in logits where v > maxLogit { maxLogit = v }
        var total: Double = 0
        for v in logits { total += Double(expf(v - maxLogit)) }
        let logZ = maxLogit + Float(log(total))
        var best: [(id: Int, logprob: Float)] = []
        if top > 0 {
            best.reserveCapacity(top + 1)
            for (i, v) in logits.enumerated() {
                if best.count == top, let worst = best.last, v <= worst.logprob { continue }
                let at = best.firstIndex { v > $0.logprob } ?? best.count
                best.insert((i, v), at: at)
                if best.count > top { best.removeLast() }
            }
            best = best.map { ($0.id, $0.logprob - logZ) }
        }
        return (logits[id] - logZ, best)
    }
}
