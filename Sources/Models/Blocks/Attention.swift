import Kernels
import LLMBase

/// One layer's attention settings: head counts and size, the score scale, and the sliding window.
public struct AttentionSettings: Sendable, Equatable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Multiplies q·k (1/√headDim unless the architecture says otherwise).
    public var scale: Float
    /// A token attends to the last `window` positions, itself included (nil: all before it).
    public var window: Int?

    public init(heads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil, window: Int? = nil) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale ?? 1 / Float(headDim).squareRoot()
        self.window = window
    }
}

/// Causal grouped-query self-attention over the paged KV cache, shared by every architecture.
///
///   q, k, v (projected, biased, normed by the caller) ─▶ RoPE on q and k ─▶ k, v into each token's
///   slot ─▶ softmax(scale·q·kᵀ)·v per query head ─▶ scratch.attention
public enum Attention {
    /// Rotates each token's queries and keys, stores its keys and values into its slot (every
    /// token of the batch before any attends, so a sequence's later tokens in this batch see its
    /// earlier ones), then attends. Reads s.q, s.k, s.v; writes s.attention.
    public static func run(layer l: Int, _ c: AttentionSettings, rope: RotaryEmbedding, batch: ForwardBatch,
                           cache: PagedKVCache, scratch s: ForwardScratch, pool: ComputePool) {
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim, bs = cache.blockSize
        pool.forEachRow(batch.tokenCount) { i in
            let p = batch.positions[i]
            rope.apply(query: s.q.pointer + i * qDim, heads: c.heads, key: s.k.pointer + i * kvDim, kvHeads: c.kvHeads, position: p)
            let block = batch.table(batch.sequenceOfToken[i])[p / bs]
            cache.store(keys: s.k.pointer + i * kvDim, values: s.v.pointer + i * kvDim, layer: l, block: block, slot: p % bs)
        }
        switch cache.type {
        case .f16: attend(layer: l, c, batch: batch, cache: cache, scratch: s, pool: pool, element: Half.self)
        case .f32: attend(layer: l, c, batch: batch, cache: cache, scratch: s, pool: pool, element: Float.self)
        }
    }

    /// softmax(q·kᵀ/√d)·v for every query head of every batch token, over its sequence's
    /// positions 0 … p (causal), read block by block through the block table. Parallel over
    /// (KV head, group of tokens): the query heads sharing a KV head run in one task, so its K
    /// and V blocks are read from memory once and then from L1. Each task has its own row of
    /// score scratch.
    static func attend<E: KVCacheElement>(layer l: Int, _ c: AttentionSettings, batch: ForwardBatch, cache: PagedKVCache,
                                          scratch s: ForwardScratch, pool: ComputePool, element: E.Type) {
        let hd = c.headDim, qDim = c.heads * hd, kvDim = c.kvHeads * hd, bs = cache.blockSize
        let n = batch.tokenCount
        let group = c.heads / c.kvHeads
        let scale = c.scale
        let perGroup = (n + ForwardScratch.maxTokenGroups - 1) / ForwardScratch.maxTokenGroups
        let tokenGroups = (n + perGroup - 1) / perGroup   // every group non-empty
        let scoreBase = s.scores.pointer, ctx = s.contextCapacity
        let grouped = AttentionKernels.supportsHeads(blockSize: bs, headDim: hd) && group > 1
        // Groups of three heads (SmolLM2's 9 over 3) take consecutive tokens of a sequence in pairs.
        // (Not in windowed layers: the pair kernel scores from position 0.)
        let pairs = grouped && group == 3 && c.window == nil
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
                // A sliding window keeps positions first...last; blocks before first's are
                // skipped, and the skipped head of first's block gets weight 0.
                let first = c.window.map { max(0, last + 1 - $0) } ?? 0
                let j0 = first / bs, skipped = first - j0 * bs
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
                        for j in j0...(last / bs) {
                            AttentionKernels.scoresHeads(queries: q, queryStride: hd, heads: heads,
                                                         keyBlock: cache.keyBlock(layer: l, block: table[j], as: E.self) + kvHead * hd * bs,
                                                         blockSize: bs, count: min(bs, last + 1 - j * bs), headDim: hd, scale: scale,
                                                         into: scores + j * bs, scoreStride: ctx)
                        }
                        for h in 0..<heads {
                            Elementwise.softmax(scores + h * ctx + first, count: last + 1 - first)
                            (scores + h * ctx + j0 * bs).update(repeating: 0, count: skipped)
                            (out + h * hd).update(repeating: 0, count: hd)
                        }
                        for j in j0...(last / bs) {
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
                    for j in j0...(last / bs) {
                        AttentionKernels.scores(query: q, keyBlock: cache.keyBlock(layer: l, block: table[j], as: E.self) + kvHead * hd * bs,
                                                blockSize: bs, count: min(bs, last + 1 - j * bs), headDim: hd, scale: scale,
                                                into: scores + j * bs)
                    }
                    Elementwise.softmax(scores + first, count: last + 1 - first)
                    (scores + j0 * bs).update(repeating: 0, count: skipped)
                    let out = out0 + i * qDim + h * hd
                    out.update(repeating: 0, count: hd)
                    for j in j0...(last / bs) {
                        AttentionKernels.accumulate(weights: scores + j * bs,
                                                    values: cache.values(layer: l, block: table[j], slot: 0, as: E.self) + kvHead * hd,
                                                    stride: kvDim, count: min(bs, last + 1 - j * bs), headDim: hd, into: out)
                    }
                }
            }
        }
    }
}
