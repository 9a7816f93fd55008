import GGUF
import Kernels
import Models
import SwiftletTesting
import Testing
import Tokenizer

/// Forward-pass invariants on tiny random models written as real GGUF files.
@Suite struct TinyModelTests {
    func load(_ tiny: TinyLlama) throws -> LlamaModel {
        try LlamaModel(gguf: tiny.open())
    }

    /// One batch of n tokens gives the same logits as n single-token passes through the KV cache:
    /// to F32 rounding when both run in F32; within the 8-bit activation error when single tokens
    /// take the integer kernels (`simd` on quantized weights) and the batch the F32 panel gemm.
    @Test(arguments: [GGMLType.f32, .f16, .q8_0, .q4_0, .q4_1], [MatmulBackend.simd, .blas, .reference])
    func batchedEqualsIncremental(_ type: GGMLType, _ backend: MatmulBackend) throws {
        let model = try LlamaModel(gguf: TinyLlama(type: type).open(), backend: backend)
        let ids = [3, 7, 1, 28, 29, 5, 12, 30, 4]
        let vocab = model.config.vocabularySize
        let tolerance: Float = MatmulPlanner.path(backend, format: model.weights.layers[0].wq.format, rows: 1) == .integer ? 3e-2 : 1e-4
        let cacheA = try model.makeCache(capacity: 16), scratchA = model.makeScratch(maxTokens: 16, contextCapacity: 16)
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cacheA, scratch: scratchA, allLogits: true) }
        let cacheB = try model.makeCache(capacity: 16), scratchB = model.makeScratch(maxTokens: 1, contextCapacity: 16)
        for (pos, id) in ids.enumerated() {
            try [id].withUnsafeBufferPointer { try model.forward($0, start: pos, cache: cacheB, scratch: scratchB, allLogits: false) }
            let a = scratchA.logits(row: pos, vocabularySize: vocab), b = scratchB.logits(row: 0, vocabularySize: vocab)
            for i in 0..<vocab { #expect(abs(a[i] - b[i]) <= tolerance * max(1, abs(a[i])), "position \(pos) token \(i)") }
        }
    }

    /// Attention is causal: a later token does not change an earlier position's logits.
    @Test func laterTokensDoNotChangeEarlierLogits() throws {
        let model = try load(TinyLlama())
        let vocab = model.config.vocabularySize
        func logits(_ ids: [Int]) throws -> [Float] {
            let cache = try model.makeCache(capacity: 8), scratch = model.makeScratch(maxTokens: 8, contextCapacity: 8)
            try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
            return Array(scratch.logits(row: 1, vocabularySize: vocab))
        }
        #expect(try logits([4, 5, 6]) == logits([4, 5, 20]))
        #expect(try logits([4, 5, 6]) != logits([4, 9, 6]))
    }

    @Test func outOfRangeTokenAndOverflowAreErrors() throws {
        let model = try load(TinyLlama())
        let cache = try model.makeCache(capacity: 4), scratch = model.makeScratch(maxTokens: 4, contextCapacity: 4)
        #expect(throws: ModelError.tokenOutOfRange(id: 999, vocabularySize: model.config.vocabularySize)) {
            try [999].withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: false) }
        }
        #expect(throws: ModelError.self) {
            try [1, 2, 3].withUnsafeBufferPointer { try model.forward($0, start: 2, cache: cache, scratch: scratch, allLogits: false) }
        }
        #expect(throws: ModelError.contextTooLong(requested: 65, maximum: 64)) { try model.makeCache(capacity: 65) }
    }
}

/// Model files whose tensors or hyper-parameters contradict each other are refused with a typed
/// error naming the tensor or key (and its byte offset).
@Suite struct MalformedModelTests {
    func loadError(_ tiny: TinyLlama) throws -> ModelError? {
        let gguf = try tiny.open()
        do { _ = try LlamaModel(gguf: gguf); return nil } catch let e as ModelError { return e }
    }

    @Test func requiredTensorMissing() throws {
        var tiny = TinyLlama()
        tiny.remove(tensor: "blk.1.ffn_up.weight")
        #expect(try loadError(tiny) == .missingTensor("blk.1.ffn_up.weight"))
        var noNorm = TinyLlama()
        noNorm.remove(tensor: "output_norm.weight")
        #expect(try loadError(noNorm) == .missingTensor("output_norm.weight"))
    }

    @Test func layerCountContradictsTensors() throws {
        var more = TinyLlama(layers: 2)
        more.set("llama.block_count", .uint32(3))
        #expect(try loadError(more) == .missingTensor("blk.2.attn_norm.weight"))
        var fewer = TinyLlama(layers: 2)
        fewer.set("llama.block_count", .uint32(1))
        guard case .unexpectedTensor(let name, _, _)? = try loadError(fewer) else { Issue.record("expected unexpectedTensor"); return }
        #expect(name.hasPrefix("blk.1."))
    }

