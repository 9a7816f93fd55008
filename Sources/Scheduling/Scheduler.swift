public struct SchedulerConfig: Sendable {
    /// Tokens computed per step, over all sequences (values below 1 act as 1).
    public var maxBatchTokens: Int
    /// Sequences running at once (values below 1 act as 1).
    public var maxSequences: Int

    public init(maxBatchTokens: Int, maxSequences: Int) {
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
    }
}

/// The tokens of one sequence computed in one step.
public struct ScheduledChunk: Equatable, Sendable {
    public let sequence: SequenceID
    /// First position computed in this step (the sequence's computed-token count before the step).
    public let start: Int
    /// Tokens computed in this step.
    public let count: Int
    /// `start + count` is every known token: this step's last token yields the next token.
    public let samples: Bool

    public init(sequence: SequenceID, start: Int, count: Int, samples: Bool) {
        self.sequence = sequence
        self.start = start
        self.count = count
        self.samples = samples
    }
}

/// One step's plan. A step with budget 8 and block size 4, where `a` decodes, `b` finishes its
/// prompt of 8, and `c` (prompt of 11, 8 tokens hitting the prefix cache) is admitted:
///
///     chunk | sequence | start | count | samples | why
///     ------+----------+-------+-------+---------+------------------------------------
///       0   |    a     |  17   |   1   |   yes   | running: its one new token
///       1   |    b     |   4   |   4   |   yes   | running: second chunk of its prompt
///       2   |    c     |   8   |   3   |   yes   | admitted: blocks 0-1 were cached
///     tokenCount = 8
public struct SchedulerStep: Equatable, Sendable {
    /// Running sequences first (in admission order), then newly admitted ones.
    public var chunks: [ScheduledChunk] = []
    /// Sequences pre-empted this step: blocks freed, back at the front of the waiting queue.
    public var preempted: [SequenceID] = []
    /// Sequences the scheduler ended this step because they can never fit the KV pool; their status
    /// is `.finished(reason)` until the caller acknowledges them with `finish(_:reason:)`.
    public var finished: [SequenceID] = []
    /// Sum of the chunks' counts.
    public var tokenCount = 0

    public init(chunks: [ScheduledChunk] = [], preempted: [SequenceID] = [], finished: [SequenceID] = [], tokenCount: Int = 0) {
        self.chunks = chunks
        self.preempted = preempted
        self.finished = finished
        self.tokenCount = tokenCount
    }
}

/// Continuous batching as in vLLM v1 (`scheduler.py`): no prefill or decode phases. Every sequence has
/// a computed-token count catching up to its token count; each step first gives running sequences
/// `min(needed, budget)` tokens, then admits waiting ones in FIFO order. When KV blocks run out the
/// newest running sequence is pre-empted: its blocks are freed and it is recomputed later (mostly
/// from the prefix cache, since its blocks keep their cache entries until evicted).
///
/// Nothing can deadlock: a sequence that needs more blocks than the whole pool is ended by the
/// scheduler instead of waiting or being pre-empted forever, with `.error` if its prompt alone is too
/// large and `.length` if its generated tokens made it so (see `SchedulerStep.finished`).
/// The scheduler assumes it is the only user of `kvCache`.
public final class Scheduler {
    public let config: SchedulerConfig
    public let kvCache: KVCacheManager

    private var sequences: [SequenceID: SequenceState] = [:]
    private var waiting = SequenceQueue()
    /// In admission order: the last is the newest, the first to be pre-empted.
    private var running: [SequenceID] = []

    public init(config: SchedulerConfig, kvCache: KVCacheManager) {
        self.config = config
        self.kvCache = kvCache
    }

    public var waitingCount: Int { waiting.count }
    public var runningCount: Int { running.count }
    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Queues a sequence at the back of the waiting queue. False for an id already known or an empty prompt.
    @discardableResult
    public func add(_ sequence: SequenceID, prompt: [Int]) -> Bool {
        guard !prompt.isEmpty, sequences[sequence] == nil else { return false }
        sequences[sequence] = SequenceState(prompt: prompt)
        waiting.pushBack(sequence)
        return true
    }

