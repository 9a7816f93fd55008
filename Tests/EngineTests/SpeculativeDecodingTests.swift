import Engine
import Foundation
import GGUF
import Models
import Sampling
import SwiftletTesting
import Testing
import Tokenizer

/// Speculative decoding on tiny random models (a target and a different draft with the same
/// vocabulary): greedy output equal to the target's alone token for token, whatever the draft
/// and the draft length; sampled output following the target's distribution; prompt lookup; and
/// the refusals. The `simd` backend keeps every pass on the same F32 kernels whatever its row
/// count, so the target's logits do not depend on how many drafts a pass checks.
@Suite struct SpeculativeDecodingTests {
    static func load(_ tiny: TinyLlama) throws -> (any CausalLM, Tokenizer) {
        let gguf = try tiny.open()
        return (try ModelLoader.load(gguf, backend: .simd), try Tokenizer(gguf: gguf))
    }

    static let target = Result { try load(TinyLlama(layers: 2, hidden: 64, context: 128, seed: 1)) }
    static let draft = Result { try load(TinyLlama(layers: 1, hidden: 32, feedForward: 48, heads: 2, kvHeads: 1, context: 128, seed: 2)) }

    /// Seeded prompts of control-free token ids (3…32).
    static func prompts(_ count: Int, seed: UInt64) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in (0..<(3 + Int(rng.next() % 12))).map { _ in 3 + Int(rng.next() % 30) } }
    }

    static func plain(_ promptIDs: [Int], maxTokens: Int) throws -> GenerationResult {
        let (model, tokenizer) = try target.get()
        let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 128)
        return try generator.generate(promptIDs: promptIDs, options: GenerationOptions(maxTokens: maxTokens)) { _ in }
    }

    @Test(arguments: [(1, false), (3, false), (8, false), (8, true)])
    func greedyWithADraftModelEqualsTheTargetAlone(draftTokens: Int, adaptive: Bool) throws {
        let (model, tokenizer) = try Self.target.get()
        let (draftModel, draftTokenizer) = try Self.draft.get()
        let generator = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(draftModel, draftTokenizer),
                                                 contextSize: 128, speculation: SpeculationOptions(maxDraftTokens: draftTokens, adaptive: adaptive),
                                                 chunkSize: 5)
        var drafted = 0, accepted = 0
        for prompt in Self.prompts(6, seed: 42) {
            let expected = try Self.plain(prompt, maxTokens: 40)
            var text = ""
            let result = try generator.generate(promptIDs: prompt, options: GenerationOptions(maxTokens: 40)) { text += $0 }
            #expect(result.generatedIDs == expected.generatedIDs, "prompt \(prompt)")
            #expect(result.finishReason == expected.finishReason)
            #expect(text == tokenizer.decode(expected.generatedIDs))
            let stats = try #require(result.speculation)
            drafted += stats.drafted
            accepted += stats.accepted
        }
        if !adaptive { #expect(drafted > 0) }
        // A different random model: some drafts are rejected, so the replacement path ran.
        #expect(accepted < drafted || drafted == 0)
    }

    /// A draft that scores only part of the vocabulary (`--draft-vocab`): the output is still the
    /// target's, token for token, and a draft outside the subset is never proposed.
    @Test func greedyWithANarrowDraftVocabularyEqualsTheTargetAlone() throws {
        let (model, tokenizer) = try Self.target.get()
        let generator = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(model, tokenizer), contextSize: 128,
                                                 speculation: SpeculationOptions(maxDraftTokens: 4, adaptive: false, draftVocabulary: .first(16)))
        var drafted = 0, accepted = 0
        for prompt in Self.prompts(6, seed: 11) {
            let expected = try Self.plain(prompt, maxTokens: 30)
            let result = try generator.generate(promptIDs: prompt, options: GenerationOptions(maxTokens: 30)) { _ in }
            #expect(result.generatedIDs == expected.generatedIDs, "prompt \(prompt)")
            let stats = try #require(result.speculation)
            drafted += stats.drafted
            accepted += stats.accepted
        }
        // The target drafting for itself over ids 0..<16 and the text's: the rejections are its
        // own choices of ids it has not seen yet.
        #expect(drafted > 0 && accepted > 0)
        #expect(throws: SpeculationError.invalidDraftVocabulary(8)) {
            try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(model, tokenizer), contextSize: 128,
                                     speculation: SpeculationOptions(draftVocabulary: .first(8)))
        }
    }

    /// The target as its own draft: every draft token is accepted, K + 1 tokens per pass.
    @Test func theTargetAsItsOwnDraftIsAlwaysAccepted() throws {
        let (model, tokenizer) = try Self.target.get()
        let generator = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(model, tokenizer), contextSize: 128,
                                                 speculation: SpeculationOptions(maxDraftTokens: 4, adaptive: false))
        let prompt = Self.prompts(1, seed: 9)[0]
        let expected = try Self.plain(prompt, maxTokens: 31)
        let result = try generator.generate(promptIDs: prompt, options: GenerationOptions(maxTokens: 31)) { _ in }
        #expect(result.generatedIDs == expected.generatedIDs)
        let stats = try #require(result.speculation)
        #expect(stats.drafted > 0 && stats.accepted == stats.drafted, "\(stats)")
        if expected.generatedIDs.count == 31 { #expect(stats.verifyPasses == 6 && stats.plainPasses == 0) }
    }

    @Test(arguments: [(1, 1), (1, 3), (2, 4)])
    func greedyWithPromptLookupEqualsTheTargetAlone(minNgram: Int, maxNgram: Int) throws {
        let (model, tokenizer) = try Self.target.get()
        let generator = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .promptLookup(minNgram: minNgram, maxNgram: maxNgram),
                                                 contextSize: 128, speculation: SpeculationOptions(maxDraftTokens: 5, adaptive: false))
        var drafted = 0
        for prompt in Self.prompts(6, seed: 7) {
            let expected = try Self.plain(prompt, maxTokens: 48)
            let result = try generator.generate(promptIDs: prompt, options: GenerationOptions(maxTokens: 48)) { _ in }
            #expect(result.generatedIDs == expected.generatedIDs, "prompt \(prompt)")
            drafted += result.speculation?.drafted ?? 0
        }
        #expect(drafted > 0)
    }

    @Test func promptLookupTakesTheLatestLongestMatch() {
        // The last 2 tokens (7, 8) occur at 0 and 4; the latest is followed by 5, 7, 8.
        let tokens = [7, 8, 1, 2, 7, 8, 5, 7, 8]
        #expect(PromptLookup.draft(tokens, minNgram: 1, maxNgram: 3, limit: 3) == [5, 7, 8])
        #expect(PromptLookup.draft(tokens, minNgram: 1, maxNgram: 3, limit: 1) == [5])
        // 3-gram (5, 7, 8) never occurred before: the 2-gram decides.
        #expect(PromptLookup.draft(tokens, minNgram: 3, maxNgram: 3, limit: 3) == [])
        #expect(PromptLookup.draft([4, 4, 4], minNgram: 1, maxNgram: 2, limit: 4) == [4])
        #expect(PromptLookup.draft([1, 2, 3], minNgram: 1, maxNgram: 2, limit: 4) == [])
        #expect(PromptLookup.draft([1], minNgram: 1, maxNgram: 2, limit: 4) == [])
    }

    /// Sampling at temperature 1: the second generated token (the first one a draft can
    /// propose) follows the target's distribution. Its exact marginal, Σ p(t1)·p(t2 | t1), is
    /// computed from the target; 4,000 seeded runs drafting one token each must fit it
    /// (chi-square over the cells expected at least 5 times, p > 0.001), and the draft's own
    /// marginal must not (the test can tell the two apart).
    @Test func sampledTokensFollowTheTargetsDistribution() throws {
        let (model, tokenizer) = try Self.target.get()
        let (draftModel, draftTokenizer) = try Self.draft.get()
        let prompt = [10, 11, 12, 13]
        let vocab = model.config.vocabularySize
        let expected = try Self.secondTokenMarginal(model, prompt: prompt, tokenizer: tokenizer)
        let draftMarginal = try Self.secondTokenMarginal(draftModel, prompt: prompt, tokenizer: tokenizer)

        let generator = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(draftModel, draftTokenizer),
                                                 contextSize: 32, speculation: SpeculationOptions(maxDraftTokens: 1, adaptive: false))
        let runs = 4000
        var counts = [Double](repeating: 0, count: vocab)
        var drafted = 0, accepted = 0
        for seed in 0..<runs {
            // Three tokens: the first from the prompt pass, the second drafted and checked.
            let options = GenerationOptions(maxTokens: 3, sampling: SamplingParameters(temperature: 1, seed: UInt64(seed) &* 7919 &+ 1))
            let result = try generator.generate(promptIDs: prompt, options: options) { _ in }
            guard result.generatedIDs.count >= 2 else { continue }   // ended on end-of-sequence
            counts[result.generatedIDs[1]] += 1
            drafted += result.speculation?.drafted ?? 0
            accepted += result.speculation?.accepted ?? 0
        }
        #expect(drafted > runs / 2 && accepted < drafted && accepted > 0, "drafted \(drafted), accepted \(accepted)")
        Self.expectFitsTargetNotDraft(counts, target: expected, draft: draftMarginal, tokenizer: tokenizer,
                                      label: "speculative sampling: \(accepted) of \(drafted) drafts accepted")
    }

    /// Second-token counts fit the target's marginal and not the draft's (chi-square at
    /// p = 0.001). The end-of-sequence token ends generation before a second token, so it is
    /// dropped from both.
    static func expectFitsTargetNotDraft(_ counts: [Double], target: [Double], draft: [Double], tokenizer: Tokenizer, label: String) {
        var target = target, draftOnly = draft
        for id in counts.indices where tokenizer.isEndOfGeneration(id) { target[id] = 0; draftOnly[id] = 0 }
        let fit = chiSquare(counts, target), wrong = chiSquare(counts, draftOnly)
        print("\(label): chi-square \(fit.statistic) over \(fit.cells) cells against the target (critical \(critical(fit.cells - 1))), "
              + "\(wrong.statistic) against the draft")
        #expect(fit.statistic < critical(fit.cells - 1))
        #expect(wrong.statistic > critical(wrong.cells - 1))
    }

    /// The exact marginal of the second sampled token at temperature 1, Σ p(t1)·p(t2 | t1),
    /// over first tokens that do not end generation.
    static func secondTokenMarginal(_ m: any CausalLM, prompt: [Int], tokenizer: Tokenizer) throws -> [Double] {
        let vocab = m.config.vocabularySize
        let cache = try m.makeCache(capacity: 16), scratch = m.makeScratch(maxTokens: 8, contextCapacity: 16, allLogits: false)
        try prompt.withUnsafeBufferPointer { try m.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: false) }
        var sampler = Sampler(SamplingParameters(temperature: 1))
        let first = sampler.distribution(scratch.logits(row: 0, vocabularySize: vocab))
        var result = [Double](repeating: 0, count: vocab)
        for (t1, p1) in zip(first.ids, first.probabilities) where !tokenizer.isEndOfGeneration(t1) {
            try m.forward(token: t1, position: prompt.count, cache: cache, scratch: scratch)
            let second = sampler.distribution(scratch.logits(row: 0, vocabularySize: vocab))
            for (t2, p2) in zip(second.ids, second.probabilities) { result[t2] += Double(p1) * Double(p2) }
        }
        return result
    }

    /// Pearson's statistic of `counts` against `probabilities` (renormalized), over the cells
    /// expected at least 5 times plus one cell for the rest.
    static func chiSquare(_ counts: [Double], _ probabilities: [Double]) -> (statistic: Double, cells: Int) {
        let total = counts.reduce(0, +)
        let mass = probabilities.reduce(0, +)
        var statistic = 0.0, cells = 0, restExpected = 0.0, restObserved = 0.0
        for id in counts.indices {
            let e = probabilities[id] / mass * total
            if e >= 5 { statistic += (counts[id] - e) * (counts[id] - e) / e; cells += 1 } else { restExpected += e; restObserved += counts[id] }
        }
        if restExpected > 0 { statistic += (restObserved - restExpected) * (restObserved - restExpected) / restExpected; cells += 1 }
        return (statistic, cells)
    }

    /// 99.9th percentile of chi-square with df degrees of freedom (Wilson–Hilferty).
    static func critical(_ df: Int) -> Double {
        let d = Double(df), z = 3.0902
        return d * pow(1 - 2 / (9 * d) + z * (2 / (9 * d)).squareRoot(), 3)
    }

    /// A draft whose token 5 is "zz" where the target's is "c", and the refusal it must get.
    static func otherVocabularyDraft() throws -> (any CausalLM, Tokenizer) {
        var other = TinyLlama(layers: 1, hidden: 32, feedForward: 48, heads: 2, kvHeads: 1, seed: 3)
        var tokens = TinyLlama.tokens
        tokens[5] = "zz"
        other.set("tokenizer.ggml.tokens", .array(.string(tokens)))
        return try load(other)
    }
    static let otherVocabularyRefusal = SpeculationError.vocabularyMismatch("token 5 is \"zz\" in the draft and \"c\" in the target")

    @Test func aDraftWithAnotherVocabularyIsRefused() throws {
        let (model, tokenizer) = try Self.target.get()
        let (draftModel, draftTokenizer) = try Self.otherVocabularyDraft()
        #expect(throws: Self.otherVocabularyRefusal) {
            _ = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .model(draftModel, draftTokenizer), contextSize: 64)
        }
        #expect(throws: SpeculationError.invalidDraftTokens(0)) {
            _ = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .promptLookup(minNgram: 1, maxNgram: 2), contextSize: 64,
                                         speculation: SpeculationOptions(maxDraftTokens: 0))
        }
        #expect(throws: SpeculationError.invalidNgram(min: 3, max: 2)) {
            _ = try SpeculativeGenerator(target: model, tokenizer: tokenizer, draft: .promptLookup(minNgram: 3, maxNgram: 2), contextSize: 64)
        }
    }
}

