import Testing
import Scheduling

/// The pool's free queue and cache, with exact block ids (vLLM `tests/v1/core/test_prefix_caching.py`).
struct BlockPoolTests {
    let tokensA: ArraySlice<Int> = [1, 2, 3, 4]
    let tokensB: ArraySlice<Int> = [5, 6, 7, 8]

    @Test func initialFreeOrderIsAscending() {
        let pool = BlockPool(blockCount: 5, blockSize: 4)
        #expect(pool.freeQueue == [0, 1, 2, 3, 4])
        #expect(pool.freeCount == 5)
        #expect(pool.cachedCount == 0)
    }

    @Test func allocationPopsFromTheHead() {
        var pool = BlockPool(blockCount: 5, blockSize: 4)
        #expect([pool.popFree(), pool.popFree(), pool.popFree()] == [0, 1, 2])
        #expect(pool.freeQueue == [3, 4])
        #expect(pool.referenceCount(of: 1) == 1)
        #expect(pool.freeCount == 2)
    }

    @Test func releaseAppendsToTheTail() {
        var pool = BlockPool(blockCount: 5, blockSize: 4)
        for _ in 0 ..< 3 { _ = pool.popFree() }
        pool.release(1)
        #expect(pool.freeQueue == [3, 4, 1])
        pool.release(0)
        pool.release(2)
        #expect(pool.freeQueue == [3, 4, 1, 0, 2])
        #expect(pool.freeCount == 5)
    }

    @Test func sharedBlockJoinsTheQueueOnlyAtZeroReferences() {
        var pool = BlockPool(blockCount: 2, blockSize: 4)
        let block = pool.popFree()!
        pool.touch(block)
        #expect(pool.referenceCount(of: block) == 2)
        pool.release(block)
        #expect(pool.freeQueue == [1])
        pool.release(block)
        #expect(pool.freeQueue == [1, 0])
    }

    @Test func poppingACachedBlockEvictsIt() {
        var pool = BlockPool(blockCount: 3, blockSize: 4)
        let hash = BlockHash(parent: nil, tokens: tokensA)
        let block = pool.popFree()!
        let identity = pool.cache(block, hash: hash, tokens: tokensA, parent: .root)
        #expect(identity != nil)
        pool.release(block)
        #expect(pool.freeQueue == [1, 2, 0])
        #expect(pool.cachedBlock(hash: hash, tokens: tokensA, parent: .root) == 0)
        // Blocks 1 and 2 are older in the queue, so the cached block survives them.
        #expect([pool.popFree(), pool.popFree()] == [1, 2])
        #expect(pool.cachedCount == 1)
        #expect(pool.popFree() == 0)
        #expect(pool.cachedCount == 0)
        #expect(pool.hash(of: 0) == nil)
        #expect(pool.cachedBlock(hash: hash, tokens: tokensA, parent: .root) == nil)
    }

    @Test func touchingAFreeBlockUnlinksItFromAnywhere() {
        var pool = BlockPool(blockCount: 5, blockSize: 4)
        for _ in 0 ..< 5 { _ = pool.popFree() }
        for block in [2, 0, 4, 1] { pool.release(block) }
        #expect(pool.freeQueue == [2, 0, 4, 1])
        pool.touch(0)     // middle
        #expect(pool.freeQueue == [2, 4, 1])
        pool.touch(2)     // head
        #expect(pool.freeQueue == [4, 1])
        pool.touch(1)     // tail
        #expect(pool.freeQueue == [4])
        #expect(pool.freeCount == 1)
        pool.release(2)
        #expect(pool.freeQueue == [4, 2])
        #expect(pool.popFree() == 4)
        #expect(pool.popFree() == 2)
        #expect(pool.popFree() == nil)
    }

    @Test func badInputIsRefusedNotTrapped() {
        var pool = BlockPool(blockCount: 2, blockSize: 4)
        let touchedInvalid = pool.touch(-1)
        let releasedInvalid = pool.release(2)
        let releasedFree = pool.release(0)
        #expect(!touchedInvalid && !releasedInvalid && !releasedFree)
        #expect(pool.freeQueue == [0, 1])
        let block = pool.popFree()!
        let hash = BlockHash(1)
        let freeBlock = pool.cache(1, hash: hash, tokens: tokensA, parent: .root)
        let partialBlock = pool.cache(block, hash: hash, tokens: [1, 2], parent: .root)
        let cached = pool.cache(block, hash: hash, tokens: tokensA, parent: .root)
        let cachedTwice = pool.cache(block, hash: BlockHash(2), tokens: tokensA, parent: .root)
        let other = pool.popFree()!
        let hashTaken = pool.cache(other, hash: hash, tokens: tokensB, parent: .root)
        #expect(freeBlock == nil && partialBlock == nil && cachedTwice == nil && hashTaken == nil)
        #expect(cached != nil)
        #expect(BlockPool(blockCount: -3, blockSize: 0).freeQueue == [])
    }

    @Test func aHitNeedsTheSameTokensAndTheSameParent() throws {
        var pool = BlockPool(blockCount: 3, blockSize: 4)
        let parentBlock = pool.popFree()!, childBlock = pool.popFree()!
        let parentIdentity = pool.cache(parentBlock, hash: BlockHash(10), tokens: tokensA, parent: .root)
        let parent = try #require(parentIdentity)
        _ = pool.cache(childBlock, hash: BlockHash(11), tokens: tokensB, parent: parent)
        #expect(pool.cachedBlock(hash: BlockHash(11), tokens: tokensB, parent: parent) == childBlock)
        #expect(pool.cachedBlock(hash: BlockHash(11), tokens: tokensB, parent: .root) == nil)
        #expect(pool.cachedBlock(hash: BlockHash(11), tokens: tokensA, parent: parent) == nil)

        // The parent is evicted and its content recomputed in another block under the same hash:
        // the old child followed a block that no longer exists, so it is no longer a hit.
        pool.release(parentBlock)
        #expect(pool.popFree() == 2)
        #expect(pool.popFree() == parentBlock)
        let recomputedIdentity = pool.cache(parentBlock, hash: BlockHash(10), tokens: tokensA, parent: .root)
        let recomputed = try #require(recomputedIdentity)
        #expect(recomputed != parent)
        #expect(pool.cachedBlock(hash: BlockHash(11), tokens: tokensB, parent: recomputed) == nil)
    }

    @Test func blockHashIsChainedAndStableAcrossProcesses() {
        let first = BlockHash(parent: nil, tokens: [1, 2, 3, 4])
        let second = BlockHash(parent: first, tokens: [5, 6, 7, 8])
        // Pinned: the values must not depend on the process (Swift's Hasher would) or the platform.
        #expect(first == BlockHash(parent: nil, tokens: [1, 2, 3, 4]))
        #expect(first.value == BlockHashPins.first)
        #expect(second.value == BlockHashPins.second)
        #expect(BlockHash(parent: nil, tokens: [5, 6, 7, 8]) != second)
        #expect(BlockHash(parent: nil, tokens: [1, 2, 4, 3]) != first)
        #expect(BlockHash(parent: nil, tokens: [0, 0]) != BlockHash(parent: nil, tokens: [0, 0, 0]))
    }
}

enum BlockHashPins {
    static let first: UInt64 = 4_974_330_449_121_105_391
    static let second: UInt64 = 18_174_130_508_725_839_118
}
