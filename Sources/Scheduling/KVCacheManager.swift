/// Which blocks each sequence holds, over a `BlockPool` with prefix caching (vLLM
/// `kv_cache_manager.py`). The interface is narrow: look up a cached prefix, reserve slots (nil when
/// the pool cannot supply them), read a block table, free. Bad input gives nil or does nothing.
public final class KVCacheManager {
    public let blockSize: Int
    public let prefixCaching: Bool
    /// Tokens looked up in `computedBlocks(for:)`, and how many of them were found cached.
    public private(set) var prefixQueryTokens = 0
    public private(set) var prefixHitTokens = 0

    private var pool: BlockPool
    private let hashFunction: BlockHashFunction
    private var sequences: [SequenceID: SequenceBlocks] = [:]

    /// One sequence's blocks, and how far its full blocks have been entered in the prefix cache.
    private struct SequenceBlocks {
        var blocks: [BlockID] = []
        /// Leading blocks already hashed (or found to have an identical cached twin).
        var hashedBlockCount = 0
        /// Hash and canonical cached identity of block `hashedBlockCount - 1`: the next block's parent.
        var parentHash: BlockHash?
        var parentIdentity = CacheIdentity.root
        /// Set when a different block owns this sequence's next hash (a 64-bit collision): its later
        /// blocks could not name their parent, so they stay out of the cache.
        var cachingStopped = false
    }

    public convenience init(blockCount: Int, blockSize: Int, prefixCaching: Bool = true) {
        self.init(blockCount: blockCount, blockSize: blockSize, prefixCaching: prefixCaching,
                  hashFunction: { BlockHash(parent: $0, tokens: $1) })
    }

    /// Tests pass a weak `hashFunction` to force collisions.
    package init(blockCount: Int, blockSize: Int, prefixCaching: Bool, hashFunction: @escaping BlockHashFunction) {
        pool = BlockPool(blockCount: blockCount, blockSize: blockSize)
        self.blockSize = pool.blockSize
        self.prefixCaching = prefixCaching
        self.hashFunction = hashFunction
    }

    public var totalBlocks: Int { pool.blockCount }
    /// Blocks in the free queue, including cached blocks that allocation may evict.
    public var freeBlocks: Int { pool.freeCount }
    public var usedBlocks: Int { pool.blockCount - pool.freeCount }
    /// Blocks currently holding a prefix-cache entry, in use or free.
    public var cachedBlocks: Int { pool.cachedCount }
    /// A read-only copy of the pool (its arrays are shared until written): reference counts, hashes.
    public var blockPool: BlockPool { pool }

    /// Blocks needed to hold `tokenCount` tokens.
    public func blocksNeeded(for tokenCount: Int) -> Int {
        tokenCount <= 0 ? 0 : (tokenCount - 1) / blockSize + 1
    }

    /// Longest cached prefix of `tokens`, in full blocks, never the whole sequence: at most
    /// (tokens.count - 1) / blockSize blocks so the last token is always recomputed (its logits are
    /// needed). Pure lookup (touches nothing) except that it adds to the query/hit statistics.
    /// Empty when prefix caching is off.
    public func computedBlocks(for tokens: [Int]) -> (blocks: [BlockID], tokenCount: Int) {
        guard prefixCaching, !tokens.isEmpty else { return ([], 0) }
        var blocks: [BlockID] = []
        var parentHash: BlockHash?
        var parent = CacheIdentity.root
        for index in 0 ..< (tokens.count - 1) / blockSize {
            let slice = tokens[index * blockSize ..< (index + 1) * blockSize]
            let hash = hashFunction(parentHash, slice)
            guard let block = pool.cachedBlock(hash: hash, tokens: slice, parent: parent),
                  let identity = pool.identity(of: block) else { break }
            blocks.append(block)
            parentHash = hash
            parent = identity
        }
        prefixQueryTokens += tokens.count
        prefixHitTokens += blocks.count * blockSize
        return (blocks, blocks.count * blockSize)
    }

