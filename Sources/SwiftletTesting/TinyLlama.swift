import Foundation
import GGUF
import LLMBase
import Models
import Quant

/// A tiny random Llama model as an editable list of metadata and tensors, written to a real GGUF
/// file. Tests remove tensors or change keys to make each kind of broken model.
public struct TinyLlama {
    public struct Tensor {
        public var name: String
        public var type: GGMLType
        public var dimensions: [Int]
        public var values: [Float]

        public init(name: String, type: GGMLType, dimensions: [Int], values: [Float]) {
            self.name = name
            self.type = type
            self.dimensions = dimensions
            self.values = values
        }
    }

    public var metadata: [(key: String, value: GGUFValue)] = []
    public var tensors: [Tensor] = []

    /// Vocabulary: 3 control tokens, then the 26 letters, a space (as GPT-2's "Ġ") and "Ġa"… merges.
    public static let tokens: [String] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        + ["Ġ", "Ġa", "ab", "Ġab"]

    public init(layers: Int = 2, hidden: Int = 64, feedForward: Int = 96, heads: Int = 4, kvHeads: Int = 2,
                context: Int = 64, type: GGMLType = .f32, seed: UInt64 = 1) {
        let vocab = Self.tokens.count
        let headDim = hidden / heads
        metadata = [
            ("general.architecture", .string("llama")),
            ("general.name", .string("tiny-test")),
            ("llama.block_count", .uint32(UInt32(layers))),
            ("llama.context_length", .uint32(UInt32(context))),
            ("llama.embedding_length", .uint32(UInt32(hidden))),
            ("llama.feed_forward_length", .uint32(UInt32(feedForward))),
            ("llama.attention.head_count", .uint32(UInt32(heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("llama.rope.freq_base", .float32(10_000)),
            ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("llama.rope.dimension_count", .uint32(UInt32(headDim))),
            ("llama.vocab_size", .uint32(UInt32(vocab))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(.string(Self.tokens))),
            ("tokenizer.ggml.token_type", .array(.int32(Self.tokens.indices.map { $0 < 3 ? 3 : 1 }))),
            ("tokenizer.ggml.merges", .array(.string(["Ġ a", "a b", "Ġa b"]))),
            ("tokenizer.ggml.bos_token_id", .uint32(1)),
            ("tokenizer.ggml.eos_token_id", .uint32(2)),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        var state = seed
        func random(_ n: Int, scale: Float) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return (Float(state >> 40) / 16_777_216 - 0.5) * 2 * scale
            }
        }
        let qDim = heads * headDim, kvDim = kvHeads * headDim
        func matrix(_ name: String, _ inputs: Int, _ outputs: Int) {
            tensors.append(Tensor(name: name, type: type, dimensions: [inputs, outputs],
                                  values: random(inputs * outputs, scale: 1 / Float(inputs).squareRoot())))
        }
        func norm(_ name: String) {
            tensors.append(Tensor(name: name, type: .f32, dimensions: [hidden], values: random(hidden, scale: 0.2).map { 1 + $0 }))
        }
        matrix("token_embd.weight", hidden, vocab)
        norm("output_norm.weight")
        for l in 0..<layers {
            norm("blk.\(l).attn_norm.weight")
            matrix("blk.\(l).attn_q.weight", hidden, qDim)
            matrix("blk.\(l).attn_k.weight", hidden, kvDim)
            matrix("blk.\(l).attn_v.weight", hidden, kvDim)
            matrix("blk.\(l).attn_output.weight", qDim, hidden)
            norm("blk.\(l).ffn_norm.weight")
            matrix("blk.\(l).ffn_gate.weight", hidden, feedForward)
            matrix("blk.\(l).ffn_up.weight", hidden, feedForward)
            matrix("blk.\(l).ffn_down.weight", feedForward, hidden)
        }
    }

    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    public mutating func remove(key: String) { metadata.removeAll { $0.key == key } }

    public mutating func remove(tensor name: String) { tensors.removeAll { $0.name == name } }

    /// Encodes every tensor in its type and writes the file.
    public func write(to path: String) throws {
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        for t in tensors { writer.addTensor(name: t.name, type: t.type, dimensions: t.dimensions, data: Self.encode(t.values, as: t.type)) }
        try writer.write(to: path)
    }

    /// Writes to a fresh temporary path and returns it.
    public func writeTemporary() throws -> String {
        let path = Fixtures.temporaryPath()
        try write(to: path)
        return path
    }

    /// Writes a temporary file, maps it and removes its name (the mapping stays valid).
    public func open() throws -> GGUFFile {
        let path = try writeTemporary()
        defer { unlink(path) }
        return try GGUFFile(path: path)
    }

    /// Quantizer's encoders; types without one (used for "unsupported type" tests) get zero bytes
    /// of the right size.
    static func encode(_ values: [Float], as type: GGMLType) -> [UInt8] {
        switch type {
        case .f32, .f16, .q8_0, .q4_0, .q4_1: return Quantizer.encode(values, as: type)
        default: return [UInt8](repeating: 0, count: values.count / type.blockSize * type.blockBytes)
        }
    }
}
