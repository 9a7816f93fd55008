import GGUF
import Kernels
import LLMBase
import Quant

/// One Phi-3 block's weights. The file fuses Q, K and V into one matrix
/// ([(heads + 2·kvHeads)·headDim × hidden]: Q rows, then K, then V) and gate and up into another
/// ([2·ffn × hidden]: gate rows, then up rows); each part here is a row view into it.
public struct Phi3Layer: @unchecked Sendable {
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

/// The Phi-3 architecture (Phi-3 mini and medium, Phi-3.5 mini, Phi-4 mini): Llama's pre-norm
/// blocks with fused projection matrices (split into row views at load, so the forward pass is
/// Llama's), NEOX RoPE and an output projection of its own. Long-context files with `rope_factors_long/short` are
/// refused by the loader (those tensors are not claimed), not run with the wrong positions.
public final class Phi3Model: CausalLM, @unchecked Sendable {
    public var architecture: String { "phi3" }
    public let config: TransformerConfig
    public let backend: MatmulBackend
    public let pool: ComputePool
    public let matrices: [(name: String, matrix: WeightMatrix)]
    let storage: WeightStorage
    let tokenEmbedding: WeightMatrix   // [vocab × hidden]
    let outputNorm: UnsafePointer<Float>
    let output: WeightMatrix           // [vocab × hidden], or the embedding (tied)
    let layers: [Phi3Layer]
    let rope: RotaryEmbedding
    let attention: AttentionSettings

    public init(gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws {
        try ModelLoader.check(gguf, is: "phi3")
        let hp = Hyperparameters(gguf: gguf, architecture: "phi3")
        let c = try TransformerConfig(hp)
        config = c
        let load = TensorLoader(gguf: gguf, architecture: "phi3", backend: backend)
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightMatrix {
            try load.matrix(name, rows: rows, columns: columns)
        }
        tokenEmbedding = try matrix("token_embd.weight", c.vocabularySize, c.hiddenSize)
        outputNorm = try load.vector("output_norm.weight", count: c.hiddenSize)
        output = load.has("output.weight") ? try matrix("output.weight", c.vocabularySize, c.hiddenSize) : tokenEmbedding
        var layers: [Phi3Layer] = []
        for l in 0..<c.layerCount {
            let p = "blk.\(l)."
            let qkv = try matrix(p + "attn_qkv.weight", c.queryDim + 2 * c.kvDim, c.hiddenSize)
            let gateUp = try matrix(p + "ffn_up.weight", 2 * c.feedForwardSize, c.hiddenSize)
            layers.append(Phi3Layer(
                attentionNorm: try load.vector(p + "attn_norm.weight", count: c.hiddenSize),
                wq: qkv.rows(0..<c.queryDim),
                wk: qkv.rows(c.queryDim..<(c.queryDim + c.kvDim)),
                wv: qkv.rows((c.queryDim + c.kvDim)..<(c.queryDim + 2 * c.kvDim)),
                wo: try matrix(p + "attn_output.weight", c.hiddenSize, c.queryDim),
                ffnNorm: try load.vector(p + "ffn_norm.weight", count: c.hiddenSize),
                wGate: gateUp.rows(0..<c.feedForwardSize),
                wUp: gateUp.rows(c.feedForwardSize..<(2 * c.feedForwardSize)),
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
        let c = config, mm = s.matmul, n = batch.tokenCount, eps = c.rmsEpsilon
        let dim = c.hiddenSize, x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding.
        Norms.embed(batch, tokenEmbedding, into: x, pool: pool)

        for (l, layer) in layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V (row views of the fused matrix) → RoPE (NEOX),
            //    cache, attention → output projection → residual.
            Norms.rows(x, n, width: dim, weight: layer.attentionNorm, epsilon: eps, into: xn, pool: pool)
            mm.multiply(xn, rows: n, (layer.wq, s.q.pointer), (layer.wk, s.k.pointer), (layer.wv, s.v.pointer))
            Attention.run(layer: l, attention, rope: rope, batch: batch, cache: cache, scratch: s, pool: pool)
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: s.projected.pointer)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)

            // 3. Feed-forward: RMSNorm → SwiGLU on the gate and up views → down → residual.
            Norms.rows(x, n, width: dim, weight: layer.ffnNorm, epsilon: eps, into: xn, pool: pool)
            FeedForward.gated(rows: n, gate: layer.wGate, up: layer.wUp, down: layer.wDown, activation: .silu, scratch: s, pool: pool)
            Norms.addRows(s.projected.pointer, into: x, n, width: dim, pool: pool)
        }

        // 4. Final norm and output projection.
        Logits.compute(batch: batch, x: x, hiddenSize: dim, norm: outputNorm, epsilon: eps, output: output, scratch: s)
    }
}