    /// Plans one step: chunks for running sequences, then (only if nobody was pre-empted) admissions.
    public func schedule() -> SchedulerStep {
        var step = SchedulerStep()
        var budget = max(1, config.maxBatchTokens)
        scheduleRunning(into: &step, budget: &budget)
        // A pre-emption means blocks are short; admitting now would only pre-empt again.
        if step.preempted.isEmpty { admitWaiting(into: &step, budget: &budget) }
        return step
    }

    /// Appends a sampled token to a running sequence. False if it is not running.
    @discardableResult
    public func append(_ sequence: SequenceID, token: Int) -> Bool {
        guard sequences[sequence]?.status == .running else { return false }
        sequences[sequence]?.tokens.append(token)
        return true
    }

    /// Speculative decoding: KV slots for `count` positions past a running sequence's tokens, where
    /// a draft's tokens are written and checked. Call after `schedule()`, for a sequence scheduled
    /// this step. Blocks past the sequence's tokens never enter the prefix cache (hashing stops at
    /// its tokens), so rejected drafts leave nothing behind to roll back but the values in those
    /// slots, which the next pass overwrites. False, with nothing changed, when the pool cannot
    /// supply the blocks: nobody is pre-empted for a speculation.
    public func reserveLookahead(_ sequence: SequenceID, slots count: Int) -> Bool {
        guard count > 0, let state = sequences[sequence], state.status == .running else { return count == 0 }
        return kvCache.allocateSlots(for: sequence, tokens: state.tokens, numComputedTokens: state.numComputedTokens,
                                     newTokens: count, cachedBlocks: []) != nil
    }

    /// Counts `count` more of a running sequence's appended tokens as computed: drafts the target
    /// accepted, whose keys and values its checking pass already wrote. Blocks they fill enter
    /// the prefix cache. False (nothing changed) if the sequence is not running or has fewer
    /// uncomputed tokens.
    @discardableResult
    public func markComputed(_ sequence: SequenceID, count: Int) -> Bool {
        guard count >= 0, var state = sequences[sequence], state.status == .running,
              state.numComputedTokens + count <= state.tokens.count else { return false }
        state.numComputedTokens += count
        sequences[sequence] = state
        // No new blocks (the lookahead holds them); this only hashes the blocks now full.
        _ = kvCache.allocateSlots(for: sequence, tokens: state.tokens, numComputedTokens: state.numComputedTokens,
                                  newTokens: 0, cachedBlocks: [])
        return true
    }

    /// Ends a sequence (running, waiting, or already ended by the scheduler): frees its blocks and
    /// forgets it, so its id may be added again. The caller reports `reason`; keeping a record of
    /// every finished sequence would grow without bound in a server. Unknown id: no-op.
    public func finish(_ sequence: SequenceID, reason: FinishReason) {
        guard let state = sequences.removeValue(forKey: sequence) else { return }
        switch state.status {
        case .running: running.removeAll { $0 == sequence }
        case .waiting: waiting.remove(sequence)
        case .finished: break
        }
        kvCache.free(sequence)
    }

    public func status(of sequence: SequenceID) -> SequenceStatus? { sequences[sequence]?.status }
    public func tokens(of sequence: SequenceID) -> [Int]? { sequences[sequence]?.tokens }
    /// Prompt tokens found in the prefix cache at first admission (nil before it, or if unknown).
    public func cachedPromptTokens(of sequence: SequenceID) -> Int? { sequences[sequence]?.cachedPromptTokens }
    public func preemptionCount(of sequence: SequenceID) -> Int? { sequences[sequence]?.preemptionCount }

    // MARK: Steps

