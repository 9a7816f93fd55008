import Foundation
import GGUF
import Kernels
import LLMBase
import Quant

/// One Gemma 3 block's weights: norms before and after both sub-blocks, and RMSNorms of each
/// query and key head.
public struct Gemma3Layer: @unchecked Sendable {
    public let attentionNorm: UnsafePointer<Float>       // [hidden]
    public let wq: WeightMatrix                          // [heads·headDim × hidden]
    public let wk: WeightMatrix                          // [kvHeads·headDim × hidden]
    public let wv: WeightMatrix                          // [kvHeads·headDim × hidden]
    public let queryNorm: UnsafePointer<Float>           // [headDim]
    public let keyNorm: UnsafePointer<Float>             // [headDim]
    public let wo: WeightMatrix                          // [hidden × heads·headDim]
    public let postAttentionNorm: UnsafePointer<Float>   // [hidden]
    public let ffnNorm: UnsafePointer<Float>             // [hidden]
    public let wGate: WeightMatrix                       // [ffn × hidden]
    public let wUp: WeightMatrix                         // [ffn × hidden]
    public let wDown: WeightMatrix                       // [hidden × ffn]
    public let postFeedForwardNorm: UnsafePointer<Float> // [hidden]
}

/// The Gemma 3 text architecture (270M … 27B): the embedding scaled by √hidden; per-head RMSNorm
/// of queries and keys; RMSNorms after attention and after the feed-forward as well as before;
/// a GeGLU feed-forward (tanh-approximated GELU); NEOX RoPE. Five of every six layers attend
/// within a sliding window with their own RoPE base (10,000); every sixth is global, with the
/// file's base. (Gemma's norms multiply by 1 + w; the GGUF converter stores w + 1.)
public final class Gemma3Model: CausalLM, @unchecked Sendable {
    public var architecture: String { "gemma3" }
    public let config: TransformerConfig
    public let backend: MatmulBackend
    public let pool: ComputePool
    public let matrices: [(name: String, matrix: WeightMatrix)]
    let storage: WeightStorage
    let tokenEmbedding: WeightMatrix   // [vocab × hidden], also the output projection
    let outputNorm: UnsafePointer<Float>
    let output: WeightMatrix
    let layers: [Gemma3Layer]
    /// Per layer: the RoPE of its kind (local or global) and its attention settings (window).
    let ropes: [RotaryEmbedding]
    let attention: [AttentionSettings]
    let embeddingScale: Float

    /// llama.cpp's values for Gemma 3 (`hparams.set_swa_pattern(6)`, `rope_freq_base_train_swa`),
    /// used when the file does not say.
    static let slidingWindowPattern = 6
    static let localRopeBase = 10_000.0

