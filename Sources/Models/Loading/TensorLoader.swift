#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GGUF
import Kernels
import LLMBase
import Quant

/// One transformer block's weights. Matrices are [out rows × in columns] (GGUF shape [in, out]).
public struct LlamaLayer: @unchecked Sendable {
    public let attentionNorm: UnsafePointer<Float>   // [hidden]
    public let wq: WeightMatrix                      // [heads·headDim × hidden]
    public let wk: WeightMatrix                      // [kvHeads·headDim × hidden]
    public let wv: WeightMatrix                      // [kvHeads·headDim × hidden]
    public let wo: WeightMatrix                      // [hidden × heads·headDim]
    public let ffnNorm: UnsafePointer<Float>         // [hidden]
    public let wGate: WeightMatrix                   // [ffn × hidden]
    public let wUp: WeightMatrix                     // [ffn × hidden]
    public let wDown: WeightMatrix                   // [hidden × ffn]
}

/// All weights of a Llama model.
///
/// Quantized (the default): Q8_0, Q4_0 and Q4_1 matrices and F32 vectors are views into the
/// file's memory map — nothing is copied; F16/BF16 tensors are converted to F32 at load.
/// Reference (`dequantizeAll`): every tensor dequantized to F32 into one arena, the foundation
/// path that matches the F32 reference outputs to 1e-3.
/// Interleaved (`interleave`, the `auto` backend on a VNNI build): every quantized matrix whose
/// rows are a multiple of 8 is also copied, re-laid-out, into `interleavedArena`
/// (`InterleavedLayout`, the same bytes as in the file), and the file's pages of that matrix are
/// released from memory (`madvise`), so resident memory stays at one copy of the weights. The
/// mapping stays valid: a page read again (an embedding row, another backend) comes back from the
/// page cache.
public final class LlamaWeights: @unchecked Sendable {
    public let config: LlamaConfig
    public let gguf: GGUFFile                 // keeps the mapping alive
    private let arena: AlignedFloatBuffer     // converted tensors
    private let interleavedArena: AlignedBytes
    public let tokenEmbedding: WeightMatrix   // [vocab × hidden]
    public let outputNorm: UnsafePointer<Float>
    /// [vocab × hidden]; the token embedding itself when the file has no `output.weight` (tied).
    public let output: WeightMatrix
    public let layers: [LlamaLayer]
    public let tiedOutput: Bool

    /// Checks every tensor's presence, type and shape against `config`, then maps or converts it.
    public init(gguf: GGUFFile, config c: LlamaConfig, dequantizeAll: Bool, interleave: Bool = false) throws {
        config = c
        self.gguf = gguf
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

        // Tensors that must become F32 get a 16-float (64-byte) aligned slot in the arena; the
        // others stay in the mapping.
        func converted(_ enc: WeightEncoding) -> Bool {
            dequantizeAll || enc == .f16 || enc == .bf16
        }
        var offsets: [Int] = []
        var total = 0
        for (t, enc) in plan {
            offsets.append(total)
            if converted(enc) { total += (t.elementCount + 15) & ~15 }
        }
        arena = AlignedFloatBuffer(count: total)
        // Interleaved copies, each at a 64-byte boundary.
        func interleaved(_ t: GGUFTensorInfo, _ enc: WeightEncoding) -> Bool {
            interleave && !converted(enc) && t.dimensions.count == 2
                && InterleavedLayout.supports(enc, rows: t.dimensions[1], columns: t.dimensions[0])
        }
        var interleavedOffsets: [Int] = []
        var interleavedTotal = 0
        for (t, enc) in plan {
            interleavedOffsets.append(interleavedTotal)
            if interleaved(t, enc) {
                interleavedTotal += (InterleavedLayout.byteCount(enc, rows: t.dimensions[1], columns: t.dimensions[0]) + 63) & ~63
            }
        }
        interleavedArena = AlignedBytes(count: interleavedTotal)
        var matrices: [WeightMatrix] = []
        for (i, (t, enc)) in plan.enumerated() {
            let src = gguf.data(for: t).baseAddress!
            let rows = t.dimensions.count == 2 ? t.dimensions[1] : 1
            if converted(enc) {
                dequantize(enc, src, into: arena.pointer + offsets[i], count: t.elementCount)
                matrices.append(WeightMatrix(format: .f32, data: UnsafeRawPointer(arena.pointer + offsets[i]), rows: rows, columns: t.dimensions[0]))
            } else if interleaved(t, enc) {
                let copy = interleavedArena.pointer + interleavedOffsets[i]
                let format = Self.format(enc), columns = t.dimensions[0]
                InterleavedLayout.repack(enc, src, rowBytes: format.rowBytes(columns: columns),
                                         groups: 0..<(rows / InterleavedLayout.rows), columns: columns, into: copy)
                Self.releasePages(gguf.data(for: t))
                matrices.append(WeightMatrix(format: format, data: src, rows: rows, columns: columns, interleaved: UnsafeRawPointer(copy)))
            } else {
                matrices.append(WeightMatrix(format: Self.format(enc), data: src, rows: rows, columns: t.dimensions[0]))
            }
        }
        var slot = 0
        func next() -> WeightMatrix { defer { slot += 1 }; return matrices[slot] }
        func vector() -> UnsafePointer<Float> { next().data.assumingMemoryBound(to: Float.self) }
        tokenEmbedding = next()
        outputNorm = vector()
        tiedOutput = !hasOutput
        output = hasOutput ? next() : tokenEmbedding
        var layers: [LlamaLayer] = []
        for _ in 0..<c.layerCount {
            layers.append(LlamaLayer(attentionNorm: vector(), wq: next(), wk: next(), wv: next(), wo: next(),
                                     ffnNorm: vector(), wGate: next(), wUp: next(), wDown: next()))
        }
        self.layers = layers
    }

    /// Drops the whole pages of `bytes` (a read-only file mapping) from this process's resident
    /// memory; reading them again faults them back in from the page cache.
    private static func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + bytes.count) / page * page
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        madvise(p, end - start, Int32(MADV_DONTNEED))
    }

    static func encoding(of t: GGUFTensorInfo) throws -> WeightEncoding {
        guard let e = t.weightEncoding else {
            throw ModelError.unsupportedTensorType(tensor: t.name, type: t.type, offset: t.infoOffset)
        }
        return e
    }

    static func format(_ e: WeightEncoding) -> WeightFormat {
        switch e {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        default: return .f32
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