    private func scheduleRunning(into step: inout SchedulerStep, budget: inout Int) {
        var index = 0
        while index < running.count && budget > 0 {
            let id = running[index]
            guard var state = sequences[id] else { running.remove(at: index); continue }
            let count = min(state.tokens.count - state.numComputedTokens, budget)
            guard count > 0 else { index += 1; continue }
            while kvCache.allocateSlots(for: id, tokens: state.tokens, numComputedTokens: state.numComputedTokens,
                                        newTokens: count, cachedBlocks: []) == nil {
                if running.count == 1 {
                    // It alone outgrows the pool; pre-empting it would restart it forever.
                    end(id, reason: overflowReason(state), step: &step)
                    return
                }
                let victim = running.removeLast()
                preempt(victim, step: &step)
                // The victim is the newest; if it was this sequence, no one runs after it.
                if victim == id { return }
            }
            step.chunks.append(ScheduledChunk(sequence: id, start: state.numComputedTokens, count: count,
                                              samples: state.numComputedTokens + count == state.tokens.count))
            state.numComputedTokens += count
            sequences[id] = state
            step.tokenCount += count
            budget -= count
            index += 1
        }
    }

    private func admitWaiting(into step: inout SchedulerStep, budget: inout Int) {
        while budget > 0 && running.count < max(1, config.maxSequences), let id = waiting.first {
            guard var state = sequences[id] else { waiting.popFirst(); continue }
            if kvCache.blocksNeeded(for: state.tokens.count) > kvCache.totalBlocks {
                end(id, reason: overflowReason(state), step: &step)
                continue
            }
            let (cached, cachedTokens) = kvCache.computedBlocks(for: state.tokens)
            let count = min(state.tokens.count - cachedTokens, budget)
            guard kvCache.allocateSlots(for: id, tokens: state.tokens, numComputedTokens: cachedTokens,
                                        newTokens: count, cachedBlocks: cached) != nil else {
                // FIFO: never skip the head. With nothing running the pool is all free, so a head
                // that still does not fit never will; end it rather than block everyone behind it.
                if running.isEmpty { end(id, reason: overflowReason(state), step: &step); continue }
                return
            }
            waiting.popFirst()
            running.append(id)
            state.status = .running
            if state.cachedPromptTokens == nil { state.cachedPromptTokens = min(cachedTokens, state.promptCount) }
            step.chunks.append(ScheduledChunk(sequence: id, start: cachedTokens, count: count,
                                              samples: cachedTokens + count == state.tokens.count))
            state.numComputedTokens = cachedTokens + count
            sequences[id] = state
            step.tokenCount += count
            budget -= count
        }
    }

    /// Frees a running sequence's blocks and puts it at the front of the waiting queue, to be
    /// recomputed from scratch (or from whatever of its prefix is still cached).
    private func preempt(_ sequence: SequenceID, step: inout SchedulerStep) {
        kvCache.free(sequence)
        sequences[sequence]?.numComputedTokens = 0
        sequences[sequence]?.status = .waiting
        sequences[sequence]?.preemptionCount += 1
        waiting.pushFront(sequence)
        step.preempted.append(sequence)
    }

    /// Ends a sequence that can never fit the pool; its record stays until the caller's `finish`.
    private func end(_ sequence: SequenceID, reason: FinishReason, step: inout SchedulerStep) {
        switch sequences[sequence]?.status {
        case .running?: running.removeAll { $0 == sequence }
        case .waiting?: waiting.remove(sequence)
        default: break
        }
        kvCache.free(sequence)
        sequences[sequence]?.numComputedTokens = 0
        sequences[sequence]?.status = .finished(reason)
        step.finished.append(sequence)
    }

    /// A prompt that cannot fit is an error; generated tokens that cannot fit end at a length limit.
    private func overflowReason(_ state: SequenceState) -> FinishReason {
        state.tokens.count > state.promptCount ? .length : .error
    }
}
