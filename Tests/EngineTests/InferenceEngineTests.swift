import Engine
import Foundation
import GGUF
import Models
import Sampling
import SwiftletTesting
import Testing
import Tokenizer

/// The continuous-batching engine on a tiny random model: the same greedy tokens as the
/// single-sequence generator, whatever else runs; cancellation; prefix caching; usage; errors.
/// The model has F32 weights on the `simd` backend, whose row-by-row dot products are the same
/// arithmetic at every batch size, so outputs must match exactly (quantized weights take the
/// integer kernels alone and the F32 panel gemm in batches: see PagedBatchTests for those).
@Suite struct InferenceEngineTests {
    static func tiny(context: Int = 256) throws -> (LlamaModel, Tokenizer) {
        let gguf = try TinyLlama(context: context, type: .f32).open()
        return (try LlamaModel(gguf: gguf, backend: .simd, threads: 2), try Tokenizer(gguf: gguf))
    }

    static func config(blocks: Int? = nil, blockSize: Int = 4, batchTokens: Int = 32, sequences: Int = 8) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.blockSize = blockSize
        c.kvBlocks = blocks
        c.maxBatchTokens = batchTokens
        c.maxSequences = sequences
        return c
    }

    static func prompt(_ n: Int, seed: Int) -> [Int] { (0..<n).map { 3 + ($0 * 7 + seed * 13) % 26 } }

    /// Greedy ids of the single-sequence generator (ends at end-of-generation or the limit).
    static func generatorIDs(_ model: LlamaModel, _ tokenizer: Tokenizer, _ prompt: [Int], _ n: Int) throws -> [Int] {
        let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 256, chunkSize: 64)
        return try generator.generate(promptIDs: prompt, options: GenerationOptions(maxTokens: n)) { _ in }.generatedIDs
    }

    @Test func concurrentGreedyMatchesGeneratorAlone() async throws {
        let (model, tokenizer) = try Self.tiny()
        // A small batch budget: long prompts are prefilled in chunks between others' decode steps.
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config(batchTokens: 24))
        defer { engine.shutdown() }
        let prompts = (0..<12).map { Self.prompt(3 + 9 * $0, seed: $0) }
        let results = try await withThrowingTaskGroup(of: (Int, [Int], FinishReason, RequestUsage).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask {
                    let r = try await engine.generate(EngineRequest(promptTokens: p, maxTokens: 20))
                    return (i, r.tokens.map(\.id), r.reason, r.usage)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2, $1.3) }
        }
        for (i, p) in prompts.enumerated() {
            let expected = try Self.generatorIDs(model, tokenizer, p, 20)
            let (ids, reason, usage) = results[i]!
            #expect(ids == expected, "request \(i)")
            #expect(reason == (expected.count < 20 ? .stop : .length))
            #expect(usage.promptTokens == p.count)
            #expect(usage.generatedTokens >= ids.count)
            #expect(usage.timeToFirstToken >= usage.queueSeconds)
        }
        let stats = engine.stats
        #expect(stats.running == 0 && stats.waiting == 0 && stats.usedBlocks == 0)
    }

    /// A pool too small for everyone at once forces pre-emption; outputs stay the same.
    @Test func preemptedRequestsRecomputeAndFinish() async throws {
        // Context 64: the pool's floor (one full-length sequence) is 16 blocks of 4, below the 24 asked for.
        let (model, tokenizer) = try Self.tiny(context: 64)
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config(blocks: 24, sequences: 8))
        defer { engine.shutdown() }
        let prompts = (0..<6).map { Self.prompt(10 + $0, seed: $0 + 20) }
        let outputs = try await withThrowingTaskGroup(of: (Int, [Int], Int).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask {
                    let r = try await engine.generate(EngineRequest(promptTokens: p, maxTokens: 30, ignoreEndOfGeneration: true))
                    return (i, r.tokens.map(\.id), r.usage.preemptions)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
        }
        #expect(outputs.values.map(\.1).reduce(0, +) > 0, "the pool should have forced a pre-emption")
        for (i, p) in prompts.enumerated() {
            let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 64)
            // The generator stops at end-of-generation; compare the common prefix.
            let ids = try generator.generate(promptIDs: p, options: GenerationOptions(maxTokens: 30)) { _ in }.generatedIDs
            #expect(Array(outputs[i]!.0.prefix(ids.count)) == ids, "request \(i)")
            #expect(outputs[i]!.0.count == 30)
        }
        #expect(engine.stats.usedBlocks == 0)
    }

    @Test func sharedPrefixIsServedFromTheCache() async throws {
        let (model, tokenizer) = try Self.tiny()
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config())
        defer { engine.shutdown() }
        let prefix = Self.prompt(18, seed: 5)   // four full blocks of 4, and two tokens
        let first = try await engine.generate(EngineRequest(promptTokens: prefix + [7, 8], maxTokens: 3))
        #expect(first.usage.cachedPromptTokens == 0)
        let second = try await engine.generate(EngineRequest(promptTokens: prefix + [9], maxTokens: 3))
        #expect(second.usage.cachedPromptTokens == 16)
        let alone = try Self.generatorIDs(model, tokenizer, prefix + [9], 3)
        #expect(second.tokens.map(\.id) == alone)
        #expect(engine.stats.prefixHitTokens == 16)
        // A prompt that is exactly cached blocks still recomputes its last token.
        let exact = try await engine.generate(EngineRequest(promptTokens: Array(prefix.prefix(16)), maxTokens: 1))
        #expect(exact.usage.cachedPromptTokens == 12)
    }

    /// Cancelling the task that reads a stream ends the request and returns its blocks.
    @Test func cancellingTheReaderFreesTheRequest() async throws {
        let (model, tokenizer) = try Self.tiny()
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config())
        defer { engine.shutdown() }
        let stream = try engine.submit(EngineRequest(promptTokens: Self.prompt(20, seed: 1), maxTokens: 200, ignoreEndOfGeneration: true))
        let reader = Task {
            var n = 0
            for try await event in stream { if case .token = event { n += 1 } }
            return n
        }
        while engine.stats.steps < 3 { try await Task.sleep(nanoseconds: 1_000_000) }
        reader.cancel()
        _ = try? await reader.value
        var waited = 0
        while engine.stats.running > 0 || engine.stats.usedBlocks > 0 {
            try await Task.sleep(nanoseconds: 1_000_000)
            waited += 1
            if waited > 5000 { break }
        }
        #expect(engine.stats.running == 0)
        #expect(engine.stats.usedBlocks == 0)
    }

    /// A thousand requests, a random share of them cancelled at random points: every block comes
    /// back and nothing is left running.
    @Test func thousandRequestsWithRandomCancellations() async throws {
        let (model, tokenizer) = try Self.tiny()
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config(blocks: 64, batchTokens: 64, sequences: 16))
        defer { engine.shutdown() }
        var reasons: [FinishReason: Int] = [:]
        try await withThrowingTaskGroup(of: FinishReason?.self) { group in
            for i in 0..<1000 {
                let prompt = Self.prompt(1 + (i * 37) % 40, seed: i % 7)
                let cancelAfter = i % 3 == 0 ? (i / 3) % 6 : -1
                group.addTask {
                    let stream = try engine.submit(EngineRequest(promptTokens: prompt, maxTokens: 1 + i % 9, ignoreEndOfGeneration: i % 2 == 0))
                    var seen = 0
                    for try await event in stream {
                        switch event {
                        case .token:
                            seen += 1
                            if seen == cancelAfter { return nil }   // leaving the loop drops the stream: cancelled
                        case .text: break
                        case .finished(let reason, _): return reason
                        }
                    }
                    return nil
                }
            }
            for try await reason in group { if let reason { reasons[reason, default: 0] += 1 } }
        }
        var waited = 0
        while engine.stats.running + engine.stats.waiting > 0 || engine.stats.usedBlocks > 0 {
            try await Task.sleep(nanoseconds: 1_000_000)
            waited += 1
            if waited > 10_000 { break }
        }
        #expect(engine.stats.running == 0 && engine.stats.waiting == 0)
        #expect(engine.stats.usedBlocks == 0)
        #expect((reasons[.length] ?? 0) + (reasons[.stop] ?? 0) > 500)
    }

    @Test func logprobsAndStopStrings() async throws {
        let (model, tokenizer) = try Self.tiny()
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config())
        defer { engine.shutdown() }
        let r = try await engine.generate(EngineRequest(promptTokens: Self.prompt(6, seed: 2), maxTokens: 5, logprobs: 3, ignoreEndOfGeneration: true))
        for t in r.tokens {
            #expect(t.topLogprobs.count == 3)
            #expect(t.topLogprobs[0].id == t.id)                     // greedy picks the most likely
            #expect(abs(t.topLogprobs[0].logprob - t.logprob!) < 1e-6)
            #expect(t.topLogprobs[0].logprob >= t.topLogprobs[1].logprob && t.topLogprobs[1].logprob >= t.topLogprobs[2].logprob)
            #expect(t.logprob! <= 0)
        }
        let text = r.tokens.map(\.text).joined()
        guard let stop = text.dropFirst(2).first.map(String.init) else { return }
        let stopped = try await engine.generate(EngineRequest(promptTokens: Self.prompt(6, seed: 2), maxTokens: 5, stopStrings: [stop], ignoreEndOfGeneration: true))
        #expect(stopped.reason == .stop)
        #expect(!stopped.tokens.map(\.text).joined().contains(stop))
    }

    @Test func invalidRequestsAreRefused() throws {
        let (model, tokenizer) = try Self.tiny(context: 64)
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config())
        defer { engine.shutdown() }
        #expect(throws: EngineError.emptyPrompt) { try engine.submit(EngineRequest(promptTokens: [])) }
        #expect(throws: EngineError.promptTooLong(tokens: 64, context: 64)) { try engine.submit(EngineRequest(promptTokens: Array(repeating: 5, count: 64))) }
        #expect(throws: EngineError.tokenOutOfRange(id: 999, vocabularySize: model.config.vocabularySize)) { try engine.submit(EngineRequest(promptTokens: [999])) }
        #expect(throws: EngineError.invalidMaxTokens(0)) { try engine.submit(EngineRequest(promptTokens: [5], maxTokens: 0)) }
        #expect(throws: EngineError.tooManyLogprobs(21)) { try engine.submit(EngineRequest(promptTokens: [5], logprobs: 21)) }
        #expect(throws: EngineError.self) { try engine.submit(EngineRequest(promptTokens: [5], sampling: SamplingParameters(temperature: .nan))) }
        #expect(throws: EngineError.self) { try engine.submit(EngineRequest(promptTokens: [5], penalties: Penalties(frequency: 3))) }
        engine.shutdown()
        #expect(throws: EngineError.shutDown) { try engine.submit(EngineRequest(promptTokens: [5])) }
    }

    /// A server giving up at shutdown: every unfinished request's stream throws `shutDown`
    /// (finished ones keep their normal end), and later submissions are refused.
    @Test func shutdownFailingUnfinishedEndsTheRestWithAnError() async throws {
        let (model, tokenizer) = try Self.tiny()
        let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: Self.config(sequences: 1))
        // One sequence at a time and 20 long requests: most are still queued at the shutdown.
        let streams = try (0..<20).map { i in
            var r = EngineRequest(promptTokens: Self.prompt(5, seed: i), maxTokens: 200)
            r.ignoreEndOfGeneration = true
            return try engine.submit(r)
        }
        engine.shutdown(failingUnfinished: true)
        var finished = 0, failed = 0
        for stream in streams {
            do {
                for try await event in stream { if case .finished = event { finished += 1 } }
            } catch let e as EngineError {
                #expect(e == .shutDown)
                failed += 1
            }
        }
        #expect(finished + failed == 20 && failed >= 1)
        #expect(throws: EngineError.shutDown) { try engine.submit(EngineRequest(promptTokens: [3, 4], maxTokens: 1)) }
    }
}
