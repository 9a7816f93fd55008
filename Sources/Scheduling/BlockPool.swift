/// Identifies the content of one cached block for as long as that block stays cached. Identities are
/// never reused, so a child block that records its parent's identity can prove, without trusting any
/// hash, that the block it follows still holds the exact prefix it was computed after.
public struct CacheIdentity: Hashable, Sendable {
    let value: UInt64
    /// The parent of a sequence's first block.
    public static let root = CacheIdentity(value: 0)
}

/// `blockCount` KV blocks of `blockSize` tokens, as parallel arrays indexed by `BlockID`, with a free
/// queue and a prefix cache (vLLM `block_pool.py`).
///
///     block id          0     1     2     3     4
///     referenceCount    1     2     0     0     1     0: in the free queue, reusable
///     hash              h0    h1    h2    -     -     set: in `blockForHash`, a prefix-cache entry
///     free queue              head → 2 ⇄ 3 ← tail     (previous/next links, -1 ends the list)
///
/// A block is in the free queue exactly when its reference count is 0. Allocation pops the head and
/// evicts the block's cache entry if it has one; releasing appends to the tail. So the queue runs
/// from least to most recently freed, and cached blocks survive as long as possible. A cached free
/// block that gets a prefix hit leaves the queue from the middle in O(1) through the links.
public struct BlockPool: Sendable {
    public let blockCount: Int
    public let blockSize: Int
    /// Blocks in the free queue, cached ones included.
    public private(set) var freeCount: Int

    private var referenceCounts: [Int32]
    private var previous: [Int32]
    private var next: [Int32]
    private var head: Int32 = -1
    private var tail: Int32 = -1

    private var hashes: [BlockHash?]
    private var identities: [UInt64]          // 0: not cached
    private var parentIdentities: [UInt64]    // identity of the block before, when cached
    private var cachedTokens: [Int] = []      // blockCount × blockSize, allocated on first use
    private var blockForHash: [BlockHash: BlockID] = [:]
    private var nextIdentity: UInt64 = 1

    /// Negative counts give an empty pool and a block size below 1 becomes 1, rather than trapping.
    public init(blockCount: Int, blockSize: Int) {
        let count = max(0, min(blockCount, Int(Int32.max) - 1))
        self.blockCount = count
        self.blockSize = max(1, blockSize)
        freeCount = count
        referenceCounts = Array(repeating: 0, count: count)
        previous = (0 ..< count).map { Int32($0) - 1 }
        next = (0 ..< count).map { $0 + 1 < count ? Int32($0 + 1) : -1 }
        hashes = Array(repeating: nil, count: count)
        identities = Array(repeating: 0, count: count)
        parentIdentities = Array(repeating: 0, count: count)
        if count > 0 { head = 0; tail = Int32(count - 1) }
    }

    /// Blocks holding a prefix-cache entry, in use or free.
    public var cachedCount: Int { blockForHash.count }

    /// The free queue from head (next to be allocated) to tail. O(n): for tests and debugging.
    public var freeQueue: [BlockID] {
        var order: [BlockID] = []
        order.reserveCapacity(freeCount)
        var cursor = head
        while cursor != -1 { order.append(Int(cursor)); cursor = next[Int(cursor)] }
        return order
    }

    public func isValid(_ block: BlockID) -> Bool { block >= 0 && block < blockCount }

    public func referenceCount(of block: BlockID) -> Int { isValid(block) ? Int(referenceCounts[block]) : 0 }

    public func hash(of block: BlockID) -> BlockHash? { isValid(block) ? hashes[block] : nil }

    public func identity(of block: BlockID) -> CacheIdentity? {
        guard isValid(block), identities[block] != 0 else { return nil }
        return CacheIdentity(value: identities[block])
    }

    // MARK: Reference counts and the free queue

    /// Pops the head of the free queue with reference count 1, evicting its cache entry if it has one.
    public mutating func popFree() -> BlockID? {
        guard head != -1 else { return nil }
        let block = Int(head)
        unlink(block)
        evict(block)
        referenceCounts[block] = 1
        return block
    }

    /// Adds a reference; a free block (a prefix hit on a cached block) leaves the queue in O(1).
    @discardableResult
    public mutating func touch(_ block: BlockID) -> Bool {
        guard isValid(block), referenceCounts[block] < Int32.max else { return false }
        if referenceCounts[block] == 0 { unlink(block) }
        referenceCounts[block] += 1
        return true
    }

    /// Drops a reference; at 0 the block goes to the tail of the free queue, keeping its cache entry.
    @discardableResult
    public mutating func release(_ block: BlockID) -> Bool {
        guard isValid(block), referenceCounts[block] > 0 else { return false }
        referenceCounts[block] -= 1
        if referenceCounts[block] == 0 { appendToTail(block) }
        return true
    }

    // MARK: Prefix cache

    /// The cached block under `hash`, only if it holds exactly `tokens` after exactly `parent`;
    /// a hash that collides with other content is a miss, never a wrong block.
    public func cachedBlock(hash: BlockHash, tokens: ArraySlice<Int>, parent: CacheIdentity) -> BlockID? {
        guard let block = blockForHash[hash], holds(block, tokens: tokens, parent: parent) else { return nil }
        return block
    }

    /// Whether `block` is cached with exactly `tokens` after exactly `parent`.
    public func holds(_ block: BlockID, tokens: ArraySlice<Int>, parent: CacheIdentity) -> Bool {
        guard isValid(block), identities[block] != 0, parentIdentities[block] == parent.value,
              tokens.count == blockSize, !cachedTokens.isEmpty else { return false }
        let start = block * blockSize
        return cachedTokens[start ..< start + blockSize].elementsEqual(tokens)
    }

    /// Makes the in-use, full `block` the cache entry for `hash`. Returns its identity, or nil if the
    /// block is free or already cached, `tokens` is not one block, or another block holds `hash`.
    public mutating func cache(_ block: BlockID, hash: BlockHash, tokens: ArraySlice<Int>,
                               parent: CacheIdentity) -> CacheIdentity? {
        guard isValid(block), referenceCounts[block] > 0, hashes[block] == nil,
              tokens.count == blockSize, blockForHash[hash] == nil else { return nil }
        if cachedTokens.isEmpty {
            let (capacity, overflow) = blockCount.multipliedReportingOverflow(by: blockSize)
            guard !overflow else { return nil }
            cachedTokens = Array(repeating: 0, count: capacity)
        }
        let start = block * blockSize
        cachedTokens.replaceSubrange(start ..< start + blockSize, with: tokens)
        hashes[block] = hash
        identities[block] = nextIdentity
        parentIdentities[block] = parent.value
        nextIdentity += 1
        blockForHash[hash] = block
        return CacheIdentity(value: identities[block])
    }

    private mutating func evict(_ block: BlockID) {
        guard let hash = hashes[block] else { return }
        blockForHash[hash] = nil
        hashes[block] = nil
        identities[block] = 0
        parentIdentities[block] = 0
    }

    private mutating func unlink(_ block: BlockID) {
        let before = previous[block], after = next[block]
        if before == -1 { head = after } else { next[Int(before)] = after }
        if after == -1 { tail = before } else { previous[Int(after)] = before }
        previous[block] = -1
        next[block] = -1
        freeCount -= 1
    }

    private mutating func appendToTail(_ block: BlockID) {
        previous[block] = tail
        next[block] = -1
        if tail == -1 { head = Int32(block) } else { next[Int(tail)] = Int32(block) }
        tail = Int32(block)
        freeCount += 1
    }
}
