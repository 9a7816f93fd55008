import Engine
import Foundation
import Models
import Sampling
import SwiftletTesting
import Testing
import Tokenizer

/// Speculative decoding inside the continuous-batching engine (`serve --draft`): the tiny
/// target and draft of `SpeculativeDecodingTests` (the `simd` backend, whose rows do not depend
/// on the batch), many requests at once, prefix caching and pre-emption, against the target's
/// output alone; sampled output against the target's distribution; what is counted.
@Suite struct SpeculativeEngineTests {
    typealias Pair = SpeculativeDecodingTests

    static func config(blocks: Int? = nil, sequences: Int = 8) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.blockSize = 4
        c.kvBlocks = blocks
        c.maxBatchTokens = 24
        c.maxSequences = sequences
        c.contextSize = 128
        return c
    }

    static func engine(_ draft: DraftSource, draftTokens: Int = 4, adaptive: Bool = false, blocks: Int? = nil,
                       speculating: Int = 4, vocabulary: DraftVocabulary = .automatic) throws -> InferenceEngine {
        let (model, tokenizer) = try Pair.target.get()
        let options = SpeculationOptions(maxDraftTokens: draftTokens, adaptive: adaptive, draftVocabulary: vocabulary)
        return try InferenceEngine(model: model, tokenizer: tokenizer, configuration: config(blocks: blocks),
                                   speculation: EngineSpeculation(draft: draft, options: options, maxSequences: speculating))
    }

    /// Runs `requests` at once; results in order.
    static func run(_ engine: InferenceEngine, _ requests: [EngineRequest]) async throws -> [(ids: [Int], reason: FinishReason, usage: RequestUsage)] {
        try await withThrowingTaskGroup(of: (Int, [Int], FinishReason, RequestUsage).self) { group in
            for (i, r) in requests.enumerated() {
                group.addTask {
                    let result = try await engine.generate(r)
                    return (i, result.tokens.map(\.id), result.reason, result.usage)
                }
            }
            var out = [(ids: [Int], reason: FinishReason, usage: RequestUsage)?](repeating: nil, count: requests.count)
            for try await (i, ids, reason, usage) in group { out[i] = (ids, reason, usage) }
            return out.map { $0! }
        }
    }

    /// Prompts with a shared 12-token prefix (a prefix-cache hit after the first) and others.
    static func prompts() -> [[Int]] {
        let shared = Pair.prompts(1, seed: 5)[0] + [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        return Pair.prompts(6, seed: 42) + [shared + [20, 21], shared + [22], shared + [23, 24, 25]]
    }

    /// The last case drafts over ids 0..<16 and the text's only (`--draft-vocab`), several
    /// sequences sharing the draft's subset.
    @Test(arguments: [(4, false, 4, DraftVocabulary.automatic), (8, true, 4, .automatic), (1, false, 9, .automatic), (4, false, 4, .first(16))])
    func greedyFromManyRequestsEqualsTheTargetAlone(draftTokens: Int, adaptive: Bool, speculating: Int, vocabulary: DraftVocabulary) async throws {
        let (draftModel, draftTokenizer) = try Pair.draft.get()
        let engine = try Self.engine(.model(draftModel, draftTokenizer), draftTokens: draftTokens, adaptive: adaptive, speculating: speculating,
                                     vocabulary: vocabulary)
        defer { engine.shutdown() }
        let prompts = Self.prompts()
        let results = try await Self.run(engine, prompts.map { EngineRequest(promptTokens: $0, maxTokens: 30) })
        var drafted = 0, accepted = 0
        for (prompt, result) in zip(prompts, results) {
            let expected = try Pair.plain(prompt, maxTokens: 30)
            #expect(result.ids == expected.generatedIDs, "prompt \(prompt)")
            #expect(result.reason == expected.finishReason)
            #expect(result.usage.generatedTokens >= result.ids.count)   // an end-of-generation token counts, unseen
            drafted += result.usage.draftTokens
            accepted += result.usage.acceptedDraftTokens
        }
        let stats = try #require(engine.stats.speculation)
        #expect(stats.drafted == drafted && stats.accepted == accepted, "\(stats)")
        if !adaptive { #expect(drafted > 0) }
        // A different random model: some drafts are rejected, so the replacement path ran.
        #expect(accepted < drafted || drafted == 0)
        #expect(engine.stats.prefixHitTokens > 0)
        #expect(engine.stats.usedBlocks == 0)
    }

    /// The target as its own draft in a pool too small for all: every draft is kept, and
    /// pre-empted requests (their blocks and the draft's entries in them gone) still finish
    /// with the target's output.
    @Test func theTargetAsItsOwnDraftUnderPreemption() async throws {
        let (model, tokenizer) = try Pair.target.get()
        let engine = try Self.engine(.model(model, tokenizer), blocks: 24, speculating: 8)
        defer { engine.shutdown() }
        let prompts = Pair.prompts(8, seed: 11)
        let results = try await Self.run(engine, prompts.map { EngineRequest(promptTokens: $0, maxTokens: 40) })
        for (prompt, result) in zip(prompts, results) {
            #expect(result.ids == (try Pair.plain(prompt, maxTokens: 40)).generatedIDs, "prompt \(prompt)")
        }
        let stats = try #require(engine.stats.speculation)
        #expect(stats.drafted > 0 && stats.accepted == stats.drafted, "\(stats)")
        #expect(engine.stats.preemptions > 0)
    }

    @Test func greedyWithPromptLookupEqualsTheTargetAlone() async throws {
        let engine = try Self.engine(.promptLookup(minNgram: 1, maxNgram: 3), draftTokens: 5)
        defer { engine.shutdown() }
        let prompts = Self.prompts()
        let results = try await Self.run(engine, prompts.map { EngineRequest(promptTokens: $0, maxTokens: 30) })
        for (prompt, result) in zip(prompts, results) {
            #expect(result.ids == (try Pair.plain(prompt, maxTokens: 30)).generatedIDs, "prompt \(prompt)")
        }
        #expect((engine.stats.speculation?.drafted ?? 0) > 0)
    }

    /// Requests with repetition penalties decode plainly beside speculating ones; more decoding
    /// sequences than `maxSequences` turn speculation off for the step.
    @Test func penaltiesAndLargeBatchesDecodePlainly() async throws {
        let (draftModel, draftTokenizer) = try Pair.draft.get()
        let engine = try Self.engine(.model(draftModel, draftTokenizer), speculating: 2)
        defer { engine.shutdown() }
        let prompt = Pair.prompts(1, seed: 3)[0]
        let penalised = EngineRequest(promptTokens: prompt, maxTokens: 20, penalties: Penalties(frequency: 0.5))
        let results = try await Self.run(engine, [penalised, EngineRequest(promptTokens: prompt, maxTokens: 20)])
        #expect(results[0].usage.draftTokens == 0)
        #expect(results[1].usage.draftTokens > 0)
        #expect(results[1].ids == (try Pair.plain(prompt, maxTokens: 20)).generatedIDs)

        // Six submitted at once, in lockstep (3-token prompts, all prefilled in the same step):
        // six sequences decode in every step, so none drafts.
        let before = try #require(engine.stats.speculation).drafted
        for stream in try engine.submit((0..<6).map { _ in EngineRequest(promptTokens: [10, 11, 12], maxTokens: 3) }, waitingLimit: nil) {
            for try await _ in stream {}
        }
        #expect(engine.stats.speculation?.drafted == before)
    }

    /// Sampling at temperature 1 through the engine, many sequences drafting in each step: the
    /// second token (the first a draft proposes) fits the target's exact marginal and not the
    /// draft's (as in `SpeculativeDecodingTests.sampledTokensFollowTheTargetsDistribution`).
    @Test func sampledTokensFollowTheTargetsDistribution() async throws {
        let (model, tokenizer) = try Pair.target.get()
        let (draftModel, draftTokenizer) = try Pair.draft.get()
        var c = Self.config(sequences: 32)
        c.maxBatchTokens = 256
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: c,
                                         speculation: EngineSpeculation(draft: .model(draftModel, draftTokenizer),
                                                                        options: SpeculationOptions(maxDraftTokens: 1, adaptive: false), maxSequences: 32))
        defer { engine.shutdown() }
        let prompt = [10, 11, 12, 13]
        let vocab = model.config.vocabularySize
        let runs = 3000
        var counts = [Double](repeating: 0, count: vocab)
        var drafted = 0, accepted = 0
        for batch in stride(from: 0, to: runs, by: 32) {
            let requests = (batch..<min(runs, batch + 32)).map {
                EngineRequest(promptTokens: prompt, maxTokens: 3, sampling: SamplingParameters(temperature: 1, seed: UInt64($0) &* 7919 &+ 1))
            }
            for result in try await Self.run(engine, requests) {
                drafted += result.usage.draftTokens
                accepted += result.usage.acceptedDraftTokens
                guard result.ids.count >= 2 else { continue }   // ended on end-of-sequence
                counts[result.ids[1]] += 1
            }
        }
        #expect(drafted > runs / 2 && accepted < drafted && accepted > 0, "drafted \(drafted), accepted \(accepted)")
        Pair.expectFitsTargetNotDraft(counts, target: try Pair.secondTokenMarginal(model, prompt: prompt, tokenizer: tokenizer),
                                      draft: try Pair.secondTokenMarginal(draftModel, prompt: prompt, tokenizer: tokenizer), tokenizer: tokenizer,
                                      label: "engine speculative sampling: \(accepted) of \(drafted) drafts accepted")
    }

    @Test func aDraftWithAnotherVocabularyIsRefused() throws {
        let (model, tokenizer) = try Pair.target.get()
        let (draftModel, draftTokenizer) = try Pair.otherVocabularyDraft()
        #expect(throws: Pair.otherVocabularyRefusal) {
            _ = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config(),
                                    speculation: EngineSpeculation(draft: .model(draftModel, draftTokenizer)))
        }
    }
}
