import Testing
import Scheduling

/// Exact plans for small scenarios; block size 4 throughout.
struct SchedulerTests {
    func makeScheduler(blocks: Int, budget: Int, maxSequences: Int = 8, prefixCaching: Bool = true) -> Scheduler {
        Scheduler(config: SchedulerConfig(maxBatchTokens: budget, maxSequences: maxSequences),
                  kvCache: KVCacheManager(blockCount: blocks, blockSize: 4, prefixCaching: prefixCaching))
    }

    func chunk(_ sequence: SequenceID, _ start: Int, _ count: Int, samples: Bool) -> ScheduledChunk {
        ScheduledChunk(sequence: sequence, start: start, count: count, samples: samples)
    }

    @Test func addRefusesEmptyPromptsAndDuplicateIds() {
        let scheduler = makeScheduler(blocks: 4, budget: 8)
        #expect(scheduler.add(1, prompt: [1]))
        #expect(!scheduler.add(1, prompt: [2]))
        #expect(!scheduler.add(2, prompt: []))
        #expect(scheduler.status(of: 1) == .waiting)
        #expect(scheduler.status(of: 2) == nil)
        #expect(scheduler.cachedPromptTokens(of: 1) == nil)
    }

    @Test func chunkedPrefillAcrossSteps() {
        let scheduler = makeScheduler(blocks: 8, budget: 4)
        scheduler.add(1, prompt: Array(0 ..< 10))
        #expect(scheduler.schedule() == SchedulerStep(chunks: [chunk(1, 0, 4, samples: false)], tokenCount: 4))
        #expect(scheduler.schedule().chunks == [chunk(1, 4, 4, samples: false)])
        #expect(scheduler.schedule().chunks == [chunk(1, 8, 2, samples: true)])
        #expect(scheduler.kvCache.blockTable(for: 1) == [0, 1, 2])
        // Nothing to compute until the sampled token is appended.
        #expect(scheduler.schedule().chunks == [])
        scheduler.append(1, token: 99)
        #expect(scheduler.schedule().chunks == [chunk(1, 10, 1, samples: true)])
        #expect(scheduler.tokens(of: 1) == Array(0 ..< 10) + [99])
    }

