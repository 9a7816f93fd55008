import Testing
import Scheduling

/// Exact block ids for allocation, prefix hits, freeing and eviction; block size 4 throughout.
struct KVCacheManagerTests {
    /// Allocates `tokens` for a new sequence the way the scheduler does: cached prefix, then the rest.
    @discardableResult
    func admit(_ manager: KVCacheManager, _ sequence: SequenceID, _ tokens: [Int]) -> [BlockID]? {
        let (cached, cachedTokens) = manager.computedBlocks(for: tokens)
        return manager.allocateSlots(for: sequence, tokens: tokens, numComputedTokens: cachedTokens,
                                     newTokens: tokens.count - cachedTokens, cachedBlocks: cached)
    }

    @Test func promptOfThreeAndAHalfBlocks() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4)
        let tokens = Array(0 ..< 14)
        #expect(manager.computedBlocks(for: tokens).blocks == [])
        #expect(admit(manager, 1, tokens) == [0, 1, 2, 3])
        #expect(manager.blockTable(for: 1) == [0, 1, 2, 3])
        #expect(manager.cachedBlocks == 3)    // the partial fourth block has no hash
        #expect(manager.freeBlocks == 6)
        #expect(manager.usedBlocks == 4)
    }

    @Test func sharedPrefixHitsThreeBlocks() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4)
        admit(manager, 1, Array(0 ..< 14))
        let tokens = Array(0 ..< 12) + [100, 101, 102]
        let (cached, cachedTokens) = manager.computedBlocks(for: tokens)
        #expect(cached == [0, 1, 2])
        #expect(cachedTokens == 12)
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: 12, newTokens: 3, cachedBlocks: cached) == [4])
        #expect(manager.blockTable(for: 2) == [0, 1, 2, 4])
        #expect((0 ..< 3).map { manager.blockPool.referenceCount(of: $0) } == [2, 2, 2])
        #expect(manager.prefixQueryTokens == 14 + 15)
        #expect(manager.prefixHitTokens == 12)
    }

    @Test func lastTokenIsAlwaysRecomputed() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4)
        admit(manager, 1, Array(0 ..< 14))
        // Exactly two blocks, both cached: only the first is a hit, so the last token gets logits.
        let (cached, cachedTokens) = manager.computedBlocks(for: Array(0 ..< 8))
        #expect(cached == [0])
        #expect(cachedTokens == 4)
        #expect(manager.computedBlocks(for: [0]).blocks == [])
    }

    @Test func freeingReturnsBlocksInReverseAndLastBlocksAreEvictedFirst() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4)
        let original = Array(0 ..< 14)
        admit(manager, 1, original)
        manager.free(1)
        #expect(manager.blockPool.freeQueue == [4, 5, 6, 7, 8, 9, 3, 2, 1, 0])
        #expect(manager.freeBlocks == 10)
        #expect(manager.cachedBlocks == 3)    // cache entries outlive the sequence

        // Seven unrelated blocks take the never-cached ones and block 3 (partial, no hash).
        #expect(admit(manager, 2, Array(1000 ..< 1026)) == [4, 5, 6, 7, 8, 9, 3])
        #expect(manager.computedBlocks(for: original).blocks == [0, 1, 2])
        // Two more take blocks 2 and 1: the end of the old prefix goes first, its start survives.
        #expect(admit(manager, 3, Array(2000 ..< 2005)) == [2, 1])
        #expect(manager.computedBlocks(for: original).blocks == [0])
        manager.free(1)    // already freed: no-op
        manager.free(2)
        manager.free(3)
        #expect(manager.freeBlocks == 10)
    }

    @Test func prefixCachingOff() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4, prefixCaching: false)
        #expect(admit(manager, 1, Array(0 ..< 14)) == [0, 1, 2, 3])
        #expect(manager.computedBlocks(for: Array(0 ..< 14)).blocks == [])
        #expect(admit(manager, 2, Array(0 ..< 12) + [100, 101, 102]) == [4, 5, 6, 7])
        #expect(manager.cachedBlocks == 0)
        #expect(manager.prefixQueryTokens == 0)
        #expect(manager.allocateSlots(for: 3, tokens: Array(0 ..< 8), numComputedTokens: 4, newTokens: 4, cachedBlocks: [0]) == nil)
    }

    @Test func laterCallsGrowTheTableAndHashBlocksAsTheyFill() {
        let manager = KVCacheManager(blockCount: 10, blockSize: 4)
        var tokens = Array(0 ..< 6)
        // A chunk of 3 tokens: one block, not yet full, so not cached.
        #expect(manager.allocateSlots(for: 1, tokens: tokens, numComputedTokens: 0, newTokens: 3, cachedBlocks: []) == [0])
        #expect(manager.cachedBlocks == 0)
        #expect(manager.allocateSlots(for: 1, tokens: tokens, numComputedTokens: 3, newTokens: 3, cachedBlocks: []) == [1])
        #expect(manager.cachedBlocks == 1)
        tokens += [6, 7]
        #expect(manager.allocateSlots(for: 1, tokens: tokens, numComputedTokens: 6, newTokens: 2, cachedBlocks: []) == [])
        #expect(manager.cachedBlocks == 2)
        #expect(manager.computedBlocks(for: tokens + [8]).blocks == [0, 1])
    }

    @Test func failureChangesNothing() {
        let manager = KVCacheManager(blockCount: 4, blockSize: 4)
        admit(manager, 1, Array(0 ..< 12))
        #expect(admit(manager, 2, Array(100 ..< 108)) == nil)
        #expect(manager.freeBlocks == 1)
        #expect(manager.blockTable(for: 2) == [])
        #expect(manager.allocateSlots(for: 1, tokens: Array(0 ..< 20), numComputedTokens: 12, newTokens: 8, cachedBlocks: []) == nil)
        #expect(manager.blockTable(for: 1) == [0, 1, 2])
        #expect(admit(manager, 2, Array(100 ..< 103)) == [3])
    }

    @Test func hitBlocksInTheFreeQueueDoNotCountAsFree() {
        let manager = KVCacheManager(blockCount: 4, blockSize: 4)
        admit(manager, 1, Array(0 ..< 9))    // blocks 0 and 1 cached, 2 partial
        manager.free(1)
        #expect(manager.blockPool.freeQueue == [3, 2, 1, 0])
        // Two hits and three new blocks: four blocks are free, but two of them are the hits.
        #expect(admit(manager, 2, Array(0 ..< 17)) == nil)
        #expect(manager.blockPool.freeQueue == [3, 2, 1, 0])
        #expect(manager.cachedBlocks == 2)
        #expect((0 ..< 4).map { manager.blockPool.referenceCount(of: $0) } == [0, 0, 0, 0])
        // Two hits and two new blocks fit; the hits leave the queue before anything is popped.
        #expect(admit(manager, 2, Array(0 ..< 13)) == [3, 2])
        #expect(manager.blockTable(for: 2) == [0, 1, 3, 2])
        #expect(manager.freeBlocks == 0)
    }

    @Test func inconsistentInputIsRefused() {
        let manager = KVCacheManager(blockCount: 4, blockSize: 4)
        let tokens = Array(0 ..< 9)
        admit(manager, 1, tokens)
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: 0, newTokens: -1, cachedBlocks: []) == nil)
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: 4, newTokens: 5, cachedBlocks: [1]) == nil)   // wrong block
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: 8, newTokens: 1, cachedBlocks: [0]) == nil)   // wrong count
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: 8, newTokens: 1, cachedBlocks: [0, 0]) == nil)
        #expect(manager.allocateSlots(for: 1, tokens: tokens, numComputedTokens: 4, newTokens: 5, cachedBlocks: [0]) == nil)   // not the first call
        #expect(manager.allocateSlots(for: 2, tokens: tokens, numComputedTokens: Int.max, newTokens: 1, cachedBlocks: []) == nil)
        #expect(manager.freeBlocks == 1)
        #expect(manager.blockPool.referenceCount(of: 0) == 1)
    }

    @Test func aCollidingHashNeverYieldsAWrongBlock() {
        // Every block hashes to 42: only the token and parent checks tell blocks apart.
        let manager = KVCacheManager(blockCount: 8, blockSize: 4, prefixCaching: true, hashFunction: { _, _ in BlockHash(42) })
        admit(manager, 1, [1, 2, 3, 4, 5])
        #expect(manager.cachedBlocks == 1)
        // Same hash, other tokens: a miss. The new block cannot take the hash, so it stays uncached,
        // and so do the blocks after it.
        #expect(manager.computedBlocks(for: [9, 9, 9, 9, 5]).blocks == [])
        #expect(admit(manager, 2, [9, 9, 9, 9, 8, 8, 8, 8, 5]) == [2, 3, 4])
        #expect(manager.cachedBlocks == 1)
        // Same hash, same tokens, other parent: block 0 is a hit only as a first block.
        #expect(manager.computedBlocks(for: [1, 2, 3, 4, 1, 2, 3, 4, 7]).blocks == [0])
        #expect(manager.computedBlocks(for: [1, 2, 3, 4, 5]).blocks == [0])
    }
}
