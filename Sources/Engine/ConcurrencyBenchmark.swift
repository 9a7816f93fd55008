import Foundation
import LLMBase
import Models
import Tokenizer

/// Many sequences at once through the engine, in the manner of llama.cpp's `llama-batched-bench`:
/// `concurrency` requests of `promptTokens` random prompt tokens each (after a shared prefix of
/// `sharedPrefix` tokens, if any) arrive together and each generates exactly `genTokens` tokens
/// (greedy, end-of-generation ignored). Sampling is included, tokenization is not.
///
///   t0 ─────── prompts (chunked prefill, first decodes interleave) ───── tFirst ── all decode ── tEnd
///   prompt tokens/s = prompt tokens ÷ (tFirst − t0)      tFirst: the last request's first token
///   gen tokens/s    = tokens after each first ÷ (tEnd − tFirst)   (llama-batched-bench's S_TG)
public struct ConcurrencyBenchmark: Sendable {
    public struct Level: Sendable {
        public var concurrency = 0
        public var promptTokens = 0
        public var genTokens = 0
        public var sharedPrefix = 0
        public var prefixCaching = true
        public var wallSeconds = 0.0
        public var promptTokensPerSecond = 0.0
        public var genTokensPerSecond = 0.0
        /// All tokens (prompt + generated) over the wall time.
        public var totalTokensPerSecond = 0.0
        public var requestsPerSecond = 0.0
        public var ttftP50 = 0.0, ttftP95 = 0.0   // seconds
        public var tpotP50 = 0.0, tpotP95 = 0.0   // seconds
        /// Share of prompt tokens served from the prefix cache.
        public var cacheHitRate = 0.0
        public var preemptions = 0
    }

    public let model: any CausalLM
    public let tokenizer: Tokenizer
    public let configuration: EngineConfiguration

    public init(model: any CausalLM, tokenizer: Tokenizer, configuration: EngineConfiguration) {
        self.model = model
        self.tokenizer = tokenizer
        self.configuration = configuration
    }

    /// One run of one level on a fresh engine (an empty prefix cache). With a shared prefix, one
    /// request carrying the prefix runs first, as a system prompt served earlier would have.
    public func run(concurrency: Int, promptTokens: Int, genTokens: Int, sharedPrefix: Int = 0,
                    prefixCaching: Bool = true, seed: UInt64 = 1) async throws -> Level {
        var config = configuration
        config.prefixCaching = prefixCaching
        config.maxSequences = max(config.maxSequences, concurrency)
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: config)
        defer { engine.shutdown() }
        var rng = seed
        let prefix = randomTokens(sharedPrefix, &rng)
        // Warm-up (first-touch of scratch and KV pages); with a shared prefix, the request that
        // puts the prefix in the cache.
        _ = try await engine.generate(EngineRequest(promptTokens: prefix + randomTokens(8, &rng), maxTokens: 2, ignoreEndOfGeneration: true))
        let requests = (0..<concurrency).map { _ in
            EngineRequest(promptTokens: prefix + randomTokens(promptTokens, &rng), maxTokens: genTokens, ignoreEndOfGeneration: true)
        }
        let t0 = Clock.now
        let usages = try await withThrowingTaskGroup(of: RequestUsage.self) { group in
            for r in requests { group.addTask { try await engine.generate(r).usage } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let tEnd = Clock.now
        let tFirst = t0 + (usages.map(\.timeToFirstToken).max() ?? 0)
        var level = Level()
        level.concurrency = concurrency
        level.promptTokens = promptTokens
        level.genTokens = genTokens
        level.sharedPrefix = sharedPrefix
        level.prefixCaching = prefixCaching
        level.wallSeconds = tEnd - t0
        let prompt = usages.reduce(0) { $0 + $1.promptTokens }
        let cached = usages.reduce(0) { $0 + $1.cachedPromptTokens }
        let generated = usages.reduce(0) { $0 + $1.generatedTokens }
        level.promptTokensPerSecond = tFirst > t0 ? Double(prompt) / (tFirst - t0) : 0
        level.genTokensPerSecond = tEnd > tFirst ? Double(generated - usages.count) / (tEnd - tFirst) : 0
        level.totalTokensPerSecond = Double(prompt + generated) / level.wallSeconds
        level.requestsPerSecond = Double(usages.count) / level.wallSeconds
        let ttft = usages.map(\.timeToFirstToken), tpot = usages.map(\.timePerOutputToken)
        level.ttftP50 = Statistics.percentile(ttft, 50)
        level.ttftP95 = Statistics.percentile(ttft, 95)
        level.tpotP50 = Statistics.percentile(tpot, 50)
        level.tpotP95 = Statistics.percentile(tpot, 95)
        level.cacheHitRate = prompt > 0 ? Double(cached) / Double(prompt) : 0
        level.preemptions = usages.reduce(0) { $0 + $1.preemptions }
        return level
    }

    private func randomTokens(_ n: Int, _ state: inout UInt64) -> [Int] {
        RandomTokens.next(n, vocabularySize: model.config.vocabularySize, state: &state)
    }
}
