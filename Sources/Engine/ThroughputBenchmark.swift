import Foundation
import LLMBase
import Models

/// llama-bench's two measurements on one model: prompt processing (`pp`: one pass over n_prompt
/// tokens from an empty cache) and text generation (`tg`: n_gen single-token passes from an empty
/// cache). Tokenization and sampling are excluded, as in llama-bench; token ids are random.
public struct ThroughputBenchmark {
    public struct Result: Sendable {
        public let nPrompt: Int
        public let nGen: Int
        /// Seconds of each repetition.
        public let samples: [Double]

        public var tokens: Int { nPrompt + nGen }
        public var samplesTokensPerSecond: [Double] { samples.map { Double(tokens) / $0 } }
        public var averageTokensPerSecond: Double { Statistics.mean(samplesTokensPerSecond) }
        public var stddevTokensPerSecond: Double { Statistics.standardDeviation(samplesTokensPerSecond) }
        public var medianTokensPerSecond: Double { Statistics.median(samplesTokensPerSecond) }
        public var testName: String { nPrompt > 0 ? "pp\(nPrompt)" : "tg\(nGen)" }
    }

    public let model: any CausalLM
    public let repetitions: Int
    public let kvCacheType: KVCacheType

    public init(model: any CausalLM, repetitions: Int, kvCacheType: KVCacheType = .f16) {
        self.model = model
        self.repetitions = repetitions
        self.kvCacheType = kvCacheType
    }

    /// Prompt processing of `tokens` tokens: one warm-up pass, then `repetitions` timed passes.
    public func promptProcessing(tokens: Int, seed: UInt64 = 1) throws -> Result {
        let cache = try model.makeCache(capacity: tokens, type: kvCacheType)
        let scratch = model.makeScratch(maxTokens: tokens, contextCapacity: tokens, allLogits: false)
        let ids = randomTokens(tokens, seed: seed)
        var samples: [Double] = []
        for rep in 0...repetitions {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: false) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            if rep > 0 { samples.append(Double(t1 - t0) / 1e9) }
        }
        return Result(nPrompt: tokens, nGen: 0, samples: samples)
    }

    /// Generation of `tokens` tokens one at a time: one warm-up token, then `repetitions` runs.
    public func generation(tokens: Int, seed: UInt64 = 2) throws -> Result {
        let cache = try model.makeCache(capacity: tokens, type: kvCacheType)
        let scratch = model.makeScratch(maxTokens: 1, contextCapacity: tokens, allLogits: false)
        let ids = randomTokens(tokens, seed: seed)
        try model.forward(token: ids[0], position: 0, cache: cache, scratch: scratch)
        var samples: [Double] = []
        for _ in 0..<repetitions {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for (position, id) in ids.enumerated() {
                try model.forward(token: id, position: position, cache: cache, scratch: scratch)
            }
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return Result(nPrompt: 0, nGen: tokens, samples: samples)
    }

    private func randomTokens(_ n: Int, seed: UInt64) -> [Int] {
        var state = seed
        return RandomTokens.next(n, vocabularySize: model.config.vocabularySize, state: &state)
    }
}

/// Random token ids for the benchmarks (a 64-bit LCG: the same ids on every machine).
enum RandomTokens {
    static func next(_ n: Int, vocabularySize: Int, state: inout UInt64) -> [Int] {
        (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % vocabularySize
        }
    }
}
