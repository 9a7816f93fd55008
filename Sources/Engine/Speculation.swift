import Foundation
import Models
import Sampling
import Tokenizer

/// Where a speculative generator's draft tokens come from.
public enum DraftSource {
    /// A smaller model with the target's vocabulary (a distilled student) runs ahead of the
    /// target, one token at a time, on its own KV cache.
    case model(any CausalLM, Tokenizer)
    /// Prompt lookup (n-gram drafting, as vLLM's `ngram` and llama.cpp's lookup): the tokens
    /// that followed the latest earlier occurrence of the text's last n tokens, n from `maxNgram`
    /// down to `minNgram`, in the prompt and the output so far. No model; free to draft.
    case promptLookup(minNgram: Int, maxNgram: Int)
}

public struct SpeculationOptions: Sendable {
    /// The most draft tokens one target pass checks.
    public var maxDraftTokens: Int
    /// Choose each round's draft length from the acceptance and pass times measured so far
    /// (`DraftLengthPolicy`), down to no drafting where it does not pay; else always the most.
    public var adaptive: Bool

    /// Which token ids a draft model scores (`DraftVocabulary`). Prompt lookup ignores it.
    public var draftVocabulary: DraftVocabulary

    public init(maxDraftTokens: Int = 8, adaptive: Bool = true, draftVocabulary: DraftVocabulary = .automatic) {
        self.maxDraftTokens = maxDraftTokens
        self.adaptive = adaptive
        self.draftVocabulary = draftVocabulary
    }

    /// The draft length in 1…64 and a draft vocabulary of at least 16 ids: what the single-stream
    /// generator and the engine both refuse.
    func validate() throws(SpeculationError) {
        guard (1...64).contains(maxDraftTokens) else { throw .invalidDraftTokens(maxDraftTokens) }
        if case .first(let n) = draftVocabulary, n < 16 { throw .invalidDraftVocabulary(n) }
    }

    /// The logit subset a draft model's scratch takes under these options (nil: the whole vocabulary).
    func draftLogitSubset(model: any CausalLM, tokenizer: Tokenizer) -> LogitSubset? {
        guard let leading = draftVocabulary.leading(vocabularySize: model.config.vocabularySize) else { return nil }
        // End-of-turn ids first: a draft must be able to end the answer where the target would.
        let fixed = tokenizer.endOfGenerationIDList + tokenizer.controlTokenIDs.filter { $0 >= leading }
        return LogitSubset(leading: leading, fixedIDs: fixed, vocabularySize: model.config.vocabularySize, hiddenSize: model.config.hiddenSize)
    }
}

/// The token ids a draft model scores. Its output projection over a large vocabulary is a good
/// part of its bytes per token (152k ids × 896 in Qwen2.5 0.5B: 145 of the 391 MB a step reads),
/// and its drafts are almost always common tokens or the text's own (`LogitSubset`). The target
/// checks every draft against its whole vocabulary, so output never changes; only acceptance can.
public enum DraftVocabulary: Sendable, Equatable {
    /// Every id.
    case whole
    /// The first n ids (at least 16), the control and end-of-turn tokens, and the text's tokens.
    case first(Int)
    /// `first(32768)` for vocabularies of more than 65,536 ids (Qwen's 152k, Gemma's 262k), else
    /// `whole`. Measured on Qwen2.5-Coder 0.5B drafting for 1.5B: draft steps 0.75× as long,
    /// acceptance 74% against 77% on the code prompt.
    case automatic

    static let automaticLeading = 32_768

    /// The leading ids a subset keeps for a vocabulary of this size; nil: the whole vocabulary.
    public func leading(vocabularySize: Int) -> Int? {
        switch self {
        case .whole: return nil
        case .first(let n): return n < vocabularySize ? n : nil
        case .automatic: return vocabularySize > 2 * Self.automaticLeading ? Self.automaticLeading : nil
        }
    }
}

/// What speculation did during one generation.
public struct SpeculationStats: Sendable, Equatable {
    /// Draft tokens proposed, and of them accepted by the target.
    public var drafted = 0
    public var accepted = 0
    /// Target passes that checked drafts, and plain one-token target passes.
    public var verifyPasses = 0
    public var plainPasses = 0
    /// Draft-model forward passes (one per draft token, plus catch-up passes).
    public var draftPasses = 0
    public var draftSeconds = 0.0
    public var verifySeconds = 0.0