    @Test func runningSequencesComeBeforeAdmissions() {
        let scheduler = makeScheduler(blocks: 16, budget: 8)
        scheduler.add(1, prompt: Array(0 ..< 6))
        scheduler.add(2, prompt: Array(100 ..< 110))
        #expect(scheduler.schedule().chunks == [chunk(1, 0, 6, samples: true), chunk(2, 0, 2, samples: false)])
        scheduler.append(1, token: 6)
        scheduler.add(3, prompt: Array(200 ..< 206))
        // 1 decodes, 2 takes the rest of the budget, 3 waits.
        #expect(scheduler.schedule().chunks == [chunk(1, 6, 1, samples: true), chunk(2, 2, 7, samples: false)])
        scheduler.append(1, token: 7)
        #expect(scheduler.schedule().chunks == [chunk(1, 7, 1, samples: true), chunk(2, 9, 1, samples: true),
                                                chunk(3, 0, 6, samples: true)])
    }

    @Test func maxSequencesIsRespected() {
        let scheduler = makeScheduler(blocks: 16, budget: 64, maxSequences: 2)
        for id in 1 ... 3 { scheduler.add(id, prompt: [id, id]) }
        #expect(scheduler.schedule().chunks.map(\.sequence) == [1, 2])
        #expect(scheduler.runningCount == 2)
        #expect(scheduler.waitingCount == 1)
        scheduler.finish(1, reason: .stop)
        #expect(scheduler.schedule().chunks == [chunk(3, 0, 2, samples: true)])
    }

    @Test func thePrefixCacheSkipsSharedPromptBlocks() {
        let scheduler = makeScheduler(blocks: 16, budget: 64)
        scheduler.add(1, prompt: Array(0 ..< 12))
        _ = scheduler.schedule()
        scheduler.add(2, prompt: Array(0 ..< 8) + [50, 51, 52])
        scheduler.append(1, token: 12)
        #expect(scheduler.schedule().chunks == [chunk(1, 12, 1, samples: true), chunk(2, 8, 3, samples: true)])
        #expect(scheduler.cachedPromptTokens(of: 1) == 0)
        #expect(scheduler.cachedPromptTokens(of: 2) == 8)
        #expect(scheduler.kvCache.blockTable(for: 2) == [0, 1, 4])
    }

    @Test func theNewestIsPreemptedThenRecomputed() {
        let scheduler = makeScheduler(blocks: 4, budget: 16)
        scheduler.add(1, prompt: Array(0 ..< 7))
        scheduler.add(2, prompt: Array(100 ..< 107))
        #expect(scheduler.schedule().chunks == [chunk(1, 0, 7, samples: true), chunk(2, 0, 7, samples: true)])
        #expect(scheduler.kvCache.blockTable(for: 2) == [2, 3])
        scheduler.append(1, token: 7)
        scheduler.append(2, token: 107)
        #expect(scheduler.schedule().chunks == [chunk(1, 7, 1, samples: true), chunk(2, 7, 1, samples: true)])
        scheduler.append(1, token: 8)
        scheduler.append(2, token: 108)
        // 1 needs a third block and none is free: 2, the newest, gives its blocks back.
        let step = scheduler.schedule()
        #expect(step == SchedulerStep(chunks: [chunk(1, 8, 1, samples: true)], preempted: [2], tokenCount: 1))
        #expect(scheduler.kvCache.blockTable(for: 1) == [0, 1, 3])
        #expect(scheduler.status(of: 2) == .waiting)
        #expect(scheduler.preemptionCount(of: 2) == 1)
        #expect(scheduler.kvCache.blockTable(for: 2) == [])

        scheduler.finish(1, reason: .stop)
        // 2 comes back with its generated tokens; its first block is still cached (block 3 was evicted).
        #expect(scheduler.schedule().chunks == [chunk(2, 4, 5, samples: true)])
        #expect(scheduler.tokens(of: 2) == Array(100 ..< 107) + [107, 108])
        #expect(scheduler.cachedPromptTokens(of: 2) == 0)    // first admission only
        scheduler.finish(2, reason: .stop)
        #expect(scheduler.kvCache.freeBlocks == 4)
        #expect(!scheduler.hasWork)
    }

    @Test func theWaitingQueueIsFirstInFirstOut() {
        let scheduler = makeScheduler(blocks: 4, budget: 32)
        scheduler.add(1, prompt: Array(0 ..< 8))
        scheduler.add(2, prompt: Array(100 ..< 113))
        scheduler.add(3, prompt: [200, 201])
        // 2 needs four blocks and two are free; 3 would fit but must not pass 2.
        #expect(scheduler.schedule().chunks == [chunk(1, 0, 8, samples: true)])
        #expect(scheduler.waitingCount == 2)
        scheduler.finish(1, reason: .stop)
        #expect(scheduler.schedule().chunks == [chunk(2, 0, 13, samples: true)])
        scheduler.finish(2, reason: .stop)
        #expect(scheduler.schedule().chunks == [chunk(3, 0, 2, samples: true)])
    }

    @Test func aPromptLargerThanThePoolEndsWithAnErrorAndBlocksNoOne() {
        let scheduler = makeScheduler(blocks: 4, budget: 32)
        scheduler.add(1, prompt: Array(0 ..< 17))
        scheduler.add(2, prompt: [1, 2, 3])
        let step = scheduler.schedule()
        #expect(step.finished == [1])
        #expect(step.chunks == [chunk(2, 0, 3, samples: true)])
        #expect(scheduler.status(of: 1) == .finished(.error))
        scheduler.finish(1, reason: .error)    // acknowledged: forgotten
        #expect(scheduler.status(of: 1) == nil)
    }

    @Test func generationThatOutgrowsThePoolEndsAtLength() {
        let scheduler = makeScheduler(blocks: 2, budget: 32)
        scheduler.add(1, prompt: Array(0 ..< 7))
        #expect(scheduler.schedule().chunks == [chunk(1, 0, 7, samples: true)])
        scheduler.append(1, token: 7)
        #expect(scheduler.schedule().chunks == [chunk(1, 7, 1, samples: true)])
        scheduler.append(1, token: 8)
        // A ninth token needs a third block; pre-empting the only sequence would loop forever.
        let step = scheduler.schedule()
        #expect(step.chunks == [])
        #expect(step.finished == [1])
        #expect(scheduler.status(of: 1) == .finished(.length))
        #expect(scheduler.kvCache.freeBlocks == 2)
        #expect(!scheduler.hasWork)
    }

    @Test func cancellingWaitingAndRunningSequencesFreesEveryBlock() {
        let scheduler = makeScheduler(blocks: 8, budget: 64, maxSequences: 2)
        for id in 1 ... 3 { scheduler.add(id, prompt: Array(id * 100 ..< id * 100 + 6)) }
        _ = scheduler.schedule()
        #expect(scheduler.kvCache.usedBlocks == 4)
        scheduler.finish(3, reason: .cancelled)
        #expect(scheduler.waitingCount == 0)
        scheduler.finish(1, reason: .cancelled)
        scheduler.finish(2, reason: .cancelled)
        scheduler.finish(2, reason: .cancelled)    // unknown by now: no-op
        #expect(scheduler.kvCache.freeBlocks == scheduler.kvCache.totalBlocks)
        #expect(!scheduler.hasWork)
        #expect(!scheduler.append(1, token: 0))
        #expect(scheduler.schedule() == SchedulerStep())
    }

    /// Speculation: lookahead slots for drafts get blocks but never enter the prefix cache; the
    /// accepted ones, marked computed, do once their block is full; nobody is pre-empted for a
    /// lookahead the pool cannot hold.
    @Test func lookaheadSlotsAndAcceptedDrafts() {
        let scheduler = makeScheduler(blocks: 5, budget: 64)
        scheduler.add(1, prompt: Array(0 ..< 6))
        _ = scheduler.schedule()
        scheduler.append(1, token: 6)
        #expect(scheduler.schedule().chunks == [chunk(1, 6, 1, samples: true)])
        #expect(scheduler.kvCache.blockTable(for: 1).count == 2)
        // Position 6 and 4 drafts (positions 7…10): a third block.
        #expect(scheduler.reserveLookahead(1, slots: 4))
        #expect(scheduler.kvCache.blockTable(for: 1).count == 3)
        #expect(scheduler.kvCache.cachedBlocks == 1)   // only the full prompt block 0…3
        // Two drafts accepted (7, 8), then the target's own token (9).
        scheduler.append(1, token: 7)
        scheduler.append(1, token: 8)
        #expect(scheduler.markComputed(1, count: 2))
        scheduler.append(1, token: 9)
        #expect(scheduler.kvCache.cachedBlocks == 2)   // block 4…7 is full of kept tokens now
        #expect(!scheduler.markComputed(1, count: 2))  // only the token just appended is uncomputed
        #expect(scheduler.schedule().chunks == [chunk(1, 9, 1, samples: true)])
        #expect(scheduler.kvCache.blockTable(for: 1).count == 3)   // the lookahead's block, reused

        // Another sequence takes the last blocks; a lookahead that does not fit changes nothing.
        scheduler.add(2, prompt: Array(100 ..< 108))
        _ = scheduler.schedule()
        #expect(scheduler.kvCache.freeBlocks == 0)
        #expect(!scheduler.reserveLookahead(1, slots: 8))
        #expect(scheduler.kvCache.blockTable(for: 1).count == 3 && scheduler.runningCount == 2)
        #expect(scheduler.reserveLookahead(1, slots: 0))
    }
}