    /// Reserves KV slots so `sequence` covers `numComputedTokens + newTokens` tokens.
    ///
    ///     |<------ numComputedTokens ------>|<--- newTokens --->|
    ///     | cachedBlocks (hits) | own blocks     | new blocks        |
    ///     |  full, hashed       | computed       | returned          |
    ///
    /// On the first call for a sequence pass the `cachedBlocks` from `computedBlocks(for:)`
    /// (`numComputedTokens == cachedBlocks.count * blockSize`); later calls pass []. `tokens` is every
    /// known token id of the sequence (prompt and generated so far).
    ///
    /// Returns the newly allocated blocks, or nil with no state changed if the free queue cannot
    /// supply them or the input is inconsistent. Hit blocks with reference count 0 sit in the free
    /// queue, so they count as not free (as in vLLM). On success hit blocks gain a reference and leave
    /// the queue, new blocks are popped, then every block full within
    /// `min(numComputedTokens + newTokens, tokens.count)` tokens and not yet hashed enters the cache
    /// (if an identical block is already cached, that entry stays and this block stays unhashed).
    public func allocateSlots(for sequence: SequenceID, tokens: [Int], numComputedTokens: Int, newTokens: Int,
                              cachedBlocks: [BlockID]) -> [BlockID]? {
        guard numComputedTokens >= 0, newTokens >= 0 else { return nil }
        let (tokenTotal, overflow) = numComputedTokens.addingReportingOverflow(newTokens)
        guard !overflow else { return nil }
        let existing = sequences[sequence]
        var hitsInFreeQueue = 0
        if !cachedBlocks.isEmpty {
            guard existing == nil, prefixCaching, numComputedTokens == cachedBlocks.count * blockSize,
                  numComputedTokens <= tokens.count, Set(cachedBlocks).count == cachedBlocks.count else { return nil }
            // Check the hits again rather than trust the caller: each must still hold exactly this
            // block of `tokens` after exactly the hit before it.
            var parent = CacheIdentity.root
            for (index, block) in cachedBlocks.enumerated() {
                let slice = tokens[index * blockSize ..< (index + 1) * blockSize]
                guard pool.holds(block, tokens: slice, parent: parent), let identity = pool.identity(of: block) else { return nil }
                parent = identity
                if pool.referenceCount(of: block) == 0 { hitsInFreeQueue += 1 }
            }
        }
        var state = existing ?? SequenceBlocks()
        let newBlockCount = max(0, blocksNeeded(for: tokenTotal) - state.blocks.count - cachedBlocks.count)
        guard newBlockCount <= pool.freeCount - hitsInFreeQueue else { return nil }

        // Touch hits before popping, so no pop can evict a block this sequence is about to use.
        for block in cachedBlocks { pool.touch(block) }
        if let last = cachedBlocks.last, let identity = pool.identity(of: last) {
            state.blocks = cachedBlocks
            state.hashedBlockCount = cachedBlocks.count
            state.parentHash = pool.hash(of: last)
            state.parentIdentity = identity
        }
        var newBlocks: [BlockID] = []
        newBlocks.reserveCapacity(newBlockCount)
        for _ in 0 ..< newBlockCount {
            // Cannot fail: the count was checked against the free queue above.
            guard let block = pool.popFree() else { break }
            newBlocks.append(block)
        }
        state.blocks += newBlocks
        if prefixCaching { cacheFullBlocks(of: &state, tokens: tokens, upTo: min(tokenTotal, tokens.count)) }
        sequences[sequence] = state
        return newBlocks
    }

    /// The blocks of `sequence` in position order; [] if unknown.
    public func blockTable(for sequence: SequenceID) -> [BlockID] { sequences[sequence]?.blocks ?? [] }

    /// Returns all of a sequence's blocks: each loses a reference, and those reaching 0 join the free
    /// queue's tail in reverse block-table order, so a sequence's last blocks (the least shareable)
    /// are evicted first (as in vLLM). Cache entries stay. Unknown id: no-op.
    public func free(_ sequence: SequenceID) {
        guard let state = sequences.removeValue(forKey: sequence) else { return }
        for block in state.blocks.reversed() { pool.release(block) }
    }

    /// Enters the full, not yet hashed blocks within the first `tokenLimit` tokens in the cache.
    private func cacheFullBlocks(of state: inout SequenceBlocks, tokens: [Int], upTo tokenLimit: Int) {
        let fullBlocks = min(tokenLimit / blockSize, state.blocks.count)
        while !state.cachingStopped && state.hashedBlockCount < fullBlocks {
            let index = state.hashedBlockCount
            let slice = tokens[index * blockSize ..< (index + 1) * blockSize]
            let hash = hashFunction(state.parentHash, slice)
            if let twin = pool.cachedBlock(hash: hash, tokens: slice, parent: state.parentIdentity),
               let identity = pool.identity(of: twin) {
                // Another sequence computed the same block first; its entry stays canonical.
                state.parentIdentity = identity
            } else if let identity = pool.cache(state.blocks[index], hash: hash, tokens: slice,
                                                parent: state.parentIdentity) {
                state.parentIdentity = identity
            } else {
                state.cachingStopped = true
                return
            }
            state.parentHash = hash
            state.hashedBlockCount += 1
        }
    }
}
