import GGUF
import LLMBase
import Quant

/// Pointers to one transformer block's weights (F32, inside `LlamaWeights`' arena).
/// Matrices are row-major [out, in]: GGUF shape [in, out].
public struct LlamaLayer {
    public let attentionNorm: UnsafeMutablePointer<Float>   // [hidden]
    public let wq: UnsafeMutablePointer<Float>              // [heads·headDim, hidden]
    public let wk: UnsafeMutablePointer<Float>              // [kvHeads·headDim, hidden]
    public let wv: UnsafeMutablePointer<Float>              // [kvHeads·headDim, hidden]
    public let wo: UnsafeMutablePointer<Float>              // [hidden, heads·headDim]
    public let ffnNorm: UnsafeMutablePointer<Float>         // [hidden]
    public let wGate: UnsafeMutablePointer<Float>           // [ffn, hidden]
    public let wUp: UnsafeMutablePointer<Float>             // [ffn, hidden]
    public let wDown: UnsafeMutablePointer<Float>           // [hidden, ffn]
}

/// All weights of a Llama model, dequantized to F32 at load into one 64-byte aligned arena
/// (the reference path of the foundation issue; quantized kernels come later).
public final class LlamaWeights: @unchecked Sendable {
    public let config: LlamaConfig
    private let arena: AlignedFloatBuffer
    public let tokenEmbedding: UnsafeMutablePointer<Float>   // [vocab, hidden]
    public let outputNorm: UnsafeMutablePointer<Float>       // [hidden]
    /// [vocab, hidden]; the token embedding itself when the file has no `output.weight` (tied).
    public let output: UnsafeMutablePointer<Float>
    public let layers: [LlamaLayer]
    public let tiedOutput: Bool

    /// Checks every tensor's presence, type and shape against `config`, then dequantizes.
    public init(gguf: GGUFFile, config c: LlamaConfig) throws {
        config = c
        var plan: [(GGUFTensorInfo, WeightEncoding)] = []
        func require(_ name: String, _ shape: [Int]) throws {
            guard let t = gguf.tensor(named: name) else { throw ModelError.missingTensor(name) }
            guard t.dimensions == shape else {
                throw ModelError.shapeMismatch(tensor: name, expected: shape, found: t.dimensions, offset: t.infoOffset)
            }
            plan.append((t, try Self.encoding(of: t)))
        }
        try require("token_embd.weight", [c.hiddenSize, c.vocabularySize])
        try require("output_norm.weight", [c.hiddenSize])
        let hasOutput = gguf.tensor(named: "output.weight") != nil
        if hasOutput { try require("output.weight", [c.hiddenSize, c.vocabularySize]) }
        for l in 0..<c.layerCount {
            try require("blk.\(l).attn_norm.weight", [c.hiddenSize])
            try require("blk.\(l).attn_q.weight", [c.hiddenSize, c.queryDim])
            try require("blk.\(l).attn_k.weight", [c.hiddenSize, c.kvDim])
            try require("blk.\(l).attn_v.weight", [c.hiddenSize, c.kvDim])
            try require("blk.\(l).attn_output.weight", [c.queryDim, c.hiddenSize])
            try require("blk.\(l).ffn_norm.weight", [c.hiddenSize])
            try require("blk.\(l).ffn_gate.weight", [c.hiddenSize, c.feedForwardSize])
            try require("blk.\(l).ffn_up.weight", [c.hiddenSize, c.feedForwardSize])
            try require("blk.\(l).ffn_down.weight", [c.feedForwardSize, c.hiddenSize])
        }
        // A block beyond block_count means the declared layer count contradicts the tensors.
        if let extra = gguf.tensors.first(where: { Self.layerIndex(of: $0.name).map { $0 >= c.layerCount } ?? false }) {
            throw ModelError.unexpectedTensor(extra.name, reason: "belongs to a layer beyond llama.block_count = \(c.layerCount)",
                                              offset: extra.infoOffset)
        }

        // Each tensor gets a 16-float (64-byte) aligned slot in the arena.
        var offsets: [Int] = []
        var total = 0
        for (t, _) in plan {
            offsets.append(total)
            total += (t.elementCount + 15) & ~15
        }
        arena = AlignedFloatBuffer(count: total)
        let base = arena.pointer
        for (i, (t, enc)) in plan.enumerated() {
            let src = gguf.data(for: t)
            dequantize(enc, src.baseAddress!, into: base + offsets[i], count: t.elementCount)
        }
        var slot = 0
        func next() -> UnsafeMutablePointer<Float> { defer { slot += 1 }; return base + offsets[slot] }
        tokenEmbedding = next()
        outputNorm = next()
        tiedOutput = !hasOutput
        output = hasOutput ? next() : tokenEmbedding
        var layers: [LlamaLayer] = []
        for _ in 0..<c.layerCount {
            layers.append(LlamaLayer(attentionNorm: next(), wq: next(), wk: next(), wv: next(), wo: next(),
                                     ffnNorm: next(), wGate: next(), wUp: next(), wDown: next()))
        }
        self.layers = layers
    }

    static func encoding(of t: GGUFTensorInfo) throws -> WeightEncoding {
        switch t.type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        default: throw ModelError.unsupportedTensorType(tensor: t.name, type: t.type, offset: t.infoOffset)
        }
    }

    /// "blk.12.attn_q.weight" → 12.
    static func layerIndex(of name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return Int(rest[..<dot])
    }
}
