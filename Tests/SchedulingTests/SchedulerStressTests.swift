import Testing
import Sampling
import Scheduling

/// Sampling's SplitMix64 with the draws the stress run needs: the same run on every machine.
struct StressRandom {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func next() -> UInt64 { generator.next() }

    /// Uniform in `range` (the modulo bias is irrelevant here).
    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }

    mutating func chance(_ percent: Int) -> Bool { next(in: 1 ... 100) <= percent }
}

/// A thousand sequences through a pool small enough to force pre-emption, driven like an engine:
/// schedule, "run" the step, append a token to every sampling sequence, finish at a random length,
/// cancel at random. Besides the end state it checks, every step, that each block's reference count
/// matches the block tables and that every position a chunk attends to holds the KV of exactly its
/// own prefix (a shadow of the cache, written by the chunks), which is what prefix caching must keep.
struct SchedulerStressTests {
    enum Cache: CaseIterable {
        case prefixCaching
        /// Sixteen possible hashes: collisions everywhere, which the pool's checks must catch.
        case collidingHashes
        case off
    }

    @Test(arguments: Cache.allCases)
    func thousandSequencesOnASmallPool(cache: Cache) throws {
        let blockSize = 4, blockCount = 24, sequenceCount = 1000
        let kvCache = switch cache {
        case .prefixCaching: KVCacheManager(blockCount: blockCount, blockSize: blockSize)
        case .collidingHashes:
            KVCacheManager(blockCount: blockCount, blockSize: blockSize, prefixCaching: true,
                           hashFunction: { _, tokens in BlockHash(UInt64(tokens.reduce(0, &+) & 15)) })
        case .off: KVCacheManager(blockCount: blockCount, blockSize: blockSize, prefixCaching: false)
        }
        let scheduler = Scheduler(config: SchedulerConfig(maxBatchTokens: 32, maxSequences: 6), kvCache: kvCache)
        // With colliding hashes, a three-token vocabulary makes equal blocks after different prefixes common.
        let vocabulary = cache == .collidingHashes ? 0 ... 2 : 0 ... 999
        var random = StressRandom(seed: 0x5EED)
        let sharedPrefixes = (0 ..< 3).map { prefix in (0 ..< 4 * blockSize).map { 10_000 * (prefix + 1) + $0 } }

        var maxNewTokens: [SequenceID: Int] = [:]
        var generated: [SequenceID: Int] = [:]
        var live: Set<SequenceID> = []
        var impossible: Set<SequenceID> = []
        var endedByScheduler: [SequenceID: FinishReason] = [:]
        var preemptions = 0, cachedPromptTokens = 0
        // What each KV slot holds: a fingerprint of the whole prefix whose last token it stores.
        var shadow = Array(repeating: Array(repeating: UInt64(0), count: blockSize), count: blockCount)

        var nextID = 0, steps = 0
        while nextID < sequenceCount || scheduler.hasWork {
            steps += 1
            try #require(steps < 20_000, "no livelock")
            for _ in 0 ..< random.next(in: 0 ... 3) where nextID < sequenceCount {
                var prompt = random.chance(50) ? sharedPrefixes[random.next(in: 0 ... 2)] : []
                prompt += (0 ..< random.next(in: 1 ... 24)).map { _ in random.next(in: vocabulary) }
                if random.chance(1) {
                    prompt = Array(repeating: 7, count: blockCount * blockSize + 1)
                    impossible.insert(nextID)
                }
                #expect(scheduler.add(nextID, prompt: prompt))
                maxNewTokens[nextID] = random.next(in: 1 ... 20)
                generated[nextID] = 0
                live.insert(nextID)
                nextID += 1
            }

            let step = scheduler.schedule()
            #expect(step.tokenCount == step.chunks.reduce(0) { $0 + $1.count })
            #expect(step.tokenCount <= 32)
            #expect(Set(step.chunks.map(\.sequence)).count == step.chunks.count)
            #expect(scheduler.runningCount <= 6)
            preemptions += step.preempted.count
            for id in step.finished {
                if case .finished(let reason)? = scheduler.status(of: id) { endedByScheduler[id] = reason }
                scheduler.finish(id, reason: .error)
                live.remove(id)
            }

            // The forward pass: every chunk writes its slots, then every chunk reads its prefix.
            for chunk in step.chunks {
                let tokens = try #require(scheduler.tokens(of: chunk.sequence))
                let table = scheduler.kvCache.blockTable(for: chunk.sequence)
                #expect(chunk.count > 0)
                #expect(table.count * blockSize >= chunk.start + chunk.count)
                #expect(chunk.samples == (chunk.start + chunk.count == tokens.count))
                var fingerprint = prefixFingerprint(tokens[..<chunk.start])
                for position in chunk.start ..< chunk.start + chunk.count {
                    fingerprint = extend(fingerprint, tokens[position])
                    shadow[table[position / blockSize]][position % blockSize] = fingerprint
                }
            }
            for chunk in step.chunks {
                let tokens = try #require(scheduler.tokens(of: chunk.sequence))
                let table = scheduler.kvCache.blockTable(for: chunk.sequence)
                var fingerprint = prefixFingerprint(tokens[..<0])
                for position in 0 ..< chunk.start + chunk.count {
                    fingerprint = extend(fingerprint, tokens[position])
                    try #require(shadow[table[position / blockSize]][position % blockSize] == fingerprint,
                                 "sequence \(chunk.sequence) reads wrong KV at \(position)")
                }
            }
            try checkReferenceCounts(scheduler, live: live)

            // Sampling: finish at the length limit, else append a token; then random cancellations.
            for chunk in step.chunks where chunk.samples {
                generated[chunk.sequence, default: 0] += 1
                if generated[chunk.sequence]! >= maxNewTokens[chunk.sequence]! {
                    cachedPromptTokens += scheduler.cachedPromptTokens(of: chunk.sequence) ?? 0
                    scheduler.finish(chunk.sequence, reason: .length)
                    live.remove(chunk.sequence)
                } else {
                    #expect(scheduler.append(chunk.sequence, token: random.next(in: vocabulary)))
                }
            }
            if random.chance(5), let victim = live.sorted().dropFirst(random.next(in: 0 ... max(0, live.count - 1))).first {
                scheduler.finish(victim, reason: .cancelled)
                live.remove(victim)
            }
        }

