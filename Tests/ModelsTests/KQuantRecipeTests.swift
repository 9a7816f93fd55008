import Foundation
import GGUF
import Kernels
import Models
import Quant
import SwiftletTesting
import Testing

/// `swiftlet quantize` to the K-quant targets: the type of every tensor is the one llama.cpp's
/// `llama_model_quantize` chooses, and the files load and run in Swiftlet.
@Suite struct KQuantRecipeTests {
    /// 8 layers, grouped KV heads 4:1, an output.weight of its own, and ffn_down rows of 544 (not
    /// whole 256-blocks, so those fall back to 32-block types).
    static func untied() -> TinyLlama {
        var tiny = TinyLlama(layers: 8, hidden: 256, feedForward: 544, heads: 4, kvHeads: 1, context: 32, seed: 3)
        let vocab = TinyLlama.tokens.count
        var state: UInt64 = 99
        let values = (0..<(256 * vocab)).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) / 16_777_216 - 0.5) / 8
        }
        tiny.tensors.append(.init(name: "output.weight", type: .f32, dimensions: [256, vocab], values: values))
        return tiny
    }

    /// 16 layers, KV heads 2:1, the token embedding tied to the output.
    static func tied() -> TinyLlama {
        TinyLlama(layers: 16, hidden: 256, feedForward: 512, heads: 4, kvHeads: 2, context: 32, seed: 4)
    }

    struct Expected {
        var embedding: String, output: String?
        /// attn_v and ffn_down, layer by layer.
        var attentionV: String, ffnDown: String
        var attentionOutput: String
        /// attn_q, attn_k, ffn_gate, ffn_up.
        var rest: String
    }

    /// Recorded from llama.cpp (libllama `llama_model_quantize`, default parameters, no importance
    /// matrix) on F32 Llama models with the layer count, matrix shapes and head counts of
    /// `untied()` and `tied()` (other random weights and a larger vocabulary: the choices depend
    /// only on tensor names, row lengths, layer and head counts).
    static let llamaCpp: [String: [Quantizer.Target: Expected]] = [
        "untied": [
            .q2_k: .init(embedding: "Q2_K", output: "Q6_K", attentionV: "Q4_K Q4_K Q4_K Q4_K Q4_K Q4_K Q4_K Q4_K",
                         ffnDown: "Q4_0 Q4_0 Q4_0 Q4_0 Q4_0 Q4_0 Q4_0 Q4_0", attentionOutput: "Q3_K", rest: "Q2_K"),
            .q3_k_m: .init(embedding: "Q3_K", output: "Q6_K", attentionV: "Q5_K Q5_K Q4_K Q4_K Q4_K Q4_K Q4_K Q4_K",
                           ffnDown: "Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0", attentionOutput: "Q4_K", rest: "Q3_K"),
            .q4_k: .init(embedding: "Q4_K", output: "Q6_K", attentionV: "Q5_K Q5_K Q5_K Q5_K Q4_K Q4_K Q4_K Q4_K",
                         ffnDown: "Q5_1 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0", attentionOutput: "Q4_K", rest: "Q4_K"),
            .q4_k_m: .init(embedding: "Q4_K", output: "Q6_K", attentionV: "Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q6_K",
                           ffnDown: "Q8_0 Q5_0 Q5_0 Q8_0 Q5_0 Q5_0 Q8_0 Q8_0", attentionOutput: "Q4_K", rest: "Q4_K"),
            .q5_k: .init(embedding: "Q5_K", output: "Q6_K", attentionV: "Q5_K Q5_K Q5_K Q5_K Q5_K Q5_K Q5_K Q5_K",
                         ffnDown: "Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1", attentionOutput: "Q5_K", rest: "Q5_K"),
            .q5_k_m: .init(embedding: "Q5_K", output: "Q6_K", attentionV: "Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q6_K",
                           ffnDown: "Q8_0 Q5_1 Q5_1 Q8_0 Q5_1 Q5_1 Q8_0 Q8_0", attentionOutput: "Q5_K", rest: "Q5_K"),
            .q6_k: .init(embedding: "Q6_K", output: "Q6_K", attentionV: "Q6_K Q6_K Q6_K Q6_K Q6_K Q6_K Q6_K Q6_K",
                         ffnDown: "Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0", attentionOutput: "Q6_K", rest: "Q6_K"),
            .q5_0: .init(embedding: "Q5_0", output: "Q6_K", attentionV: "Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0",
                         ffnDown: "Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0 Q5_0", attentionOutput: "Q5_0", rest: "Q5_0"),
            .q5_1: .init(embedding: "Q5_1", output: "Q6_K", attentionV: "Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1",
                         ffnDown: "Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1 Q5_1", attentionOutput: "Q5_1", rest: "Q5_1"),
            .q8_0: .init(embedding: "Q8_0", output: "Q8_0", attentionV: "Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0",
                         ffnDown: "Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0 Q8_0", attentionOutput: "Q8_0", rest: "Q8_0"),
        ],
        "tied": [
            .q2_k: .init(embedding: "Q6_K", output: nil, attentionV: String(repeating: "Q3_K ", count: 16),
                         ffnDown: String(repeating: "Q3_K ", count: 16), attentionOutput: "Q3_K", rest: "Q2_K"),
            .q3_k_m: .init(embedding: "Q6_K", output: nil, attentionV: "Q5_K Q5_K" + String(repeating: " Q4_K", count: 14),
                           ffnDown: "Q5_K" + String(repeating: " Q4_K", count: 15), attentionOutput: "Q4_K", rest: "Q3_K"),
            .q4_k: .init(embedding: "Q6_K", output: nil, attentionV: "Q5_K Q5_K Q5_K Q5_K" + String(repeating: " Q4_K", count: 12),
                         ffnDown: "Q5_K Q5_K" + String(repeating: " Q4_K", count: 14), attentionOutput: "Q4_K", rest: "Q4_K"),
            .q4_k_m: .init(embedding: "Q6_K", output: nil,
                           attentionV: "Q6_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q6_K Q6_K",
                           ffnDown: "Q6_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q4_K Q4_K Q6_K Q6_K Q6_K",
                           attentionOutput: "Q4_K", rest: "Q4_K"),
            .q5_k: .init(embedding: "Q6_K", output: nil, attentionV: String(repeating: "Q5_K ", count: 16),
                         ffnDown: String(repeating: "Q5_K ", count: 16), attentionOutput: "Q5_K", rest: "Q5_K"),
            .q5_k_m: .init(embedding: "Q6_K", output: nil,
                           attentionV: "Q6_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q6_K Q6_K",
                           ffnDown: "Q6_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q5_K Q5_K Q6_K Q6_K Q6_K",
                           attentionOutput: "Q5_K", rest: "Q5_K"),
            .q6_k: .init(embedding: "Q6_K", output: nil, attentionV: String(repeating: "Q6_K ", count: 16),
                         ffnDown: String(repeating: "Q6_K ", count: 16), attentionOutput: "Q6_K", rest: "Q6_K"),
            .q5_0: .init(embedding: "Q6_K", output: nil, attentionV: String(repeating: "Q5_0 ", count: 16),
                         ffnDown: String(repeating: "Q5_0 ", count: 16), attentionOutput: "Q5_0", rest: "Q5_0"),
            .q5_1: .init(embedding: "Q6_K", output: nil, attentionV: String(repeating: "Q5_1 ", count: 16),
                         ffnDown: String(repeating: "Q5_1 ", count: 16), attentionOutput: "Q5_1", rest: "Q5_1"),
            .q8_0: .init(embedding: "Q8_0", output: nil, attentionV: String(repeating: "Q8_0 ", count: 16),
                         ffnDown: String(repeating: "Q8_0 ", count: 16), attentionOutput: "Q8_0", rest: "Q8_0"),
        ],
    ]

    static func model(_ name: String) -> TinyLlama { name == "tied" ? tied() : untied() }

    @Test(arguments: ["untied", "tied"])
    func tensorTypesAreLlamaCpps(_ name: String) throws {
        let gguf = try Self.model(name).open()
        let layers = name == "tied" ? 16 : 8
        for (target, expected) in Self.llamaCpp[name]! {
            let types = try Quantizer.tensorTypes(gguf, target: target)
            func type(_ tensor: String) -> String? { types[tensor].map { "\($0)" } }
            func perLayer(_ suffix: String) -> String { (0..<layers).map { type("blk.\($0).\(suffix)") ?? "-" }.joined(separator: " ") }
            #expect(type("token_embd.weight") == expected.embedding, "\(name) \(target) token_embd")
            #expect(type("output.weight") == expected.output, "\(name) \(target) output")
            #expect(perLayer("attn_v.weight") == expected.attentionV.trimmingCharacters(in: .whitespaces), "\(name) \(target) attn_v")
            #expect(perLayer("ffn_down.weight") == expected.ffnDown.trimmingCharacters(in: .whitespaces), "\(name) \(target) ffn_down")
            for l in 0..<layers {
                #expect(type("blk.\(l).attn_output.weight") == expected.attentionOutput, "\(name) \(target) layer \(l) attn_output")
                for t in ["attn_q", "attn_k", "ffn_gate", "ffn_up"] {
                    #expect(type("blk.\(l).\(t).weight") == expected.rest, "\(name) \(target) layer \(l) \(t)")
                }
                // Norms are not weights to quantize: written as F32.
                #expect(type("blk.\(l).attn_norm.weight") == nil)
            }
        }
    }

    /// A tiny F32 model quantized to q4_k_m (Q4_K, Q6_K, and the Q5_0 / Q8_0 fallbacks for
    /// ffn_down): the file has the recipe's types and `general.file_type` 15, Swiftlet loads it,
    /// and its logits equal those of an F32 model holding the same weights dequantized: exactly on
    /// the BLAS path (weights dequantized, F32 activations; measured 0), to F32 rounding on the
    /// SIMD panels (8 tokens: F32 panels; measured ≤ 2.2e-4), and within the 8-bit activation error
    /// on `auto`, whose K-quant integer kernels quantize activations per 256 at every batch size
    /// (measured 0.030 and 0.031 of max(1, |logit|) through 8 and 16 layers of random weights;
    /// TinyModelTests allows 3e-2 through 2 layers).
    @Test(arguments: ["untied", "tied"])
    func q4KMFileLoadsAndRuns(_ name: String) throws {
        let tiny = Self.model(name)
        let source = try tiny.writeTemporary(), output = source + ".q4_k_m.gguf"
        defer { unlink(source); unlink(output) }
        let report = try Quantizer.quantize(input: source, output: output, to: .q4_k_m)
        let gguf = try GGUFFile(path: output)
        #expect(try gguf.integer("general.file_type") == 15)
        let expected = try Quantizer.tensorTypes(GGUFFile(path: source), target: .q4_k_m)
        for t in gguf.tensors { #expect(t.type == expected[t.name] ?? .f32, "\(t.name)") }
        #expect(report.convertedTensors == expected.count)
        #expect(Set(expected.values).isSuperset(of: name == "tied" ? [.q4_K, .q6_K] : [.q4_K, .q6_K, .q5_0, .q8_0]))

        // The same weights, dequantized, as an F32 model: what the quantized file should compute.
        var dequantized = tiny
        for i in dequantized.tensors.indices {
            let info = try #require(gguf.tensor(named: dequantized.tensors[i].name))
            var values = [Float](repeating: 0, count: info.elementCount)
            values.withUnsafeMutableBufferPointer { Quant.dequantize(info.weightEncoding!, gguf.data(for: info).baseAddress!, into: $0.baseAddress!, count: info.elementCount) }
            dequantized.tensors[i].values = values
            dequantized.tensors[i].type = .f32
        }
        let ids = [3, 7, 1, 28, 29, 5, 12, 30]
        func logits(_ model: LlamaModel) throws -> [Float] {
            let cache = try model.makeCache(capacity: 16), scratch = model.makeScratch(maxTokens: 16, contextCapacity: 16)
            try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
            let vocab = model.config.vocabularySize
            return (0..<ids.count).flatMap { Array(scratch.logits(row: $0, vocabularySize: vocab)) }
        }
        let reference = try logits(LlamaModel(gguf: dequantized.open(), backend: .blas))
        for (backend, tolerance) in [(MatmulBackend.blas, Float(1e-6)), (.simd, 1e-3), (.auto, 5e-2)] {
            let got = try logits(LlamaModel(gguf: gguf, backend: backend))
            #expect(got.allSatisfy { $0.isFinite })
            let worst = zip(got, reference).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
            #expect(worst <= tolerance, "\(name) \(backend): largest logit difference \(worst)")
        }
    }
}
