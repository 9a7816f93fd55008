import GGUF
import Kernels
import LLMBase
import Quant

/// One Llama block's weights. Matrices are [out rows × in columns] (GGUF shape [in, out]).
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

/// All weights of a Llama model (see `TensorLoader` for where each lives).
public struct LlamaWeights: @unchecked Sendable {
    public let tokenEmbedding: WeightMatrix   // [vocab × hidden]
    public let outputNorm: UnsafePointer<Float>
    /// [vocab × hidden]; the token embedding itself when the file has no `output.weight` (tied).
    public let output: WeightMatrix
    public let tiedOutput: Bool
    public let layers: [LlamaLayer]
}

/// The Llama architecture (SmolLM2, TinyLlama, Llama 2 and 3): pre-norm blocks of grouped-query
/// attention with adjacent-pair RoPE and a SwiGLU feed-forward (llama2.c's `forward`, over a
/// batch of tokens from many sequences). Llama 3's RoPE scaling comes from `rope_freqs.weight`
/// (per-frequency factors, as the converter writes them) or `llama.rope.scaling.*` (linear).
public final class LlamaModel: CausalLM, @unchecked Sendable {
    public var architecture: String { "llama" }
    public let config: TransformerConfig
    public let weights: LlamaWeights
    public let backend: MatmulBackend
    public let pool: ComputePool
    public let matrices: [(name: String, matrix: WeightMatrix)]
    let storage: WeightStorage
    let rope: RotaryEmbedding
    let attention: AttentionSettings

    /// `backend: .reference` dequantizes every weight to F32 at load; the others keep quantized
    /// weights in the file's memory map. `threads`: compute threads (default: all cores).
    public init(gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws {
        try ModelLoader.check(gguf, is: "llama")
        let hp = Hyperparameters(gguf: gguf, architecture: "llama")
        let c = try TransformerConfig(hp)
        config = c
        let load = TensorLoader(gguf: gguf, architecture: "llama", backend: backend)
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightMatrix {
            try load.matrix(name, rows: rows, columns: columns)
        }
        let embedding = try matrix("token_embd.weight", c.vocabularySize, c.hiddenSize)
        let outputNorm = try load.vector("output_norm.weight", count: c.hiddenSize)
        let output = load.has("output.weight") ? try matrix("output.weight", c.vocabularySize, c.hiddenSize) : nil
        var layers: [LlamaLayer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            layers.append(LlamaLayer(
                attentionNorm: try load.vector(p + "attn_norm.weight", count: c.hiddenSize),
                wq: try matrix(p + "attn_q.weight", c.queryDim, c.hiddenSize),
                wk: try matrix(p + "attn_k.weight", c.kvDim, c.hiddenSize),
                wv: try matrix(p + "attn_v.weight", c.kvDim, c.hiddenSize),
                wo: try matrix(p + "attn_output.weight", c.hiddenSize, c.queryDim),
                ffnNorm: try load.vector(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: try matrix(p + "ffn_gate.weight", c.feedForwardSize, c.hiddenSize),
                wUp: try matrix(p + "ffn_up.weight", c.feedForwardSize, c.hiddenSize),
                wDown: try matrix(p + "ffn_down.weight", c.hiddenSize, c.feedForwardSize)))
        }
        // Llama 3: one frequency factor per rotated pair.
        let factors = try load.optionalVector("rope_freqs.weight", count: c.ropeDim / 2)
        storage = try load.finish(layerCount: c.layerCount)
        weights = LlamaWeights(tokenEmbedding: embedding, outputNorm: outputNorm, output: output ?? embedding,
                               tiedOutput: output == nil, layers: layers)
        matrices = load.matrices
        self.backend = backend
        pool = ComputePool(threads: ModelLoader.threadCount(threads))
        let scaling = try RopeScaling(hp)
        rope = RotaryEmbedding(headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, layout: .adjacentPairs,
                               linearScale: scaling.linearFactor,
                               frequencyFactors: factors.map { Array(UnsafeBufferPointer(start: $0, count: c.ropeDim / 2)) })
        attention = AttentionSettings(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
    }

    public func forward(batch: ForwardBatch, cache: PagedKVCache, scratch s: ForwardScratch) throws {
        try validate(batch, cache: cache, scratch: s)
        let c = config, w = weights, mm = s.matmul, n = batch.tokenCount
        let dim = c.hiddenSize, x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding: dequantize one row per token.
        Norms.embed(batch, w.tokenEmbedding, into: x, pool: pool)

        for (l, layer) in w.layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V → RoPE, cache, attention → output projection → residual.
            Norms.rows(x, n, width: dim, weight: layer.attentionNorm, epsilon: c.rmsEpsilon, into: xn, pool: pool)
            mm.multiply(xn, rows: n, (layer.wq, s.q.pointer), (layer.wk, s.k.pointer), (layer.wv, s.v.pointer))
            Attention.run(layer: l, attention, rope: rope, batch: batch, cache: cache, scratch: s, pool: pool)
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: s.projected.pointer)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)

            // 3. Feed-forward: RMSNorm → SwiGLU (silu(gate) ⊙ up) → down → residual.
            Norms.rows(x, n, width: dim, weight: layer.ffnNorm, epsilon: c.rmsEpsilon, into: xn, pool: pool)
            FeedForward.gated(rows: n, gate: layer.wGate, up: layer.wUp, down: layer.wDown, activation: .silu, scratch: s, pool: pool)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)
        }

        // 4. Final norm and output projection, for the tokens whose logits are wanted only.
        Logits.compute(batch: batch, x: x, hiddenSize: dim, norm: w.outputNorm, epsilon: c.rmsEpsilon, output: w.output, scratch: s)
    }
}