    public init() {}

    /// Accepted ÷ drafted (0 when nothing was drafted).
    public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
    /// Tokens produced per target pass after the prompt (1 without speculation).
    public var tokensPerTargetPass: Double {
        let passes = verifyPasses + plainPasses
        return passes > 0 ? Double(accepted + passes) / Double(passes) : 0
    }
}

public enum SpeculationError: Error, CustomStringConvertible, Equatable {
    case vocabularyMismatch(String)
    case invalidDraftTokens(Int)
    case invalidNgram(min: Int, max: Int)
    case invalidDraftVocabulary(Int)

    public var description: String {
        switch self {
        case .vocabularyMismatch(let m): return "the draft model cannot draft for this target: \(m)"
        case .invalidDraftTokens(let k): return "the number of draft tokens must be in 1…64, got \(k)"
        case .invalidDraftVocabulary(let n): return "the draft vocabulary must be at least 16 token ids, got \(n)"
        case .invalidNgram(let lo, let hi): return "prompt lookup needs 1 ≤ min n-gram ≤ max n-gram ≤ 16, got \(lo) and \(hi)"
        }
    }

    /// A draft model must speak the target's vocabulary: the same token at every id both have,
    /// the same end-of-generation tokens, and sizes within 128 (llama.cpp's allowance for padded
    /// embedding rows). Ids only the draft has are never proposed (`SpeculativeGenerator`).
    public static func checkVocabularies(target: Tokenizer, draft: Tokenizer) throws(SpeculationError) {
        let t = target.vocabularySize, d = draft.vocabularySize
        guard abs(t - d) <= 128 else {
            throw .vocabularyMismatch("its vocabulary has \(d) tokens, the target's \(t)")
        }
        for id in 0..<min(t, d) where target.token(of: id) != draft.token(of: id) {
            throw .vocabularyMismatch("token \(id) is \((draft.token(of: id) ?? "").debugDescription) in the draft and "
                                      + "\((target.token(of: id) ?? "").debugDescription) in the target")
        }
        guard target.eosID == draft.eosID else {
            throw .vocabularyMismatch("its end-of-sequence token is \(draft.eosID.map(String.init) ?? "none"), the target's \(target.eosID.map(String.init) ?? "none")")
        }
    }
}

/// Prompt lookup: the draft for `tokens` is what followed the latest earlier occurrence of its
/// last n tokens (the longest n in minNgram…maxNgram that occurs), up to `limit` tokens.
public enum PromptLookup {
    public static func draft(_ tokens: [Int], minNgram: Int, maxNgram: Int, limit: Int) -> [Int] {
        guard limit > 0 else { return [] }
        let count = tokens.count
        for n in stride(from: min(maxNgram, count - 1), through: max(minNgram, 1), by: -1) {
            let suffix = count - n
            // Latest first: recent text predicts the next tokens best.
            var start = suffix - 1
            while start >= 0 {
                var match = true
                for j in 0..<n where tokens[start + j] != tokens[suffix + j] { match = false; break }
                if match {
                    let from = start + n
                    return Array(tokens[from..<min(count, from + limit)])
                }
                start -= 1
            }
        }
        return []
    }
}

/// How many tokens to draft next: the length with the most expected tokens per second, from the
/// acceptance rate and pass times measured so far. A round drafting K tokens produces
/// 1 + α + … + α^K tokens on average (α the chance that a draft token is accepted, the tokens
/// after a rejection being thrown away) in K draft passes plus one target pass over K + 1
/// tokens; a plain step produces 1 token in one target pass. K = 0 is a plain step.
///
/// The times are measured, not modelled: `SpeculativeGenerator` times one pass of each length
/// before its first generation (on the x86 kernels here a pass over 4 tokens costs about 2
/// single ones: the batch kernels are compute-bound), and every round updates them. The first
/// round drafts 3 tokens whatever the estimate, to measure α on this text. Once a draft
/// model stops paying it stops for the rest of the generation: resuming means running the draft
/// over every token it missed, which costs about a tenth of the plain steps it skipped. Prompt
/// lookup drafts for free, so it probes again every 64 plain steps.
struct DraftLengthPolicy {
    let maxTokens: Int
    let adaptive: Bool
    /// Whether drafting costs a model pass per token (else prompt lookup: free).
    let draftCostsPasses: Bool

