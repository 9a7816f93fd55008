import Kernels
import LLMBase
import Quant

/// What the engine, evaluation, benchmarks and the CLI know of a model: its shape, a forward pass
/// over a flat batch of tokens from many sequences, and the architecture-neutral cache and
/// scratch it runs on. One class per architecture conforms (`Architectures/`); `ModelLoader`
/// picks it from the file.
public protocol CausalLM: AnyObject, Sendable {
    /// `general.architecture` of the file ("llama", "qwen2", …).
    var architecture: String { get }
    /// The shape shared by every architecture: layers, heads, sizes, vocabulary, context.
    var config: TransformerConfig { get }
    var backend: MatmulBackend { get }
    var pool: ComputePool { get }
    /// Every weight matrix, by tensor name, for `inspect` (encoding and kernel path of each).
    var matrices: [(name: String, matrix: WeightMatrix)] { get }

    /// Runs a batch of tokens from any number of sequences (see `ForwardBatch`) through the model,
    /// writing each token's keys and values into its sequence's KV blocks. Row r of the scratch's
    /// logits belongs to the batch's r-th logit token. Every token's row is computed the same way
    /// whatever else is in the batch, except that the matmul path depends on the batch's row count
    /// (`MatmulPlanner`). Allocates nothing.
    func forward(batch: ForwardBatch, cache: PagedKVCache, scratch: ForwardScratch) throws
}

extension CausalLM {
    /// A cache for one sequence of up to `capacity` positions, in blocks 0, 1, 2, … in order.
    public func makeCache(capacity: Int, type: KVCacheType = .f16) throws -> PagedKVCache {
        guard capacity > 0, capacity <= config.contextLength else {
            throw ModelError.contextTooLong(requested: capacity, maximum: config.contextLength)
        }
        let bs = PagedKVCache.contiguousBlockSize
        return makePagedCache(blockCount: (capacity + bs - 1) / bs, blockSize: bs, type: type)
    }

    /// A paged cache of `blockCount` blocks of `blockSize` positions, shared by many sequences.
    public func makePagedCache(blockCount: Int, blockSize: Int, type: KVCacheType = .f16) -> PagedKVCache {
        PagedKVCache(layerCount: config.layerCount, kvDim: config.kvDim, blockCount: max(blockCount, 1),
                     blockSize: max(blockSize, 1), type: type)
    }

    /// Scratch for passes of up to `maxTokens` tokens over a context of `contextCapacity`;
    /// `allLogits` reserves logits for every token of a pass (perplexity, scoring), else for one.
    public func makeScratch(maxTokens: Int, contextCapacity: Int, allLogits: Bool = true) -> ForwardScratch {
        makeScratch(maxTokens: maxTokens, contextCapacity: contextCapacity, logitRows: allLogits ? maxTokens : 1)
    }

    /// Scratch for batches of up to `maxTokens` tokens at positions below `contextCapacity`, keeping
    /// up to `logitRows` rows of logits per pass.
    public func makeScratch(maxTokens: Int, contextCapacity: Int, logitRows: Int) -> ForwardScratch {
        let c = config
        let widest = max(c.hiddenSize, c.feedForwardSize, c.queryDim)
        let matmul = MatmulContext(pool: pool, backend: backend, maxRows: maxTokens, maxColumns: widest)
        return ForwardScratch(config: c, maxTokens: maxTokens, contextCapacity: contextCapacity,
                              logitRows: max(1, min(logitRows, maxTokens)), matmul: matmul)
    }

    /// Runs `tokens` of one sequence at positions `start ..< start + tokens.count` through the
    /// model with a cache from `makeCache`. Logits land in `scratch`: one row per token when
    /// `allLogits`, else one row for the last token. Allocates nothing.
    public func forward(_ tokens: UnsafeBufferPointer<Int>, start: Int, cache: PagedKVCache,
                        scratch s: ForwardScratch, allLogits: Bool) throws {
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
    public func forward(token: Int, position: Int, cache: PagedKVCache, scratch: ForwardScratch) throws {
        var t = token
        try withUnsafePointer(to: &t) {
            try forward(UnsafeBufferPointer(start: $0, count: 1), start: position, cache: cache, scratch: scratch, allLogits: false)
        }
    }

    /// Checks a batch against the model, the cache and the scratch before anything is written:
    /// sizes, token ids in the vocabulary, positions inside the scratch's context and their
    /// block table, block ids inside the cache. Every architecture's `forward` calls it first.
    public func validate(_ batch: ForwardBatch, cache: PagedKVCache, scratch s: ForwardScratch) throws {
        let c = config
        guard batch.tokenCount > 0, batch.tokenCount <= s.maxTokens else {
            throw ModelError.tooManyTokens(count: batch.tokenCount, capacity: s.maxTokens)
        }
        guard batch.logitCount <= s.logitRows else { throw ModelError.tooManyTokens(count: batch.logitCount, capacity: s.logitRows) }
        guard cache.layerCount == c.layerCount, cache.kvDim == c.kvDim else {
            throw ModelError.tooManyTokens(count: cache.kvDim, capacity: c.kvDim)
        }
        let vocab = c.vocabularySize
        for i in 0..<batch.tokenCount {
            let t = batch.tokens[i], p = batch.positions[i]
            guard t >= 0, t < vocab else { throw ModelError.tokenOutOfRange(id: t, vocabularySize: vocab) }
            guard p >= 0, p < s.contextCapacity else { throw ModelError.tooManyTokens(count: p + 1, capacity: s.contextCapacity) }
            let table = batch.table(batch.sequenceOfToken[i])
            guard p / cache.blockSize < table.count else {
                throw ModelError.positionOutsideBlocks(position: p, blocks: table.count, blockSize: cache.blockSize)
            }
        }
        for seq in 0..<batch.sequenceCount {
            for b in batch.table(seq) where b < 0 || b >= cache.blockCount {
                throw ModelError.blockOutOfRange(block: b, blockCount: cache.blockCount)
            }
        }
    }
}