/// The student and teacher pair of `../shared/reference`: Qwen2.5-Coder 0.5B drafting for 1.5B,
/// greedy, on the 1.5B reference prompts (chat record included), and prompt lookup on the same:
/// the output equals the 1.5B model's alone, token for token, on the `auto` backend (the
/// interleaved integer kernels, whose rows do not depend on the batch).
@Suite(.serialized) struct SpeculativeTeacherStudentTests {
    /// And the same through the engine, as `serve --draft` runs it (one request at a time: a
    /// batch of plain decodes takes other kernels than one row on builds without the
    /// interleaved ones, so only single requests are compared with the generator here).
    @Test func studentDraftingForTheTeacherKeepsTheTeachersGreedyOutput() async throws {
        let teacherFile = try GGUFFile(path: try Fixtures.requireModel(.qwen15))
        let studentFile = try GGUFFile(path: try Fixtures.requireModel(.qwen05))
        let teacher = try ModelLoader.load(teacherFile, backend: .auto), tokenizer = try Tokenizer(gguf: teacherFile)
        let student = try ModelLoader.load(studentFile, backend: .auto), studentTokenizer = try Tokenizer(gguf: studentFile)
        let plain = try Generator(model: teacher, tokenizer: tokenizer, contextSize: 256)
        let drafted = try SpeculativeGenerator(target: teacher, tokenizer: tokenizer, draft: .model(student, studentTokenizer), contextSize: 256,
                                               speculation: SpeculationOptions(maxDraftTokens: 4, adaptive: false))
        let lookup = try SpeculativeGenerator(target: teacher, tokenizer: tokenizer, draft: .promptLookup(minNgram: 1, maxNgram: 3),
                                              contextSize: 256, speculation: SpeculationOptions(maxDraftTokens: 4, adaptive: false))
        var config = EngineConfiguration()
        config.contextSize = 256
        config.kvMemoryBytes = 64 << 20
        let engine = try InferenceEngine(model: teacher, tokenizer: tokenizer, configuration: config,
                                         speculation: EngineSpeculation(draft: .model(student, studentTokenizer),
                                                                        options: SpeculationOptions(maxDraftTokens: 4, adaptive: false)))
        defer { engine.shutdown() }
        for record in try Fixtures.referenceLines("qwen2.5-coder-1.5b/prompts.jsonl", as: ReferencePrompt.self) {
            let options = GenerationOptions(maxTokens: 32)
            let expected = try plain.generate(promptIDs: record.promptIDs, options: options) { _ in }
            let withStudent = try drafted.generate(promptIDs: record.promptIDs, options: options) { _ in }
            let withLookup = try lookup.generate(promptIDs: record.promptIDs, options: options) { _ in }
            #expect(withStudent.generatedIDs == expected.generatedIDs, "student draft: \(record.prompt.prefix(30))")
            #expect(withLookup.generatedIDs == expected.generatedIDs, "prompt lookup: \(record.prompt.prefix(30))")
            let served = try await engine.generate(EngineRequest(promptTokens: record.promptIDs, maxTokens: 32))
            #expect(served.tokens.map(\.id) == expected.generatedIDs, "engine with the student's drafts: \(record.prompt.prefix(30))")
            #expect(served.usage.draftTokens > 0)
            let s = try #require(withStudent.speculation)
            print("\(record.prompt.prefix(24).debugDescription): student drafts \(s.accepted)/\(s.drafted) accepted; "
                  + "lookup \(withLookup.speculation?.accepted ?? 0)/\(withLookup.speculation?.drafted ?? 0)")
            #expect(s.drafted > 0)
        }
    }
}