    /// Decayed counts of accepted and rejected draft tokens, from a weak prior of 2 : 0.5 (a
    /// distilled student agrees with its teacher on most tokens; the first rounds overrule it).
    private var acceptedWeight = 2.0, rejectedWeight = 0.5
    private var exploringRounds = 1
    private var stopped = false
    private var plainSeconds: Double?
    private var draftSeconds: Double?
    private var verifySeconds: [Int: Double] = [:]
    private var plainSinceProbe = 0
    private var roundsSincePlain = 0

    init(maxTokens: Int, adaptive: Bool, draftCostsPasses: Bool, calibration: PassTimes? = nil) {
        self.maxTokens = maxTokens
        self.adaptive = adaptive
        self.draftCostsPasses = draftCostsPasses
        if let calibration {
            plainSeconds = calibration.target[1]
            for (tokens, seconds) in calibration.target where tokens > 1 { verifySeconds[tokens - 1] = seconds }
            draftSeconds = calibration.draft
        }
    }

    var acceptance: Double { acceptedWeight / (acceptedWeight + rejectedWeight) }

    /// The next round's draft length, at most `limit`.
    mutating func next(limit: Int) -> Int {
        let cap = min(maxTokens, limit)
        guard cap > 0 else { return 0 }
        guard adaptive else { return cap }
        // A plain step first when nothing was calibrated, and one every 32 rounds: every
        // estimate is relative to it, and the machine's load changes.
        guard let plain = plainSeconds, roundsSincePlain < 32 else { roundsSincePlain = 0; return 0 }
        roundsSincePlain += 1
        // Where drafting cannot pay even if every draft is kept (checks cost as much as the
        // plain steps they replace: builds whose kernels are compute-bound at one row), it is
        // not even tried.
        guard canPay(maxTokens, plain: plain) else {
            if draftCostsPasses { stopped = true }
            return 0
        }
        if exploringRounds > 0 { exploringRounds -= 1; return min(3, cap) }
        if stopped { return 0 }
        let a = acceptance
        var best = 0, bestRate = 1 / plain
        for k in 1...cap {
            let expected = (1 - pow(a, Double(k + 1))) / (1 - a)
            let time = roundSeconds(k, plain: plain)
            if expected / time > bestRate { best = k; bestRate = expected / time }
        }
        if best == 0 {
            if draftCostsPasses { stopped = true; return 0 }
            plainSinceProbe += 1
            if plainSinceProbe >= 64 { plainSinceProbe = 0; return min(3, cap) }
        } else {
            plainSinceProbe = 0
        }
        return best
    }

    /// A round's acceptance alone: in a batch of several sequences the pass times are shared, so
    /// they are not this sequence's to record.
    mutating func recordAcceptance(drafted: Int, accepted: Int) {
        guard drafted > 0 else { return }
        acceptedWeight = 0.9 * acceptedWeight + Double(accepted)
        rejectedWeight = 0.9 * rejectedWeight + (accepted < drafted ? 1 : 0)
    }

    /// Drafting k tokens and checking them.
    private func roundSeconds(_ k: Int, plain: Double) -> Double {
        Double(k) * (draftCostsPasses ? (draftSeconds ?? 0.3 * plain) : 0) + verifyEstimate(k, plain: plain)
    }

    /// Whether some length up to `cap` beats plain steps when every draft is accepted (k + 1
    /// tokens per round): the ceiling of drafting at the measured pass times.
    func canPay(_ cap: Int, plain: Double) -> Bool {
        (1...max(1, cap)).contains { k in Double(k + 1) / roundSeconds(k, plain: plain) > 1 / plain }
    }

    /// A target pass over k + 1 tokens: as calibrated (every length up to `maxTokens`) and
    /// updated by the rounds since; a length never timed counts as k + 1 plain steps.
    private func verifyEstimate(_ k: Int, plain: Double) -> Double { verifySeconds[k] ?? plain * Double(k + 1) }

