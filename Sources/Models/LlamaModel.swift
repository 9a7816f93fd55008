import Foundation
import GGUF
import Kernels
import LLMBase
import Quant

/// A Llama-architecture model: config, weights and the forward pass (llama2.c's `forward`, over a
/// batch of consecutive tokens of one sequence).
public final class LlamaModel: @unchecked Sendable {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    public let backend: MatmulBackend
    public let pool: ComputePool
    let rope: Rope

    /// `backend: .reference` dequantizes every weight to F32 at load; the others keep quantized
    /// weights in the file's memory map. `threads`: compute threads (default: all cores).
    public init(gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws {
        config = try LlamaConfig(gguf: gguf)
        weights = try LlamaWeights(gguf: gguf, config: config, dequantizeAll: backend == .reference)
        self.backend = backend
        pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        rope = Rope(headDim: config.headDim, ropeDim: config.ropeDim, base: config.ropeBase)
    }

    public func makeCache(capacity: Int) throws -> LlamaKVCache {
        guard capacity > 0, capacity <= config.contextLength else {
            throw ModelError.contextTooLong(requested: capacity, maximum: config.contextLength)
        }
        return LlamaKVCache(config: config, capacity: capacity)
    }

    /// Scratch for passes of up to `maxTokens` tokens over a context of `contextCapacity`;
    /// `allLogits` reserves logits for every token of a pass (perplexity, scoring), else for one.
    public func makeScratch(maxTokens: Int, contextCapacity: Int, allLogits: Bool = true) -> LlamaScratch {
        let c = config
        let widest = max(c.hiddenSize, c.feedForwardSize, c.queryDim)
        let matmul = MatmulContext(pool: pool, backend: backend, maxRows: maxTokens, maxColumns: widest)
        return LlamaScratch(config: c, maxTokens: maxTokens, contextCapacity: contextCapacity,
                            logitRows: allLogits ? maxTokens : 1, matmul: matmul)
    }

    /// Runs `tokens` at positions `start ..< start + tokens.count` through the model, appending
    /// their keys and values to `cache`. Logits land in `scratch`: one row per token when
    /// `allLogits`, else one row for the last token. Allocates nothing.
    public func forward(_ tokens: UnsafeBufferPointer<Int>, start: Int, cache: LlamaKVCache,
                        scratch s: LlamaScratch, allLogits: Bool) throws {
        let c = config, w = weights, mm = s.matmul
        let n = tokens.count
        guard n > 0, n <= s.maxTokens, !allLogits || n <= s.logitRows else {
            throw ModelError.tooManyTokens(count: n, capacity: allLogits ? min(s.maxTokens, s.logitRows) : s.maxTokens)
        }
        guard start >= 0, start + n <= cache.capacity, start + n <= s.contextCapacity else {
            throw ModelError.tooManyTokens(count: start + n, capacity: min(cache.capacity, s.contextCapacity))
        }
        for t in tokens where t < 0 || t >= c.vocabularySize {
            throw ModelError.tokenOutOfRange(id: t, vocabularySize: c.vocabularySize)
        }
        let dim = c.hiddenSize, qDim = c.queryDim, kvDim = c.kvDim, ffn = c.feedForwardSize
        let x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding: dequantize one row per token.
        for (i, t) in tokens.enumerated() { w.tokenEmbedding.dequantizeRows(t, count: 1, into: x + i * dim) }

        for (l, layer) in w.layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V projections → RoPE on Q and K → cache K, V.
            for i in 0..<n { Elementwise.rmsNorm(x + i * dim, weight: layer.attentionNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            mm.multiply(xn, rows: n, weight: layer.wq, into: s.q.pointer)
            mm.multiply(xn, rows: n, weight: layer.wk, into: s.k.pointer)
            mm.multiply(xn, rows: n, weight: layer.wv, into: s.v.pointer)
            for i in 0..<n {
                rope.apply(query: s.q.pointer + i * qDim, heads: c.heads, key: s.k.pointer + i * kvDim,
                           kvHeads: c.kvHeads, position: start + i)
                cache.keys(layer: l, position: start + i).update(from: s.k.pointer + i * kvDim, count: kvDim)
                cache.values(layer: l, position: start + i).update(from: s.v.pointer + i * kvDim, count: kvDim)
            }
            // 3. Causal grouped-query attention: each query head reads its shared KV head.
            attend(layer: l, tokens: n, start: start, cache: cache, scratch: s)
            // 4. Output projection and residual.
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: s.projected.pointer)
            Elementwise.add(s.projected.pointer, into: x, count: n * dim)

            // 5. Feed-forward: RMSNorm → SwiGLU (silu(gate) ⊙ up) → down → residual.
            for i in 0..<n { Elementwise.rmsNorm(x + i * dim, weight: layer.ffnNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            mm.multiply(xn, rows: n, weight: layer.wGate, into: s.gate.pointer)
            mm.multiply(xn, rows: n, weight: layer.wUp, into: s.up.pointer)
            Elementwise.swiGLU(s.gate.pointer, up: s.up.pointer, count: n * ffn)
            mm.multiply(s.gate.pointer, rows: n, weight: layer.wDown, into: s.projected.pointer)
            Elementwise.add(s.projected.pointer, into: x, count: n * dim)
        }

        // 6. Final norm and output projection (tied to the embedding when the file has no output.weight).
        let first = allLogits ? 0 : n - 1
        for i in first..<n { Elementwise.rmsNorm(x + i * dim, weight: w.outputNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + (i - first) * dim) }
        mm.multiply(xn, rows: n - first, weight: w.output, into: s.logitStore.pointer)
    }

    /// One decode step: `token` at `position`, logits of that token in `scratch` row 0. Passes the
    /// token from the stack (no per-token array).
    public func forward(token: Int, position: Int, cache: LlamaKVCache, scratch: LlamaScratch) throws {
        var t = token
        try withUnsafePointer(to: &t) {
            try forward(UnsafeBufferPointer(start: $0, count: 1), start: position, cache: cache, scratch: scratch, allLogits: false)
        }
    }

    /// softmax(q·kᵀ/√d)·v for every query head of every batch token, over cached positions
    /// 0 … start+i (causal). Parallel over (head, group of tokens); each task has its own row of
    /// score scratch.
    private func attend(layer l: Int, tokens n: Int, start: Int, cache: LlamaKVCache, scratch s: LlamaScratch) {
        let c = config, hd = c.headDim, qDim = c.queryDim
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let perGroup = (n + LlamaScratch.maxTokenGroups - 1) / LlamaScratch.maxTokenGroups
        let tokenGroups = (n + perGroup - 1) / perGroup   // every group non-empty
        let scoreBase = s.scores.pointer, ctx = s.contextCapacity
        let q0 = s.q.pointer, out0 = s.attention.pointer
        pool.parallelFor(chunks: c.heads * tokenGroups) { task, _ in
            let h = task % c.heads, g = task / c.heads
            let scores = scoreBase + task * ctx
            let kvOffset = (h / group) * hd
            for i in (g * perGroup)..<min(n, (g + 1) * perGroup) {
                let last = start + i
                let q = q0 + i * qDim + h * hd
                for p in 0...last {
                    scores[p] = Dot.f32(cache.keys(layer: l, position: p) + kvOffset, q, count: hd) * scale
                }
                Elementwise.softmax(scores, count: last + 1)
                let out = out0 + i * qDim + h * hd
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
