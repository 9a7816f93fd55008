import Foundation
import Models

/// How far one model's next-token distributions are from a base model's on the same text, as
/// llama.cpp's `--kl-divergence` reports: mean KL(base ‖ model) per token over the full
/// vocabulary, the share of positions where both pick the same top-1 token, and each model's
/// perplexity. Both run window by window (the perplexity method's windows); each keeps its own
/// window of logits, so nothing of vocabulary size per position is stored beyond one window.
public struct Divergence {
    public struct Result: Sendable, Equatable {
        public var base: PerplexityRun.Result
        public var model: PerplexityRun.Result
        public var meanKL: Double
        public var klStandardError: Double
        /// 99th percentile and maximum of the per-token KL.
        public var klP99: Double
        public var klMax: Double
        public var top1Agreement: Double
        public var positions: Int
        /// Mean NLL of the model minus the base's per token, with a paired block bootstrap over
        /// windows: exp of it is the perplexity ratio (model ÷ base).
        public var nllDifference: DifferenceInterval
        /// The perplexity change in percent, (model ÷ base − 1) × 100, with its interval.
        public var perplexityChangePercent: DifferenceInterval {
            func pct(_ d: Double) -> Double { (exp(d) - 1) * 100 }
            return DifferenceInterval(estimate: pct(nllDifference.estimate), low: pct(nllDifference.low), high: pct(nllDifference.high),
                                      resamples: nllDifference.resamples)
        }
    }

    public let base: any CausalLM
    public let model: any CausalLM
    public let ctx: Int
    public let kvCacheType: KVCacheType

    public init(base: any CausalLM, model: any CausalLM, ctx: Int, kvCacheType: KVCacheType = .f16) throws(EvaluationError) {
        guard base.config.vocabularySize == model.config.vocabularySize else {
            throw .mismatch("the models have different vocabularies (\(base.config.vocabularySize) and \(model.config.vocabularySize) tokens): KL divergence needs the same tokenizer")
        }
        _ = try PerplexityRun(model: base, ctx: ctx)
        _ = try PerplexityRun(model: model, ctx: ctx)
        self.base = base
        self.model = model
        self.ctx = ctx
        self.kvCacheType = kvCacheType
    }

    /// `bos`: as `PerplexityRun.run`, each window starts with it (models that add one, as Gemma).
    public func run(_ ids: [Int], bos: Int? = nil, progress: ((_ window: Int, _ of: Int, _ meanKL: Double) -> Void)? = nil) throws -> Result {
        let prefix = bos.map { [$0] } ?? []
        let windows = PerplexityRun.windows(ids.count, ctx: ctx - prefix.count)
        guard !windows.isEmpty else { throw EvaluationError.invalid("the text has \(ids.count) tokens; at least 2 are needed") }
        let vocab = base.config.vocabularySize
        let caches = (try base.makeCache(capacity: ctx, type: kvCacheType), try model.makeCache(capacity: ctx, type: kvCacheType))
        let scratches = (base.makeScratch(maxTokens: ctx, contextCapacity: ctx), model.makeScratch(maxTokens: ctx, contextCapacity: ctx))
        var nllBase: [Double] = [], nllModel: [Double] = [], kl: [Double] = []
        var agree = 0
        for (w, range) in windows.enumerated() {
            let window = prefix + ids[range]
            try window.withUnsafeBufferPointer {
                try base.forward($0, start: 0, cache: caches.0, scratch: scratches.0, allLogits: true)
                try model.forward($0, start: 0, cache: caches.1, scratch: scratches.1, allLogits: true)
            }
            for i in prefix.count..<(window.count - 1) {
                let p = scratches.0.logits(row: i, vocabularySize: vocab), q = scratches.1.logits(row: i, vocabularySize: vocab)
                let lp = LogSoftmax(p), lq = LogSoftmax(q)
                let next = window[i + 1]
                nllBase.append(-lp.logProb(p[next]))
                nllModel.append(-lq.logProb(q[next]))
                // KL(P‖Q) = Σ p (log p − log q), in Double.
                var d = 0.0
                var topP = 0, topQ = 0
                for t in 0..<vocab {
                    let a = lp.logProb(p[t])
                    d += exp(a) * (a - lq.logProb(q[t]))
                    if p[t] > p[topP] { topP = t }
                    if q[t] > q[topQ] { topQ = t }
                }
                kl.append(max(0, d))
                if topP == topQ { agree += 1 }
            }
            progress?(w + 1, windows.count, kl.reduce(0, +) / Double(kl.count))
        }
        let n = Double(kl.count)
        let mean = kl.reduce(0, +) / n
        let variance = kl.count > 1 ? kl.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) : 0
        let sorted = kl.sorted()
        return Result(base: PerplexityRun.summarize(nllBase, windows: windows.count), model: PerplexityRun.summarize(nllModel, windows: windows.count),
                      meanKL: mean, klStandardError: (variance / n).squareRoot(),
                      klP99: sorted[min(sorted.count - 1, Int((0.99 * n).rounded(.up)) - 1)], klMax: sorted.last ?? 0,
                      top1Agreement: Double(agree) / n, positions: kl.count,
                      nllDifference: PairedBootstrap.interval(zip(nllModel, nllBase).map { $0 - $1 }, blockSize: max(1, kl.count / windows.count)))
    }
}
