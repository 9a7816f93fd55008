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
        weights = try LlamaWeights(gguf: gguf, config: config, dequantizeAll: backend == .reference,
                                   interleave: backend == .auto && InterleavedKernels.vectorized)
        self.backend = backend
        pool = ComputePool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        rope = Rope(headDim: config.headDim, ropeDim: config.ropeDim, base: config.ropeBase)
    }

    /// Block size of the one-sequence cache (the attention kernels' fast path wants multiples of 16).
    public static let contiguousBlockSize = 16

    /// A cache for one sequence of up to `capacity` positions, in blocks 0, 1, 2, … in order.
    public func makeCache(capacity: Int, type: KVCacheType = .f16) throws -> LlamaKVCache {
        guard capacity > 0, capacity <= config.contextLength else {
            throw ModelError.contextTooLong(requested: capacity, maximum: config.contextLength)
        }
        let bs = Self.contiguousBlockSize
        return LlamaKVCache(config: config, blockCount: (capacity + bs - 1) / bs, blockSize: bs, type: type)
    }

    /// A paged cache of `blockCount` blocks of `blockSize` positions, shared by many sequences.
    public func makePagedCache(blockCount: Int, blockSize: Int, type: KVCacheType = .f16) -> LlamaKVCache {
        LlamaKVCache(config: config, blockCount: max(blockCount, 1), blockSize: max(blockSize, 1), type: type)
    }

    /// Scratch for passes of up to `maxTokens` tokens over a context of `contextCapacity`;
    /// `allLogits` reserves logits for every token of a pass (perplexity, scoring), else for one.
    public func makeScratch(maxTokens: Int, contextCapacity: Int, allLogits: Bool = true) -> LlamaScratch {
        makeScratch(maxTokens: maxTokens, contextCapacity: contextCapacity, logitRows: allLogits ? maxTokens : 1)
    }

    /// Scratch for batches of up to `maxTokens` tokens at positions below `contextCapacity`, keeping
    /// up to `logitRows` rows of logits per pass.
    public func makeScratch(maxTokens: Int, contextCapacity: Int, logitRows: Int) -> LlamaScratch {
        let c = config
        let widest = max(c.hiddenSize, c.feedForwardSize, c.queryDim)
        let matmul = MatmulContext(pool: pool, backend: backend, maxRows: maxTokens, maxColumns: widest)
        return LlamaScratch(config: c, maxTokens: maxTokens, contextCapacity: contextCapacity,
                            logitRows: max(1, min(logitRows, maxTokens)), matmul: matmul)
    }

    /// Runs `tokens` of one sequence at positions `start ..< start + tokens.count` through the
    /// model with a cache from `makeCache`. Logits land in `scratch`: one row per token when
    /// `allLogits`, else one row for the last token. Allocates nothing.
    public func forward(_ tokens: UnsafeBufferPointer<Int>, start: Int, cache: LlamaKVCache,
                        scratch s: LlamaScratch, allLogits: Bool) throws {
        guard start >= 0, start + tokens.count <= cache.capacity, start + tokens.count <= s.contextCapacity else {
            throw ModelError.tooManyTokens(count: start + tokens.count, capacity: min(cache.capacity, s.contextCapacity))
        }
        s.singleSequence.removeAll()
        let blocks = (start + tokens.count + cache.blockSize - 1) / cache.blockSize
        try s.singleSequence.append(tokens, start: start, blockTable: 0..<blocks, logits: allLogits ? .all : .last)
        try forward(batch: s.singleSequence, cache: cache, scratch: s)
    }

    /// One decode step: `token` at `position`, logits of that token in `scratch` row 0. Passes the
    /// token from the stack (no per-token array).
    public func forward(token: Int, position: Int, cache: LlamaKVCache, scratch: LlamaScratch) throws {
        var t = token
        try withUnsafePointer(to: &t) {
            try forward(UnsafeBufferPointer(start: $0, count: 1), start: position, cache: cache, scratch: scratch, allLogits: false)
        }
    }

    /// Runs a batch of tokens from any number of sequences (see `LlamaBatch`) through the model,
    /// writing each token's keys and values into its sequence's KV blocks. Row r of the scratch's
    /// logits belongs to the batch's r-th logit token. Every token's row is computed the same way
    /// whatever else is in the batch, except that the matmul path depends on the batch's row count
    /// (`MatmulPlanner`). Allocates nothing.
    public func forward(batch: LlamaBatch, cache: LlamaKVCache, scratch s: LlamaScratch) throws {
        let c = config, w = weights, mm = s.matmul
        let n = batch.tokenCount, logitRows = batch.logitCount
        guard n > 0, n <= s.maxTokens else { throw ModelError.tooManyTokens(count: n, capacity: s.maxTokens) }
        guard logitRows <= s.logitRows else { throw ModelError.tooManyTokens(count: logitRows, capacity: s.logitRows) }
        guard cache.layerCount == c.layerCount, cache.kvDim == c.kvDim else {
            throw ModelError.tooManyTokens(count: cache.kvDim, capacity: c.kvDim)
        }
        try validate(batch, cache: cache, contextCapacity: s.contextCapacity)
        let dim = c.hiddenSize, qDim = c.queryDim, kvDim = c.kvDim, ffn = c.feedForwardSize, bs = cache.blockSize
        let x = s.x.pointer, xn = s.xNorm.pointer

        // 1. Token embedding: dequantize one row per token.
        forEachRow(n) { i in w.tokenEmbedding.dequantizeRows(batch.tokens[i], count: 1, into: x + i * dim) }

        for (l, layer) in w.layers.enumerated() {
            // 2. Attention: RMSNorm → Q, K, V projections → RoPE on Q and K → K, V into the
            //    token's slot. Every token of the batch is stored before any attends, so a
            //    sequence's later tokens in this batch see its earlier ones.
            forEachRow(n) { i in Elementwise.rmsNorm(x + i * dim, weight: layer.attentionNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            mm.multiply(xn, rows: n, weight: layer.wq, into: s.q.pointer)
            mm.multiply(xn, rows: n, weight: layer.wk, into: s.k.pointer, sameInput: true)
            mm.multiply(xn, rows: n, weight: layer.wv, into: s.v.pointer, sameInput: true)
            forEachRow(n) { i in
                let p = batch.positions[i]
                rope.apply(query: s.q.pointer + i * qDim, heads: c.heads, key: s.k.pointer + i * kvDim,
                           kvHeads: c.kvHeads, position: p)
                let block = batch.table(batch.sequenceOfToken[i])[p / bs]
                cache.store(keys: s.k.pointer + i * kvDim, values: s.v.pointer + i * kvDim, layer: l, block: block, slot: p % bs)
            }
            // 3. Causal grouped-query attention: each query head reads its shared KV head.
            switch cache.type {
            case .f16: attend(layer: l, batch: batch, cache: cache, scratch: s, element: Half.self)
            case .f32: attend(layer: l, batch: batch, cache: cache, scratch: s, element: Float.self)
            }
            // 4. Output projection and residual.
            mm.multiply(s.attention.pointer, rows: n, weight: layer.wo, into: s.projected.pointer)
            forEachRow(n) { i in Elementwise.add(s.projected.pointer + i * dim, into: x + i * dim, count: dim) }

            // 5. Feed-forward: RMSNorm → SwiGLU (silu(gate) ⊙ up) → down → residual.
            forEachRow(n) { i in Elementwise.rmsNorm(x + i * dim, weight: layer.ffnNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + i * dim) }
            mm.multiply(xn, rows: n, weight: layer.wGate, into: s.gate.pointer)
            mm.multiply(xn, rows: n, weight: layer.wUp, into: s.up.pointer, sameInput: true)
            forEachRow(n) { i in Elementwise.swiGLU(s.gate.pointer + i * ffn, up: s.up.pointer + i * ffn, count: ffn) }
            mm.multiply(s.gate.pointer, rows: n, weight: layer.wDown, into: s.projected.pointer)
            forEachRow(n) { i in Elementwise.add(s.projected.pointer + i * dim, into: x + i * dim, count: dim) }
        }

        // 6. Final norm and output projection (tied to the embedding when the file has no
        //    output.weight), for the tokens whose logits are wanted only.
        guard logitRows > 0 else { return }
        for r in 0..<logitRows {
            let i = batch.logitTokens[r]
            Elementwise.rmsNorm(x + i * dim, weight: w.outputNorm, count: dim, epsilon: c.rmsEpsilon, into: xn + r * dim)
        }
        mm.multiply(xn, rows: logitRows, weight: w.output, into: s.logitStore.pointer)
    }

    /// Runs `body` for rows 0..<n: on the calling thread for a few rows, over the compute pool for
    /// batches, where the row-wise steps (norms, SwiGLU's exponentials, residuals, RoPE) would
    /// otherwise leave the other threads idle between matmuls. Rows are whole cache lines apart.
    @inline(__always)
    private func forEachRow(_ n: Int, _ body: (Int) -> Void) {
        if n < 8 || pool.threadCount == 1 {
            for i in 0..<n { body(i) }
            return
        }
        let perChunk = (n + 4 * pool.threadCount - 1) / (4 * pool.threadCount)
        pool.parallelFor(chunks: (n + perChunk - 1) / perChunk) { chunk, _ in
            for i in (chunk * perChunk)..<min(n, (chunk + 1) * perChunk) { body(i) }
        }
    }

    /// Token ids in the vocabulary, positions inside the scratch's context and their block table,
    /// block ids inside the cache: checked before anything is written.
    private func validate(_ batch: LlamaBatch, cache: LlamaKVCache, contextCapacity: Int) throws {
        let vocab = config.vocabularySize
        for i in 0..<batch.tokenCount {
            let t = batch.tokens[i], p = batch.positions[i]
            guard t >= 0, t < vocab else { throw ModelError.tokenOutOfRange(id: t, vocabularySize: vocab) }
            guard p >= 0, p < contextCapacity else { throw ModelError.tooManyTokens(count: p + 1, capacity: contextCapacity) }
            let table = batch.table(batch.sequenceOfToken[i])
            guard p / cache.blockSize < table.count else {
                throw ModelError.positionOutsideBlocks(position: p, blocks: table.count, blockSize: cache.blockSize)
            }
        }
        for s in 0..<batch.sequenceCount {
            for b in batch.table(s) where b < 0 || b >= cache.blockCount {
                throw ModelError.blockOutOfRange(block: b, blockCount: cache.blockCount)
            }
        }
    }

    /// softmax(q·kᵀ/√d)·v for every query head of every batch token, over its sequence's
    /// positions 0 … p (causal), read block by block through the block table. Parallel over
    /// (KV head, group of tokens): the query heads sharing a KV head run in one task, so its K
    /// and V blocks are read from memory once and then from L1. Each task has its own row of
    /// score scratch.
    private func attend<E: KVCacheElement>(layer l: Int, batch: LlamaBatch, cache: LlamaKVCache, scratch s: LlamaScratch, element: E.Type) {
        let c = config, hd = c.headDim, qDim = c.queryDim, kvDim = c.kvDim, bs = cache.blockSize
        let n = batch.tokenCount
        let group = c.heads / c.kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let perGroup = (n + LlamaScratch.maxTokenGroups - 1) / LlamaScratch.maxTokenGroups
        let tokenGroups = (n + perGroup - 1) / perGroup   // every group non-empty
        let scoreBase = s.scores.pointer, ctx = s.contextCapacity
        let grouped = AttentionKernels.supportsHeads(blockSize: bs, headDim: hd) && group > 1
        // Groups of three heads (SmolLM2's 9 over 3) take consecutive tokens of a sequence in pairs.
        let pairs = grouped && group == 3
        let q0 = s.q.pointer, out0 = s.attention.pointer
        pool.parallelFor(chunks: c.kvHeads * tokenGroups) { task, _ in
            let kvHead = task % c.kvHeads, g = task / c.kvHeads
            // One score row per query head of the group, two tokens' worth (the scratch holds
            // 2 × heads × token groups rows).
            let scores = scoreBase + task * 2 * group * ctx
            let end = min(n, (g + 1) * perGroup)
            var i = g * perGroup
            while i < end {
                let last = batch.positions[i]
                let table = batch.table(batch.sequenceOfToken[i])
                defer { i += 1 }
                if pairs && i + 1 < end && batch.sequenceOfToken[i + 1] == batch.sequenceOfToken[i] && batch.positions[i + 1] == last + 1 {
                    // Two consecutive prompt tokens of one sequence: each K/V vector read once for
                    // both. Token i also scores position last + 1 (token i + 1's, already stored);
                    // its weight is zeroed after the softmax, so the sums equal the one-token path's.
                    let h0 = kvHead * 3, next = last + 1
                    let q = q0 + i * qDim + h0 * hd, out = out0 + i * qDim + h0 * hd
                    for j in 0...(next / bs) {
                        AttentionKernels.scoresTokenPair(queries: q, queryStride: hd, tokenStride: qDim,
                                                         keyBlock: cache.keyBlock(layer: l, block: table[j], as: E.self) + kvHead * hd * bs,
                                                         blockSize: bs, count: min(bs, next + 1 - j * bs), headDim: hd, scale: scale,
                                                         into: scores + j * bs, scoreStride: ctx)
                    }
                    for h in 0..<3 {
                        Elementwise.softmax(scores + h * ctx, count: last + 1)
                        scores[h * ctx + next] = 0
                        Elementwise.softmax(scores + (3 + h) * ctx, count: next + 1)
                        (out + h * hd).update(repeating: 0, count: hd)
                        (out + qDim + h * hd).update(repeating: 0, count: hd)
                    }
                    for j in 0...(next / bs) {
                        AttentionKernels.accumulateTokenPair(weights: scores + j * bs, weightStride: ctx,
                                                             values: cache.values(layer: l, block: table[j], slot: 0, as: E.self) + kvHead * hd,
                                                             stride: kvDim, count: min(bs, next + 1 - j * bs), into: out,
                                                             outStride: hd, outTokenStride: qDim)
                    }
                    i += 1
                    continue
                }
                if grouped {
                    // The query heads of this KV head, up to four at a time, read each K/V block once.
                    var h0 = kvHead * group
                    while h0 < (kvHead + 1) * group {
                        let heads = min(4, (kvHead + 1) * group - h0)
                        let q = q0 + i * qDim + h0 * hd, out = out0 + i * qDim + h0 * hd
                        for j in 0...(last / bs) {
                            AttentionKernels.scoresHeads(queries: q, queryStride: hd, heads: heads,
                                                         keyBlock: cache.keyBlock(layer: l, block: table[j], as: E.self) + kvHead * hd * bs,
                                                         blockSize: bs, count: min(bs, last + 1 - j * bs), headDim: hd, scale: scale,
                                                         into: scores + j * bs, scoreStride: ctx)
                        }
                        for h in 0..<heads {
                            Elementwise.softmax(scores + h * ctx, count: last + 1)
                            (out + h * hd).update(repeating: 0, count: hd)
                        }
                        for j in 0...(last / bs) {
                            AttentionKernels.accumulateHeads(weights: scores + j * bs, weightStride: ctx, heads: heads,
                                                             values: cache.values(layer: l, block: table[j], slot: 0, as: E.self) + kvHead * hd,
                                                             stride: kvDim, count: min(bs, last + 1 - j * bs), into: out, outStride: hd)
                        }
                        h0 += heads
                    }
                    continue
                }
                for h in (kvHead * group)..<((kvHead + 1) * group) {
                    let q = q0 + i * qDim + h * hd
                    // Scores block by block, softmax, then the weighted sum of values block by block.
                    for j in 0...(last / bs) {
                        AttentionKernels.scores(query: q, keyBlock: cache.keyBlock(layer: l, block: table[j], as: E.self) + kvHead * hd * bs,
                                                blockSize: bs, count: min(bs, last + 1 - j * bs), headDim: hd, scale: scale,
                                                into: scores + j * bs)
                    }
                    Elementwise.softmax(scores, count: last + 1)
                    let out = out0 + i * qDim + h * hd
                    out.update(repeating: 0, count: hd)
                    for j in 0...(last / bs) {
                        AttentionKernels.accumulate(weights: scores + j * bs,
                                                    values: cache.values(layer: l, block: table[j], slot: 0, as: E.self) + kvHead * hd,
                                                    stride: kvDim, count: min(bs, last + 1 - j * bs), headDim: hd, into: out)
                    }
                }
            }
        }
    }
}