        #expect(live.isEmpty)
        #expect(scheduler.kvCache.freeBlocks == scheduler.kvCache.totalBlocks)
        #expect(scheduler.runningCount == 0)
        #expect(scheduler.waitingCount == 0)
        // Impossible prompts end with .error (unless cancelled first); nothing else ends with it.
        #expect(Set(endedByScheduler.filter { $0.value == .error }.keys).isSubset(of: impossible))
        #expect(!endedByScheduler.isEmpty)
        #expect(preemptions > 0)
        #expect((cachedPromptTokens > 0) == (cache != .off))
        #expect(steps < 8 * sequenceCount)
    }

    /// Every block's reference count equals the number of live block tables holding it.
    private func checkReferenceCounts(_ scheduler: Scheduler, live: Set<SequenceID>) throws {
        var expected = Array(repeating: 0, count: scheduler.kvCache.totalBlocks)
        for id in live { for block in scheduler.kvCache.blockTable(for: id) { expected[block] += 1 } }
        let pool = scheduler.kvCache.blockPool
        for block in expected.indices {
            try #require(pool.referenceCount(of: block) == expected[block], "block \(block)")
        }
        #expect(pool.freeCount == expected.filter { $0 == 0 }.count)
    }

    private func prefixFingerprint(_ tokens: ArraySlice<Int>) -> UInt64 {
        tokens.reduce(0xCBF2_9CE4_8422_2325) { extend($0, $1) }
    }

    /// FNV-1a over the token's eight bytes: independent of the code under test's BlockHash.
    private func extend(_ fingerprint: UInt64, _ token: Int) -> UInt64 {
        var hash = fingerprint
        var value = UInt64(truncatingIfNeeded: token)
        for _ in 0 ..< 8 {
            hash = (hash ^ (value & 0xFF)) &* 0x0000_0100_0000_01B3
            value >>= 8
        }
        return hash
    }
}
