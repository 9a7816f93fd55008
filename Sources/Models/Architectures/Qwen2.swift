import GGUF
import Kernels
import LLMBase
import Quant

/// One Qwen2 block's weights: Llama's, plus biases on the Q, K and V projections.
public struct Qwen2Layer: @unchecked Sendable {
    public let attentionNorm: UnsafePointer<Float>   // [hidden]
    public let wq: WeightMatrix                      // [heads·headDim × hidden]
    public let wk: WeightMatrix                      // [kvHeads·headDim × hidden]
    public let wv: WeightMatrix                      // [kvHeads·headDim × hidden]
    public let bq: UnsafePointer<Float>              // [heads·headDim]
    public let bk: UnsafePointer<Float>              // [kvHeads·headDim]
    public let bv: UnsafePointer<Float>              // [kvHeads·headDim]
    public let wo: WeightMatrix                      // [hidden × heads·headDim]
    public let ffnNorm: UnsafePointer<Float>         // [hidden]
    public let wGate: WeightMatrix                   // [ffn × hidden]
    public let wUp: WeightMatrix                     // [ffn × hidden]
    public let wDown: WeightMatrix                   // [hidden × ffn]
}

/// The Qwen2 architecture (Qwen2, Qwen2.5, Qwen2.5-Coder): Llama's pre-norm blocks with biased
/// Q/K/V projections, NEOX-layout RoPE (the rotate-half pairs (i, i + d/2), as the checkpoint
/// stores Q and K) and an output projection of its own or tied to the embedding.
public final class Qwen2Model: CausalLM, @unchecked Sendable {
    public var architecture: String { "qwen2" }
    public let config: TransformerConfig
    public let backend: MatmulBackend
    public let pool: ComputePool
    public let matrices: [(name: String, matrix: WeightMatrix)]
    let storage: WeightStorage
    let tokenEmbedding: WeightMatrix   // [vocab × hidden]
    let outputNorm: UnsafePointer<Float>
    let output: WeightMatrix           // [vocab × hidden], or the embedding (tied)
    let layers: [Qwen2Layer]
    let rope: RotaryEmbedding
    let attention: AttentionSettings

    public init(gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws {
        try ModelLoader.check(gguf, is: "qwen2")
        let hp = Hyperparameters(gguf: gguf, architecture: "qwen2")
        let c = try TransformerConfig(hp)
        config = c
        let load = TensorLoader(gguf: gguf, architecture: "qwen2", backend: backend)
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightMatrix {
            try load.matrix(name, rows: rows, columns: columns)
        }
        tokenEmbedding = try matrix("token_embd.weight", c.vocabularySize, c.hiddenSize)
        outputNorm = try load.vector("output_norm.weight", count: c.hiddenSize)
        output = load.has("output.weight") ? try matrix("output.weight", c.vocabularySize, c.hiddenSize) : tokenEmbedding
        var layers: [Qwen2Layer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            layers.append(Qwen2Layer(
                attentionNorm: try load.vector(p + "attn_norm.weight", count: c.hiddenSize),
                wq: try matrix(p + "attn_q.weight", c.queryDim, c.hiddenSize),
                wk: try matrix(p + "attn_k.weight", c.kvDim, c.hiddenSize),
                wv: try matrix(p + "attn_v.weight", c.kvDim, c.hiddenSize),
                bq: try load.vector(p + "attn_q.bias", count: c.queryDim),
                bk: try load.vector(p + "attn_k.bias", count: c.kvDim),
                bv: try load.vector(p + "attn_v.bias", count: c.kvDim),
                wo: try matrix(p + "attn_output.weight", c.hiddenSize, c.queryDim),
                ffnNorm: try load.vector(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: try matrix(p + "ffn_gate.weight", c.feedForwardSize, c.hiddenSize),
                wUp: try matrix(p + "ffn_up.weight", c.feedForwardSize, c.hiddenSize),
                wDown: try matrix(p + "ffn_down.weight", c.hiddenSize, c.feedForwardSize)))
        }
        self.layers = layers
        storage = try load.finish(layerCount: c.layerCount)
        matrices = load.matrices
        self.backend = backend
        pool = ComputePool(threads: ModelLoader.threadCount(threads))
        let scaling = try RopeScaling(hp)
        rope = RotaryEmbedding(headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, layout: .neox,
                               linearScale: scaling.linearFactor)
        attention = AttentionSettings(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
    }

    public func forward(batch: ForwardBatch, cache: PagedKVCache, scratch s: ForwardScratch) throws {
        try validate(batch, cache: cache, scratch: s)
        let c = config, mm = s.matmul, n = batch.tokenCount
        let dim = c.hiddenSize, x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding.
        Norms.embed(batch, tokenEmbedding, into: x, pool: pool)

        for (l, layer) in layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V with their biases → RoPE (NEOX), cache, attention →
            //    output projection → residual.
            Norms.rows(x, n, width: dim, weight: layer.attentionNorm, epsilon: c.rmsEpsilon, into: xn, pool: pool)
            mm.multiply(xn, rows: n, (layer.wq, s.q.pointer), (layer.wk, s.k.pointer), (layer.wv, s.v.pointer))
            Norms.addBias(layer.bq, to: s.q.pointer, n, width: c.queryDim, pool: pool)
            Norms.addBias(layer.bk, to: s.k.pointer, n, width: c.kvDim, pool: pool)
            Norms.addBias(layer.bv, to: s.v.pointer, n, width: c.kvDim, pool: pool)
            Attention.run(layer: l, attention, rope: rope, batch: batch, cache: cache, scratch: s, pool: pool)
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: s.projected.pointer)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)

            // 3. Feed-forward: RMSNorm → SwiGLU → down → residual.
            Norms.rows(x, n, width: dim, weight: layer.ffnNorm, epsilon: c.rmsEpsilon, into: xn, pool: pool)
            FeedForward.gated(rows: n, gate: layer.wGate, up: layer.wUp, down: layer.wDown, activation: .silu, scratch: s, pool: pool)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)
        }

        // 4. Final norm and output projection.
        Logits.compute(batch: batch, x: x, hiddenSize: dim, norm: outputNorm, epsilon: c.rmsEpsilon, output: output, scratch: s)
    }
}
