import Foundation
import GGUF
import Kernels
import Models
import SwiftletTesting
import Testing
import Tokenizer

/// The quantized kernels against the reference outputs, for Q4_1 (the shipped file) and for Q8_0
/// and Q4_0 made by `Quantizer` (`swiftlet quantize`): teacher-forcing each reference prompt plus
/// its greedy continuation, the same top-1 token wherever the reference's top-1 margin is at
/// least 0.5, on both matmul paths; and perplexity within 1% of the reference.
@Suite(.serialized) struct QuantizedReferenceTests {
    enum QuantType: String, CaseIterable { case q4_1, q8_0, q4_0 }

    /// The model file for a quant type: the shipped Q4_1, or a re-quantization of it (made once).
    static let files: Result<[QuantType: String], Error> = Result {
        let source = try Fixtures.requireDefaultModel()
        var files: [QuantType: String] = [.q4_1: source]
        for (type, target) in [(QuantType.q8_0, Quantizer.Target.q8_0), (.q4_0, .q4_0)] {
            let path = Fixtures.temporaryPath("-\(type.rawValue).gguf")
            _ = try Quantizer.quantize(input: source, output: path, to: target)
            files[type] = path
        }
        return files
    }

    /// Every matmul path, unless SWIFTLET_REFERENCE_BACKENDS names some (comma-separated, e.g.
    /// `auto`): scripts/test-arm64 checks `auto` only under emulation, the path with the NEON
    /// kernels; `simd` and `blas` are F32 code that the native run checks. Said when it narrows.
    static let backends = ReferenceSelection.narrowed([MatmulBackend.auto, .simd, .blas], by: "SWIFTLET_REFERENCE_BACKENDS",
                                                      in: "QuantizedReferenceTests")

    /// Every quant type, unless SWIFTLET_REFERENCE_TYPES names some (comma-separated, e.g. `q4_1`):
    /// scripts/test-arm64 checks the shipped Q4_1 only under emulation, where the Q8_0 and Q4_0
    /// NEON kernels are checked against their scalar twins in KernelsTests and the three files
    /// would take 4 more minutes. Said when it narrows.
    static let types = ReferenceSelection.narrowed(QuantType.allCases, by: "SWIFTLET_REFERENCE_TYPES", in: "QuantizedReferenceTests")

    static func open(_ type: QuantType, _ backend: MatmulBackend) throws -> (LlamaModel, Tokenizer) {
        let gguf = try GGUFFile(path: try files.get()[type]!)
        return (try LlamaModel(gguf: gguf, backend: backend), try Tokenizer(gguf: gguf))
    }