    private static func average(_ old: Double?, _ new: Double) -> Double { old.map { 0.8 * $0 + 0.2 * new } ?? new }

    mutating func recordPlain(seconds: Double) { plainSeconds = Self.average(plainSeconds, seconds) }

    mutating func recordRound(drafted: Int, accepted: Int, draftSeconds draft: Double, verifySeconds verify: Double) {
        guard drafted > 0 else { return }
        recordAcceptance(drafted: drafted, accepted: accepted)
        if draftCostsPasses { draftSeconds = Self.average(draftSeconds, draft / Double(drafted)) }
        verifySeconds[drafted] = Self.average(verifySeconds[drafted], verify)
    }
}

/// Seconds of one target pass over n tokens (n = 1: a plain step), and of one draft-model step.
struct PassTimes {
    var target: [Int: Double]
    var draft: Double?

    /// Times `targetPass(n)` for n = 1…maxDraftTokens + 1 and `draftStep(position)` at positions
    /// 1 and 2, after a warm-up of each that faults the weights in. Each is timed twice and the
    /// faster kept: a pass slowed by something else on the machine would skew every decision.
    static func measure(maxDraftTokens: Int, targetPass: (Int) throws -> Void, draftStep: ((Int) throws -> Void)?) throws -> PassTimes {
        func seconds(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        try targetPass(1)
        var times = PassTimes(target: [:], draft: nil)
        for _ in 0..<2 {
            for n in 1...(maxDraftTokens + 1) {
                let t = try seconds { try targetPass(n) }
                times.target[n] = min(times.target[n] ?? t, t)
            }
        }
        if let draftStep {
            try draftStep(0)
            for position in 1...2 {
                let t = try seconds { try draftStep(position) }
                times.draft = min(times.draft ?? t, t)
            }
        }
        return times
    }
}

/// The target's verdict on one round of drafts, shared by the single-sequence generator and the
/// engine. Row i of `row` is the target's logits after the token before draft i (row 0: after the
/// sequence's last token), with any penalties and biases already applied; row `drafts.count`
/// follows the last draft.
///
/// Greedy: a draft is kept while it is the row's argmax; the first disagreement is replaced by
/// the argmax. Sampling: draft x, drawn from q, is kept with probability min(1, p(x)/q(x)); a
/// rejection is replaced by a draw from max(0, p − q) renormalized (Leviathan et al. 2023), so
/// every token follows the target's distribution. No distributions (prompt lookup): q is 1 on
/// the draft. `next` is the replacement, or after a fully accepted round the target's own token
/// from the last row.
enum DraftVerification {
    static func verify(_ drafts: [Int], draftDistributions: [TokenDistribution], greedy: Bool, sampler: inout Sampler,
                       row: (Int) -> UnsafeBufferPointer<Float>) -> (accepted: Int, next: Int) {
        var accepted = 0
        for (i, token) in drafts.enumerated() {
            let logits = row(i)
            if greedy {
                let best = Sampler.argmax(logits)
                if best == token { accepted += 1; continue }
                return (accepted, best)
            }
            let p = sampler.distribution(logits)
            let q = draftDistributions.isEmpty ? TokenDistribution(ids: [token], probabilities: [1]) : draftDistributions[i]
            if sampler.uniform() < min(1, p.probability(of: token) / q.probability(of: token)) { accepted += 1; continue }
            return (accepted, sampler.draw(residual(p, q)))
        }
        return (accepted, sampler.sample(row(drafts.count)))
    }

    /// max(0, p − q), renormalized: where a rejected draft's replacement is drawn from. When it
    /// is empty (p ≤ q everywhere, so p = q and nothing could be rejected), p itself.
    static func residual(_ p: TokenDistribution, _ q: TokenDistribution) -> TokenDistribution {
        var ids: [Int] = [], weights: [Float] = []
        for (id, pi) in zip(p.ids, p.probabilities) {
            let w = pi - q.probability(of: id)
            if w > 0 { ids.append(id); weights.append(w) }
        }
        guard !ids.isEmpty else { return p }
        let total = weights.reduce(0, +)
        return TokenDistribution(ids: ids, probabilities: weights.map { $0 / total })
    }
}
