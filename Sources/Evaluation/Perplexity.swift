import Foundation
import Models

/// Log-probabilities of one row of logits, in Double (the reference's log-softmax precision).
struct LogSoftmax {
    let maxLogit: Double
    let logSumExp: Double

    init(_ row: UnsafeBufferPointer<Float>) {
        var m = -Double.infinity
        for v in row where Double(v) > m { m = Double(v) }
        var sum = 0.0
        for v in row { sum += exp(Double(v) - m) }
        maxLogit = m
        logSumExp = log(sum)
    }

    func logProb(_ logit: Float) -> Double { Double(logit) - maxLogit - logSumExp }
}

/// Perplexity by the method of `../shared/reference/README.md`: non-overlapping windows of `ctx`
/// tokens from token 0 (the last may be shorter; fewer than 2 tokens left ends it), each from an
/// empty KV cache at positions 0…len-1, every token but each window's first scored.
public struct PerplexityRun {
    public struct Window: Sendable {
        public var index: Int
        public var tokens: Int
        /// Running perplexity after this window.
        public var runningPerplexity: Double
    }

    public struct Result: Sendable, Equatable {
        public var perplexity: Double
        /// Standard error of the perplexity: ppl × the standard error of the mean NLL (delta method).
        public var standardError: Double
        public var meanNLL: Double
        public var scoredTokens: Int
        public var windows: Int
    }

    public let model: any CausalLM
    public let ctx: Int
    /// Element type of the KV cache (`--kv-type`; half precision by default, as llama.cpp's).
    public let kvCacheType: KVCacheType

    public init(model: any CausalLM, ctx: Int, kvCacheType: KVCacheType = .f16) throws(EvaluationError) {
        guard ctx >= 2 else { throw .invalid("--ctx must be at least 2, got \(ctx)") }
        guard ctx <= model.config.contextLength else { throw .invalid("--ctx \(ctx) exceeds the model's context of \(model.config.contextLength)") }
        self.model = model
        self.ctx = ctx
        self.kvCacheType = kvCacheType
    }

    /// The windows of `ids`, in order.
    public static func windows(_ count: Int, ctx: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        while count - start >= 2 {
            out.append(start..<min(count, start + ctx))
            start += ctx
        }
        return out
    }

    /// Runs every window; `visit` sees each scored position's log-softmax row (for KL divergence
    /// and saved logits) and `progress` each finished window. With `bos` (models whose tokenizer
    /// adds one, as Gemma's), each window is BOS followed by ctx − 1 text tokens, and every text
    /// token but the window's first is scored, as llama.cpp evaluates such models.
    public func run(_ ids: [Int], bos: Int? = nil,
                    visit: ((_ position: Int, _ logits: UnsafeBufferPointer<Float>, _ next: Int) throws -> Void)? = nil,
                    progress: ((Window) -> Void)? = nil) throws -> Result {
        let prefix = bos.map { [$0] } ?? []
        let windows = Self.windows(ids.count, ctx: ctx - prefix.count)
        guard !windows.isEmpty else { throw EvaluationError.invalid("the text has \(ids.count) tokens; perplexity needs at least 2") }
        let cache = try model.makeCache(capacity: ctx, type: kvCacheType)
        let scratch = model.makeScratch(maxTokens: ctx, contextCapacity: ctx)
        let vocab = model.config.vocabularySize
        var nll: [Double] = []
        nll.reserveCapacity(ids.count)
        for (w, range) in windows.enumerated() {
            let window = prefix + ids[range]
            try window.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
            for i in prefix.count..<(window.count - 1) {
                let row = scratch.logits(row: i, vocabularySize: vocab)
                nll.append(-LogSoftmax(row).logProb(row[window[i + 1]]))
                try visit?(range.lowerBound + i - prefix.count, row, window[i + 1])
            }
            progress?(Window(index: w, tokens: window.count, runningPerplexity: exp(nll.reduce(0, +) / Double(nll.count))))
        }
        return Self.summarize(nll, windows: windows.count)
    }

    static func summarize(_ nll: [Double], windows: Int) -> Result {
        let n = Double(nll.count)
        let mean = nll.reduce(0, +) / n
        let variance = nll.count > 1 ? nll.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) : 0
        let ppl = exp(mean)
        return Result(perplexity: ppl, standardError: ppl * (variance / n).squareRoot(), meanNLL: mean, scoredTokens: nll.count, windows: windows)
    }
}

public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case badTask(String, line: Int, String)
    case mismatch(String)

    public var description: String {
        switch self {
        case .invalid(let m): return m
        case .badTask(let file, let line, let why): return "\(file):\(line): \(why)"
        case .mismatch(let m): return m
        }
    }
}
