import Foundation
import LLMBase
import Models
import Tokenizer

/// Speculative decoding against the target alone, same prompts, same run: greedy generation of
/// up to `tokens` tokens per prompt, alternating a plain run and a speculative one
/// `repetitions` times after one warm-up of each, so that a noisy machine slows both alike.
/// Rates are decode tokens/s after the first token (prompt processing excluded from both; the
/// draft model's pass over the prompt counts as prompt processing, as in llama-speculative).
public struct SpeculativeBenchmark {
    public struct PromptResult: Sendable, Codable, Equatable {
        public var label: String
        public var promptTokens: Int
        public var generatedTokens: Int
        /// Decode tokens/s of each timed run, alone and with speculation.
        public var plainTokensPerSecond: [Double]
        public var speculativeTokensPerSecond: [Double]
        /// Speculative ÷ plain, run pair by run pair.
        public var speedups: [Double]
        public var drafted: Int
        public var accepted: Int
        public var tokensPerTargetPass: Double
        /// Drafting time per draft token (draft-model passes, catch-ups included), and time per
        /// target pass that checked drafts, in milliseconds over the timed runs: the costs the
        /// draft-length policy weighs.
        public var draftMillisecondsPerToken: Double
        public var checkMillisecondsPerPass: Double
        /// Every speculative run produced exactly the target's tokens.
        public var identicalOutput: Bool

        public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
    }

    let plain: Generator
    let speculative: SpeculativeGenerator

    public init(target: any CausalLM, tokenizer: Tokenizer, draft: DraftSource, contextSize: Int,
                speculation: SpeculationOptions, kvCacheType: KVCacheType = .f16) throws {
        plain = try Generator(model: target, tokenizer: tokenizer, contextSize: contextSize, kvCacheType: kvCacheType)
        speculative = try SpeculativeGenerator(target: target, tokenizer: tokenizer, draft: draft, contextSize: contextSize,
                                               speculation: speculation, kvCacheType: kvCacheType)
    }

    public func run(promptIDs: [Int], label: String, tokens: Int, repetitions: Int) throws -> PromptResult {
        let options = GenerationOptions(maxTokens: tokens)
        let reference = try plain.generate(promptIDs: promptIDs, options: options) { _ in }
        _ = try speculative.generate(promptIDs: promptIDs, options: options) { _ in }
        var result = PromptResult(label: label, promptTokens: promptIDs.count, generatedTokens: reference.generatedIDs.count,
                                  plainTokensPerSecond: [], speculativeTokensPerSecond: [], speedups: [], drafted: 0, accepted: 0,
                                  tokensPerTargetPass: 0, draftMillisecondsPerToken: 0, checkMillisecondsPerPass: 0, identicalOutput: true)
        var passes = 0.0, produced = 0.0, draftSeconds = 0.0, checkSeconds = 0.0, checks = 0
        for _ in 0..<repetitions {
            let a = try plain.generate(promptIDs: promptIDs, options: options) { _ in }
            let b = try speculative.generate(promptIDs: promptIDs, options: options) { _ in }
            result.plainTokensPerSecond.append(a.generationTokensPerSecond)
            result.speculativeTokensPerSecond.append(b.generationTokensPerSecond)
            result.speedups.append(a.generationTokensPerSecond > 0 ? b.generationTokensPerSecond / a.generationTokensPerSecond : 0)
            result.identicalOutput = result.identicalOutput && b.generatedIDs == reference.generatedIDs && a.generatedIDs == reference.generatedIDs
            if let s = b.speculation {
                result.drafted += s.drafted
                result.accepted += s.accepted
                passes += Double(s.verifyPasses + s.plainPasses)
                produced += Double(s.accepted + s.verifyPasses + s.plainPasses)
                draftSeconds += s.draftSeconds
                checkSeconds += s.verifySeconds
                checks += s.verifyPasses
            }
        }
        result.draftMillisecondsPerToken = result.drafted > 0 ? 1000 * draftSeconds / Double(result.drafted) : 0
        result.checkMillisecondsPerPass = checks > 0 ? 1000 * checkSeconds / Double(checks) : 0
        result.tokensPerTargetPass = passes > 0 ? produced / passes : 0
        return result
    }
}
