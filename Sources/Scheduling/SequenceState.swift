/// Why a sequence ended.
public enum FinishReason: String, Sendable {
    /// An end-of-generation token or a stop string.
    case stop
    /// The token limit, or (set by the scheduler) generated tokens that no longer fit the KV pool.
    case length
    case cancelled
    /// A failure; the scheduler uses it for a prompt that needs more KV blocks than the pool holds.
    case error
}

/// A sequence's lifecycle: waiting (queued, or pre-empted and to be recomputed) → running → finished.
public enum SequenceStatus: Equatable, Sendable {
    case waiting, running
    case finished(FinishReason)
}

/// What the scheduler knows about one sequence.
struct SequenceState {
    /// Prompt then generated tokens.
    var tokens: [Int]
    let promptCount: Int
    /// Tokens whose KV is in the sequence's blocks (or will be, once this step's forward pass runs).
    var numComputedTokens = 0
    var status = SequenceStatus.waiting
    /// Prefix-cache hit tokens at the first admission; later re-admissions do not change it.
    var cachedPromptTokens: Int?
    var preemptionCount = 0

    init(prompt: [Int]) {
        tokens = prompt
        promptCount = prompt.count
    }
}

/// A FIFO queue of sequence ids that can also push to the front (for pre-empted sequences), with
/// O(1) amortised operations at both ends.
struct SequenceQueue {
    /// Pushed to the front, most recent last: `front.last` is the queue's head.
    private var front: [SequenceID] = []
    /// Pushed to the back; entries before `backStart` have been popped.
    private var back: [SequenceID] = []
    private var backStart = 0

    var count: Int { front.count + back.count - backStart }
    var isEmpty: Bool { count == 0 }

    var first: SequenceID? { front.last ?? (backStart < back.count ? back[backStart] : nil) }

    mutating func pushFront(_ sequence: SequenceID) { front.append(sequence) }

    mutating func pushBack(_ sequence: SequenceID) { back.append(sequence) }

    @discardableResult
    mutating func popFirst() -> SequenceID? {
        if let sequence = front.popLast() { return sequence }
        guard backStart < back.count else { return nil }
        let sequence = back[backStart]
        backStart += 1
        // Drop the popped prefix once it is most of the array, keeping the amortised cost O(1).
        if backStart * 2 >= back.count {
            back.removeFirst(backStart)
            backStart = 0
        }
        return sequence
    }

    /// Removes `sequence` wherever it is; O(n), for cancellations.
    mutating func remove(_ sequence: SequenceID) {
        if let index = front.lastIndex(of: sequence) {
            front.remove(at: index)
        } else if let index = back[backStart...].firstIndex(of: sequence) {
            back.remove(at: index)
        }
    }
}