    @Test(arguments: types, backends)
    func teacherForcedTop1MatchesReference(_ type: QuantType, _ backend: MatmulBackend) throws {
        let (model, _) = try Self.open(type, backend)
        let records = try Fixtures.referenceLines("\(type.rawValue)/prompts.jsonl", as: ReferencePrompt.self)
        var checked = 0
        for record in records {
            let ids = Array(record.sequence.prefix(record.top5.count))
            let cache = try model.makeCache(capacity: ids.count)
            let scratch = model.makeScratch(maxTokens: ids.count, contextCapacity: ids.count)
            try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
            for (pos, expected) in record.top5.enumerated() where record.top1Margins[pos] >= 0.5 {
                let row = scratch.logits(row: pos, vocabularySize: model.config.vocabularySize)
                let top1 = row.indices.max { row[$0] < row[$1] }!
                #expect(top1 == expected[0].id, "\(type) \(backend) \(record.prompt.prefix(20))… position \(pos)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    /// The decode path: each reference sequence fed one token at a time, so every matmul has one
    /// row and runs on the integer kernels (8-bit activations), with the paged attention of a
    /// growing context.
    @Test(arguments: types)
    func decodeKernelsTop1MatchesReference(_ type: QuantType) throws {
        let (model, _) = try Self.open(type, .auto)
        let records = try Fixtures.referenceLines("\(type.rawValue)/prompts.jsonl", as: ReferencePrompt.self)
        var checked = 0
        for record in records {
            let ids = Array(record.sequence.prefix(record.top5.count))
            let cache = try model.makeCache(capacity: ids.count)
            let scratch = model.makeScratch(maxTokens: 1, contextCapacity: ids.count, allLogits: false)
            for (pos, id) in ids.enumerated() {
                try model.forward(token: id, position: pos, cache: cache, scratch: scratch)
                guard record.top1Margins[pos] >= 0.5 else { continue }
                let row = scratch.logits(row: 0, vocabularySize: model.config.vocabularySize)
                let top1 = row.indices.max { row[$0] < row[$1] }!
                #expect(top1 == record.top5[pos][0].id, "\(type) decode \(record.prompt.prefix(20))… position \(pos)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    /// Perplexity of the shipped Q4_1 through `auto` and `blas`; of Q8_0 and Q4_0 too with
    /// SWIFTLET_REFERENCE_PERPLEXITY=all. Each run is 16,384 tokens (about 100 s of CI on a 2-core
    /// AVX2 host); the re-quantized files' kernels and quantizer are checked by the teacher-forced
    /// and token-by-token tests above on every path, and `blas` runs the same sgemm whatever the
    /// format, after a dequantization checked against its scalar twin in QuantTests.
    static let perplexityCases: [(QuantType, MatmulBackend)] = {
        if ReferenceSelection.allPerplexityRuns {
            return QuantType.allCases.flatMap { [($0, .auto), ($0, .blas)] }
        }
        print("QuantizedReferenceTests: perplexity of Q4_1 only (auto, blas); SWIFTLET_REFERENCE_PERPLEXITY=all adds Q8_0 and Q4_0")
        return [(.q4_1, .auto), (.q4_1, .blas)]
    }()

    /// `auto` runs these 512-token windows through the panel gemm (or the VNNI tiles), `blas`
    /// through sgemm on dequantized weights.
    @Test(arguments: perplexityCases)
    func perplexityWithinOnePercent(_ type: QuantType, _ backend: MatmulBackend) throws {
        let (model, tokenizer) = try Self.open(type, backend)
        let reference = try ReferencePerplexity.load()
        let expected: Double
        switch type {
        case .q4_1: expected = reference.q4_1.ppl
        case .q8_0: expected = reference.q8_0.ppl
        case .q4_0: expected = reference.q4_0.ppl
        }
        let (ppl, scored) = try botchanPerplexity(model, tokenizer, reference)
        print("perplexity \(type) (\(backend) backend): \(ppl), reference \(expected)")
        #expect(scored == reference.scored)
        #expect(abs(ppl - expected) <= 0.01 * expected, "\(type) \(backend): perplexity \(ppl) vs reference \(expected)")
    }

    /// Quantize writes a file that reads back with the same metadata, the chosen types, and
    /// refuses to overwrite its input.
    @Test func quantizeWritesValidFiles() throws {
        let files = try Self.files.get()
        let source = try GGUFFile(path: files[.q4_1]!)
        for (type, expectedMain) in [(QuantType.q8_0, GGMLType.q8_0), (.q4_0, .q4_0)] {
            let out = try GGUFFile(path: files[type]!)
            #expect(out.tensors.count == source.tensors.count)
            #expect(out.metadata.count == source.metadata.count)
            #expect(try out.stringArray("tokenizer.ggml.tokens") == source.stringArray("tokenizer.ggml.tokens"))
            #expect(out.tensor(named: "blk.0.ffn_up.weight")?.type == expectedMain)
            #expect(out.tensor(named: "blk.0.attn_norm.weight")?.type == .f32)
            #expect(out.tensor(named: "token_embd.weight")?.type == .q8_0)   // tied output stays 8-bit
            #expect(try out.integer("general.file_type") == (type == .q8_0 ? 7 : 2))
        }
        #expect(throws: Quantizer.QuantizeError.sameFile(files[.q4_1]!)) {
            try Quantizer.quantize(input: files[.q4_1]!, output: files[.q4_1]!, to: .q8_0)
        }
    }
}
