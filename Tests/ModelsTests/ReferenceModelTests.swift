import Foundation
import GGUF
import Models
import SwiftletTesting
import Testing
import Tokenizer

/// The default model against `../shared/reference/q4_1` (an independent NumPy implementation in F32
/// on dequantized weights): logits within 1e-3 × max(1, |logit|), the same top-1 wherever the
/// reference's margin is at least 0.05, and perplexity within 0.1% — on the `reference` backend
/// (weights dequantized to F32 at load, F32 compute) with an F32 KV cache. The default half-
/// precision cache rounds every key and value: logits within 1e-2 × max(1, |logit|), the same
/// top-1 at the same margins, and the perplexity test runs on it.
@Suite(.serialized) struct ReferenceModelTests {
    static let loaded: Result<(LlamaModel, Tokenizer), Error> = Result {
        let gguf = try GGUFFile(path: try Fixtures.requireDefaultModel())
        return (try LlamaModel(gguf: gguf, backend: .reference), try Tokenizer(gguf: gguf))
    }

    /// Teacher-forces prompt + greedy continuation in one batch and returns each position's logits.
    static func allLogits(_ model: LlamaModel, _ ids: [Int], cache type: KVCacheType) throws -> [[Float]] {
        let cache = try model.makeCache(capacity: ids.count, type: type)
        let scratch = model.makeScratch(maxTokens: ids.count, contextCapacity: ids.count)
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
        return (0..<ids.count).map { Array(scratch.logits(row: $0, vocabularySize: model.config.vocabularySize)) }
    }

    @Test(arguments: [(KVCacheType.f32, 1e-3), (.f16, 1e-2)])
    func logitsMatchReferenceAtEveryPosition(cache type: KVCacheType, tolerance: Double) throws {
        let (model, _) = try Self.loaded.get()
        let records = try Fixtures.referenceLines("q4_1/prompts.jsonl", as: ReferencePrompt.self)
        #expect(records.count == 6)
        for record in records {
            // Logits are listed after every token but a final end-of-generation token.
            let ids = Array(record.sequence.prefix(record.top5.count))
            #expect(record.sequence.count - ids.count <= 1)
            let logits = try Self.allLogits(model, ids, cache: type)
            for (pos, expected) in record.top5.enumerated() {
                for e in expected {
                    let got = Double(logits[pos][e.id])
                    #expect(abs(got - e.logit) <= tolerance * max(1, abs(e.logit)),
                            "\(type) \(record.prompt.prefix(20))… position \(pos) token \(e.id): \(got) vs \(e.logit)")
                }
                if record.top1Margins[pos] >= 0.05 {
                    let top1 = logits[pos].indices.max { logits[pos][$0] < logits[pos][$1] }!
                    #expect(top1 == expected[0].id, "\(type) position \(pos)")
                }
            }
        }
    }

    @Test func perplexityOnBotchanMatchesReference() throws {
        let (model, tokenizer) = try Self.loaded.get()
        let reference = try ReferencePerplexity.load()
        let (ppl, scored) = try botchanPerplexity(model, tokenizer, reference)
        print("perplexity q4_1 (reference backend): \(ppl), reference \(reference.q4_1.ppl)")
        #expect(scored == reference.scored)
        #expect(abs(ppl - reference.q4_1.ppl) <= 0.001 * reference.q4_1.ppl, "perplexity \(ppl) vs \(reference.q4_1.ppl)")
    }
}
