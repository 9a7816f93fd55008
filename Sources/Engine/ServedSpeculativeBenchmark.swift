import Foundation
import LLMBase
import Models
import Tokenizer

/// Speculative decoding as `serve --draft` runs it, against the same engine without a draft, same
/// prompts, same run: `concurrency` greedy requests at once, request i taking prompt
/// i mod count, each up to `tokens` tokens (ending at end-of-generation as a user's would). Runs
/// alternate plain and speculative `repetitions` times after one warm-up of each, on two
/// engines that stay up (the speculative one calibrated once, as at server start), without
/// prefix caching so that repetitions do not serve each other's prompts.
///
/// Rate = generated tokens ÷ wall time from submission to the last request's end: what a
/// client population sees, prompt processing included (the draft reading each prompt is part of
/// speculation's cost in a server).
public final class ServedSpeculativeBenchmark: Sendable {
    public struct Level: Sendable, Codable, Equatable {
        public var concurrency: Int
        public var generatedTokens: Int
        public var plainTokensPerSecond: [Double] = []
        public var speculativeTokensPerSecond: [Double] = []
        /// Speculative ÷ plain, run pair by run pair.
        public var speedups: [Double] = []
        public var drafted = 0
        public var accepted = 0
        /// Every speculative run produced the plain engine's tokens for every request.
        public var identicalOutput = true

        public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
    }

    let plain: InferenceEngine
    let speculative: InferenceEngine

    public init(target: any CausalLM, tokenizer: Tokenizer, configuration: EngineConfiguration, speculation: EngineSpeculation) throws {
        var c = configuration
        c.prefixCaching = false
        plain = try InferenceEngine(model: target, tokenizer: tokenizer, configuration: c)
        speculative = try InferenceEngine(model: target, tokenizer: tokenizer, configuration: c, speculation: speculation)
    }

    deinit {
        plain.shutdown()
        speculative.shutdown()
    }

    public func run(prompts: [[Int]], concurrency: Int, tokens: Int, repetitions: Int) async throws -> Level {
        let requests = (0..<concurrency).map { EngineRequest(promptTokens: prompts[$0 % prompts.count], maxTokens: tokens) }
        func timed(_ engine: InferenceEngine) async throws -> (seconds: Double, ids: [[Int]], usage: [RequestUsage]) {
            let start = DispatchTime.now().uptimeNanoseconds
            let results = try await withThrowingTaskGroup(of: (Int, [Int], RequestUsage).self) { group in
                for (i, r) in requests.enumerated() {
                    group.addTask { let g = try await engine.generate(r); return (i, g.tokens.map(\.id), g.usage) }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let ordered = (0..<requests.count).map { results[$0]! }
            return (seconds, ordered.map(\.0), ordered.map(\.1))
        }
        let reference = try await timed(plain).ids
        _ = try await timed(speculative)
        var level = Level(concurrency: concurrency, generatedTokens: reference.reduce(0) { $0 + $1.count })
        for _ in 0..<repetitions {
            let a = try await timed(plain), b = try await timed(speculative)
            let generatedA = a.usage.reduce(0) { $0 + $1.generatedTokens }, generatedB = b.usage.reduce(0) { $0 + $1.generatedTokens }
            let rateA = Double(generatedA) / a.seconds, rateB = Double(generatedB) / b.seconds
            level.plainTokensPerSecond.append(rateA)
            level.speculativeTokensPerSecond.append(rateB)
            level.speedups.append(rateA > 0 ? rateB / rateA : 0)
            level.drafted += b.usage.reduce(0) { $0 + $1.draftTokens }
            level.accepted += b.usage.reduce(0) { $0 + $1.acceptedDraftTokens }
            level.identicalOutput = level.identicalOutput && a.ids == reference && b.ids == reference
        }
        return level
    }
}