    public init(gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws {
        try ModelLoader.check(gguf, is: "gemma3")
        let hp = Hyperparameters(gguf: gguf, architecture: "gemma3")
        var c = try TransformerConfig(hp)
        if try hp.float("attention.layer_norm_rms_epsilon") == nil { c.rmsEpsilon = 1e-6 }
        config = c
        let load = TensorLoader(gguf: gguf, architecture: "gemma3", backend: backend)
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightMatrix {
            try load.matrix(name, rows: rows, columns: columns)
        }
        tokenEmbedding = try matrix("token_embd.weight", c.vocabularySize, c.hiddenSize)
        outputNorm = try load.vector("output_norm.weight", count: c.hiddenSize)
        output = load.has("output.weight") ? try matrix("output.weight", c.vocabularySize, c.hiddenSize) : tokenEmbedding
        var layers: [Gemma3Layer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            layers.append(Gemma3Layer(
                attentionNorm: try load.vector(p + "attn_norm.weight", count: c.hiddenSize),
                wq: try matrix(p + "attn_q.weight", c.queryDim, c.hiddenSize),
                wk: try matrix(p + "attn_k.weight", c.kvDim, c.hiddenSize),
                wv: try matrix(p + "attn_v.weight", c.kvDim, c.hiddenSize),
                queryNorm: try load.vector(p + "attn_q_norm.weight", count: c.headDim),
                keyNorm: try load.vector(p + "attn_k_norm.weight", count: c.headDim),
                wo: try matrix(p + "attn_output.weight", c.hiddenSize, c.queryDim),
                postAttentionNorm: try load.vector(p + "post_attention_norm.weight", count: c.hiddenSize),
                ffnNorm: try load.vector(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: try matrix(p + "ffn_gate.weight", c.feedForwardSize, c.hiddenSize),
                wUp: try matrix(p + "ffn_up.weight", c.feedForwardSize, c.hiddenSize),
                wDown: try matrix(p + "ffn_down.weight", c.hiddenSize, c.feedForwardSize),
                postFeedForwardNorm: try load.vector(p + "post_ffw_norm.weight", count: c.hiddenSize)))
        }
        self.layers = layers
        storage = try load.finish(layerCount: c.layerCount)
        matrices = load.matrices
        self.backend = backend
        pool = ComputePool(threads: ModelLoader.threadCount(threads))
        embeddingScale = Float(c.hiddenSize).squareRoot()

        // Sliding-window layers: all but every `pattern`-th.
        let window = try hp.positive("attention.sliding_window")
        let pattern = try hp.positive("attention.sliding_window_pattern", limit: 4096) ?? Self.slidingWindowPattern
        let scaling = try RopeScaling(hp)
        let global = RotaryEmbedding(headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, layout: .neox,
                                     linearScale: scaling.linearFactor)
        let local = RotaryEmbedding(headDim: c.headDim, ropeDim: c.ropeDim, base: Self.localRopeBase, layout: .neox)
        var ropes: [RotaryEmbedding] = [], attention: [AttentionSettings] = []
        for l in 0..<c.layerCount {
            let sliding = window != nil && (l + 1) % pattern != 0
            ropes.append(sliding ? local : global)
            attention.append(AttentionSettings(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                                               window: sliding ? window : nil))
        }
        self.ropes = ropes
        self.attention = attention
    }

    public func forward(batch: ForwardBatch, cache: PagedKVCache, scratch s: ForwardScratch) throws {
        try validate(batch, cache: cache, scratch: s)
        let c = config, mm = s.matmul, n = batch.tokenCount, eps = c.rmsEpsilon
        let dim = c.hiddenSize, x = s.x.pointer, xn = s.xNorm.pointer, out = s.projected.pointer

        // 1. Token embedding, scaled by √hidden.
        Norms.embed(batch, tokenEmbedding, into: x, scale: embeddingScale, pool: pool)

        for (l, layer) in layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V → per-head RMSNorm of Q and K → RoPE (NEOX, the
            //    layer's base), cache, attention (windowed or global) → output projection →
            //    RMSNorm → residual.
            Norms.rows(x, n, width: dim, weight: layer.attentionNorm, epsilon: eps, into: xn, pool: pool)
            mm.multiply(xn, rows: n, (layer.wq, s.q.pointer), (layer.wk, s.k.pointer), (layer.wv, s.v.pointer))
            Norms.perHead(s.q.pointer, n, heads: c.heads, headDim: c.headDim, weight: layer.queryNorm, epsilon: eps, pool: pool)
            Norms.perHead(s.k.pointer, n, heads: c.kvHeads, headDim: c.headDim, weight: layer.keyNorm, epsilon: eps, pool: pool)
            Attention.run(layer: l, attention[l], rope: ropes[l], batch: batch, cache: cache, scratch: s, pool: pool)
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: out)
            Norms.rows(out, n, width: dim, weight: layer.postAttentionNorm, epsilon: eps, into: out, pool: pool)
            Norms.addRows(out, into: x, n, width: dim, pool: pool)

            // 3. Feed-forward: RMSNorm → GeGLU (gelu(gate) ⊙ up) → down → RMSNorm → residual.
            Norms.rows(x, n, width: dim, weight: layer.ffnNorm, epsilon: eps, into: xn, pool: pool)
            FeedForward.gated(rows: n, gate: layer.wGate, up: layer.wUp, down: layer.wDown, activation: .geluTanh, scratch: s, pool: pool)
            Norms.rows(out, n, width: dim, weight: layer.postFeedForwardNorm, epsilon: eps, into: out, pool: pool)
            Norms.addRows(out, into: x, n, width: dim, pool: pool)
        }

        // 4. Final norm and output projection (tied to the embedding).
        Logits.compute(batch: batch, x: x, hiddenSize: dim, norm: outputNorm, epsilon: eps, output: output, scratch: s)
    }
}