    @Test func headCountsContradictShapes() throws {
        var heads = TinyLlama(hidden: 64, heads: 4, kvHeads: 2)
        heads.remove(key: "llama.rope.dimension_count")
        heads.set("llama.attention.head_count", .uint32(8))  // head size 8: q is still 64 wide but k/v would be 16
        guard case .shapeMismatch(let tensor, _, _, let offset)? = try loadError(heads) else { Issue.record("expected shapeMismatch"); return }
        #expect(tensor == "blk.0.attn_k.weight" && offset > 0)
        var kv = TinyLlama(hidden: 64, heads: 4, kvHeads: 2)
        kv.set("llama.attention.head_count_kv", .uint32(3))
        guard case .invalidHyperparameter(let key, 3, _, _)? = try loadError(kv) else { Issue.record("expected invalidHyperparameter"); return }
        #expect(key == "llama.attention.head_count_kv")
        var indivisible = TinyLlama(hidden: 64, heads: 4, kvHeads: 2)
        indivisible.set("llama.attention.head_count", .uint32(6))
        indivisible.set("llama.attention.head_count_kv", .uint32(6))
        guard case .invalidHyperparameter("llama.attention.head_count", 6, _, _)? = try loadError(indivisible) else {
            Issue.record("expected head_count not dividing embedding_length"); return
        }
    }

    @Test func zeroHeadCount() throws {
        var tiny = TinyLlama()
        tiny.set("llama.attention.head_count", .uint32(0))
        guard case .invalidHyperparameter("llama.attention.head_count", 0, _, let offset)? = try loadError(tiny) else {
            Issue.record("expected invalidHyperparameter for head_count 0"); return
        }
        #expect(offset > 0)
        var kv = TinyLlama()
        kv.set("llama.attention.head_count_kv", .uint32(0))
        guard case .invalidHyperparameter("llama.attention.head_count_kv", 0, _, _)? = try loadError(kv) else {
            Issue.record("expected invalidHyperparameter for head_count_kv 0"); return
        }
    }

    @Test func vocabularySizeContradictsEmbedding() throws {
        var tiny = TinyLlama()
        tiny.set("llama.vocab_size", .uint32(100))
        guard case .invalidHyperparameter("llama.vocab_size", 100, _, _)? = try loadError(tiny) else {
            Issue.record("expected invalidHyperparameter for vocab_size"); return
        }
    }

    @Test func embeddingShapeContradictsHiddenSize() throws {
        var tiny = TinyLlama(hidden: 64)
        tiny.remove(key: "llama.rope.dimension_count")
        tiny.set("llama.embedding_length", .uint32(32))
        guard case .shapeMismatch("token_embd.weight", _, _, _)? = try loadError(tiny) else {
            Issue.record("expected shapeMismatch for token_embd.weight"); return
        }
    }

    @Test func missingHyperparameter() throws {
        var tiny = TinyLlama()
        tiny.remove(key: "llama.feed_forward_length")
        #expect(try loadError(tiny) == .missingKey("llama.feed_forward_length"))
    }

    @Test func unsupportedTensorType() throws {
        var tiny = TinyLlama()
        let i = tiny.tensors.firstIndex { $0.name == "blk.0.attn_q.weight" }!
        tiny.tensors[i].type = .q8_1
        guard case .unsupportedTensorType("blk.0.attn_q.weight", .q8_1, _)? = try loadError(tiny) else {
            Issue.record("expected unsupportedTensorType"); return
        }
    }

    @Test func unsupportedArchitecture() throws {
        var tiny = TinyLlama()
        tiny.set("general.architecture", .string("mamba"))
        guard case .unsupportedArchitecture("mamba", _, let supported)? = try loadError(tiny) else { Issue.record("expected unsupportedArchitecture"); return }
        #expect(supported == ModelLoader.supportedArchitectures && supported.contains("llama") && supported.contains("qwen2"))
    }

    /// The tokenizer refuses special token ids outside the vocabulary, naming the key.
    @Test func specialTokenOutsideVocabulary() throws {
        var tiny = TinyLlama()
        tiny.set("tokenizer.ggml.bos_token_id", .uint32(5000))
        let gguf = try tiny.open()
        #expect(throws: (any Error).self) { try Tokenizer(gguf: gguf) }
        do { _ = try Tokenizer(gguf: gguf) } catch { #expect("\(error)".contains("bos_token_id")) }
        // The unmodified tiny file's tokenizer loads.
        _ = try Tokenizer(gguf: TinyLlama().open())
    }
}
