import Foundation
import GGUF
import Kernels
import Models
import SwiftletTesting
import Testing

/// One contract run over every registered architecture, on tiny synthetic files with F32 weights
/// (`Fixtures/architectures/*.gguf`) whose logits an independent NumPy implementation computed
/// (`scripts/make-architecture-fixtures`; `scripts/check-numpy-reference` holds that
/// implementation to the real models' reference outputs):
/// - logits within 1e-3 × max(1, |logit|) of the reference, on the exact F32 path;
/// - a prompt in one pass equals the same prompt fed token by token (batched == incremental);
/// - two sequences in scattered blocks of a paged cache, batched together, equal each alone
///   (paged == contiguous).
@Suite struct ArchitectureContractTests {
    struct Reference: Decodable {
        let architecture: String
        let tokens: [Int]
        let logits: [[Float]]
    }

    /// Every fixture: llama (tied), llama3 (rope_freqs), qwen2, qwen3, phi3, gemma3 (windows of 4).
    static let fixtures = ["llama", "llama3", "qwen2", "qwen3", "phi3", "gemma3"]
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/architectures")

    static func load(_ name: String, backend: MatmulBackend) throws -> (any CausalLM, Reference) {
        let gguf = try GGUFFile(path: directory.appendingPathComponent("\(name).gguf").path)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: directory.appendingPathComponent("\(name).json")))
        return (try ModelLoader.load(gguf, backend: backend, threads: 2), reference)
    }

    /// Logits of `ids` in one pass from an empty contiguous cache, one row per token.
    static func onePass(_ model: any CausalLM, _ ids: [Int], kv: KVCacheType = .f32) throws -> [[Float]] {
        let cache = try model.makeCache(capacity: ids.count, type: kv)
        let scratch = model.makeScratch(maxTokens: ids.count, contextCapacity: ids.count)
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
        return (0..<ids.count).map { Array(scratch.logits(row: $0, vocabularySize: model.config.vocabularySize)) }
    }

    static func worst(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
    }

    @Test func everyRegisteredArchitectureHasAFixture() throws {
        var covered: Set<String> = []
        for name in Self.fixtures { covered.insert(try Self.load(name, backend: .reference).1.architecture) }
        #expect(covered == Set(ModelLoader.supportedArchitectures))
    }

    @Test(arguments: fixtures)
    func logitsMatchNumPyReference(_ name: String) throws {
        let (model, reference) = try Self.load(name, backend: .reference)
        #expect(model.architecture == reference.architecture)
        let got = try Self.onePass(model, reference.tokens)
        for (pos, (row, expected)) in zip(got, reference.logits).enumerated() {
            let w = Self.worst(row, expected)
            #expect(w <= 1e-3, "\(name) position \(pos): worst relative difference \(w)")
        }
    }

    @Test(arguments: fixtures, [MatmulBackend.auto, .simd])
    func batchedEqualsIncremental(_ name: String, _ backend: MatmulBackend) throws {
        let (model, reference) = try Self.load(name, backend: backend)
        let ids = reference.tokens
        let batched = try Self.onePass(model, ids)
        let cache = try model.makeCache(capacity: ids.count, type: .f32)
        let scratch = model.makeScratch(maxTokens: 1, contextCapacity: ids.count, allLogits: false)
        for (pos, id) in ids.enumerated() {
            try model.forward(token: id, position: pos, cache: cache, scratch: scratch)
            let w = Self.worst(Array(scratch.logits(row: 0, vocabularySize: model.config.vocabularySize)), batched[pos])
            #expect(w <= 1e-4, "\(name) \(backend) position \(pos): \(w)")
        }
    }

    @Test(arguments: fixtures)
    func pagedEqualsContiguous(_ name: String) throws {
        let (model, reference) = try Self.load(name, backend: .simd)
        let a = reference.tokens, b = Array(reference.tokens.reversed().prefix(7))
        let cache = model.makePagedCache(blockCount: 8, blockSize: 4, type: .f32)
        let scratch = model.makeScratch(maxTokens: 32, contextCapacity: 16, logitRows: 32)
        let batch = ForwardBatch(capacity: 32, maxSequences: 2, maxBlockEntries: 8)
        let tables = [[6, 1, 4], [0, 7]]
        var rows: [Range<Int>] = []
        rows.append(try batch.append(a, start: 0, blockTable: tables[0], logits: .all))
        rows.append(try batch.append(b, start: 0, blockTable: tables[1], logits: .all))
        try model.forward(batch: batch, cache: cache, scratch: scratch)
        for (s, ids) in [a, b].enumerated() {
            let alone = try Self.onePass(model, ids)
            for (k, row) in rows[s].enumerated() {
                let w = Self.worst(Array(scratch.logits(row: row, vocabularySize: model.config.vocabularySize)), alone[k])
                #expect(w <= 1e-4, "\(name) sequence \(s) position \(k): \(w)")
            }
        }
    }

    /// A file with a tensor no architecture claims is refused, naming the tensor.
    @Test func unclaimedTensorIsRefused() throws {
        var tiny = TinyLlama()
        tiny.tensors.append(.init(name: "rope_freqs.weight", type: .f32, dimensions: [8], values: [Float](repeating: 1, count: 8)))
        tiny.tensors.append(.init(name: "blk.0.attn_q.bias", type: .f32, dimensions: [64], values: [Float](repeating: 0, count: 64)))
        let gguf = try tiny.open()
        do {
            _ = try ModelLoader.load(gguf)
            Issue.record("a file with an unclaimed tensor loaded")
        } catch let error as ModelError {
            guard case .unclaimedTensor("blk.0.attn_q.bias", "llama", let offset) = error else {
                Issue.record("expected unclaimedTensor for blk.0.attn_q.bias, got \(error)"); return
            }
            #expect(offset > 0)
            #expect(error.description.contains("blk.0.attn_q.bias"))
        }
    }
}
