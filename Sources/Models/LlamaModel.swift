import Foundation
import GGUF
import Kernels
import LLMBase

/// A Llama-architecture model: config, weights and the forward pass (llama2.c's `forward`, over a
/// batch of consecutive tokens of one sequence).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    let rope: Rope

    public init(gguf: GGUFFile) throws {
        config = try LlamaConfig(gguf: gguf)
        weights = try LlamaWeights(gguf: gguf, config: config)
        rope = Rope(headDim: config.headDim, ropeDim: config.ropeDim, base: config.ropeBase)
    }

    public func makeCache(capacity: Int) throws -> LlamaKVCache {
        guard capacity > 0, capacity <= config.contextLength else {
            throw ModelError.contextTooLong(requested: capacity, maximum: config.contextLength)
        }
        return LlamaKVCache(config: config, capacity: capacity)
    }

    public func makeScratch(maxTokens: Int, contextCapacity: Int) -> LlamaScratch {
        LlamaScratch(config: config, maxTokens: maxTokens, contextCapacity: contextCapacity)
    }

    /// Runs `tokens` at positions `start ..< start + tokens.count` through the model, appending
    /// their keys and values to `cache`. Logits land in `scratch`: one row per token when
    /// `allLogits`, else one row for the last token. Allocates nothing.
    public func forward(_ tokens: UnsafeBufferPointer<Int>, start: Int, cache: LlamaKVCache,
                        scratch s: LlamaScratch, allLogits: Bool) throws {
        let c = config, w = weights
        let n = tokens.count
        guard n > 0, n <= s.maxTokens else { throw ModelError.tooManyTokens(count: n, capacity: s.maxTokens) }
        guard start >= 0, start + n <= cache.capacity, start + n <= s.scores.count else {
            throw ModelError.tooManyTokens(count: start + n, capacity: min(cache.capacity, s.scores.count))
        }
        for t in tokens where t < 0 || t >= c.vocabularySize {
            throw ModelError.tokenOutOfRange(id: t, vocabularySize: c.vocabularySize)
        }
        let dim = c.hiddenSize, qDim = c.queryDim, kvDim = c.kvDim, ffn = c.feedForwardSize
        let x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding.
        for (i, t) in tokens.enumerated() { (x + i * dim).update(from: w.tokenEmbedding + t * dim, count: dim) }

        for (l, layer) in w.layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V projections → RoPE on Q and K → cache K, V.
            for i in 0..<n { Elementwise.rmsNorm(x + i * dim, weight: layer.attentionNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            Matmul.f32(xn, rows: n, inputs: dim, weights: layer.wq, outputs: qDim, into: s.q.pointer)
            Matmul.f32(xn, rows: n, inputs: dim, weights: layer.wk, outputs: kvDim, into: s.k.pointer)
            Matmul.f32(xn, rows: n, inputs: dim, weights: layer.wv, outputs: kvDim, into: s.v.pointer)
            for i in 0..<n {
                rope.apply(s.q.pointer + i * qDim, heads: c.heads, position: start + i)
                rope.apply(s.k.pointer + i * kvDim, heads: c.kvHeads, position: start + i)
                cache.keys(layer: l, position: start + i).update(from: s.k.pointer + i * kvDim, count: kvDim)
                cache.values(layer: l, position: start + i).update(from: s.v.pointer + i * kvDim, count: kvDim)
            }
            // 3. Causal grouped-query attention: each query head reads its shared KV head.
            attend(layer: l, tokens: n, start: start, cache: cache, scratch: s)
            // 4. Output projection and residual.
            Matmul.f32(s.attention.pointer, rows: n, inputs: qDim, weights: layer.wo, outputs: dim, into: s.projected.pointer)
            Elementwise.add(s.projected.pointer, into: x, count: n * dim)

            // 5. Feed-forward: RMSNorm → SwiGLU (silu(gate) ⊙ up) → down → residual.
            for i in 0..<n { Elementwise.rmsNorm(x + i * dim, weight: layer.ffnNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            Matmul.f32(xn, rows: n, inputs: dim, weights: layer.wGate, outputs: ffn, into: s.gate.pointer)
            Matmul.f32(xn, rows: n, inputs: dim, weights: layer.wUp, outputs: ffn, into: s.up.pointer)
            Elementwise.swiGLU(s.gate.pointer, up: s.up.pointer, count: n * ffn)
            Matmul.f32(s.gate.pointer, rows: n, inputs: ffn, weights: layer.wDown, outputs: dim, into: s.projected.pointer)
            Elementwise.add(s.projected.pointer, into: x, count: n * dim)
        }

        // 6. Final norm and output projection (tied to the embedding when the file has no output.weight).
        let first = allLogits ? 0 : n - 1
        let rows = n - first
        for i in first..<n { Elementwise.rmsNorm(x + i * dim, weight: w.outputNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + (i - first) * dim) }
        Matmul.f32(xn, rows: rows, inputs: dim, weights: w.output, outputs: c.vocabularySize, into: s.logitStore.pointer)
    }

    /// softmax(q·kᵀ/√d)·v for every query head of every batch token, over cached positions
    /// 0 … start+i (causal).
    private func attend(layer l: Int, tokens n: Int, start: Int, cache: LlamaKVCache, scratch s: LlamaScratch) {
        let c = config, hd = c.headDim, qDim = c.queryDim
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let scores = s.scores.pointer
        for i in 0..<n {
            let last = start + i
            for h in 0..<c.heads {
                let q = s.q.pointer + i * qDim + h * hd
                let kvOffset = (h / group) * hd
                for p in 0...last {
                    let k = cache.keys(layer: l, position: p) + kvOffset
                    var dot: Float = 0
                    for d in 0..<hd { dot += q[d] * k[d] }
                    scores[p] = dot * scale
                }
                Elementwise.softmax(scores, count: last + 1)
                let out = s.attention.pointer + i * qDim + h * hd
                out.update(repeating: 0, count: hd)
                for p in 0...last {
                    let v = cache.values(layer: l, position: p) + kvOffset
                    let a = scores[p]
                    for d in 0..<hd { out[d] += a * v[d] }
                }
            }
        }
    }
}
