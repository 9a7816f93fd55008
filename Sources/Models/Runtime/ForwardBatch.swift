/// A flat batch of tokens from one or more sequences for one forward pass (llama.cpp's
/// `llama_batch`, vLLM's flattened input). Each sequence contributes a run of consecutive
/// positions and its block table into the paged KV cache:
///
///   token index    |  0   1   2 |  3 |  4   5
///   token id       | t0  t1  t2 | u9 | v4  v5
///   position       |  0   1   2 | 17 |  5   6
///   sequence       |  0   0   0 |  1 |  2   2
///   logits         |          ✓ |  ✓ |      ✓     (rows 0, 1, 2 of the scratch's logits)
///
///   block tables   | seq 0: [7]  seq 1: [3, 9]  seq 2: [4]       (blockSize 16)
///
/// Storage is allocated once for `capacity` tokens, `maxSequences` sequences and
/// `maxBlockEntries` block-table entries; filling a batch allocates nothing.
public final class ForwardBatch: @unchecked Sendable {
    public enum Logits: Sendable { case none, last, all }

    public let capacity: Int
    public let maxSequences: Int
    public let maxBlockEntries: Int
    public private(set) var tokenCount = 0
    public private(set) var sequenceCount = 0
    public private(set) var logitCount = 0
    private var blockEntryCount = 0

    let tokens: UnsafeMutablePointer<Int>          // [capacity]
    let positions: UnsafeMutablePointer<Int>       // [capacity]
    let sequenceOfToken: UnsafeMutablePointer<Int> // [capacity] index into this batch's sequences
    let logitTokens: UnsafeMutablePointer<Int>     // [capacity] token indices whose logits are kept
    let tableStart: UnsafeMutablePointer<Int>      // [maxSequences + 1] into blockEntries
    let blockEntries: UnsafeMutablePointer<Int>    // [maxBlockEntries]

    public init(capacity: Int, maxSequences: Int, maxBlockEntries: Int) {
        self.capacity = max(capacity, 1)
        self.maxSequences = max(maxSequences, 1)
        self.maxBlockEntries = max(maxBlockEntries, 1)
        tokens = .allocate(capacity: self.capacity)
        positions = .allocate(capacity: self.capacity)
        sequenceOfToken = .allocate(capacity: self.capacity)
        logitTokens = .allocate(capacity: self.capacity)
        tableStart = .allocate(capacity: self.maxSequences + 1)
        blockEntries = .allocate(capacity: self.maxBlockEntries)
        tableStart[0] = 0
    }

    deinit {
        tokens.deallocate(); positions.deallocate(); sequenceOfToken.deallocate()
        logitTokens.deallocate(); tableStart.deallocate(); blockEntries.deallocate()
    }

    public func removeAll() {
        tokenCount = 0; sequenceCount = 0; logitCount = 0; blockEntryCount = 0
    }

    /// Appends `ids` of one sequence at positions `start ..< start + ids.count`, whose KV blocks
    /// are `blockTable`. Returns the logit rows assigned to this run (empty for `.none`), in order.
    @discardableResult
    public func append<Ids: Collection<Int>, Table: Collection<Int>>(
        _ ids: Ids, start: Int, blockTable: Table, logits: Logits
    ) throws(ModelError) -> Range<Int> {
        let n = ids.count
        guard n > 0 else { return logitCount..<logitCount }
        guard tokenCount + n <= capacity else { throw .tooManyTokens(count: tokenCount + n, capacity: capacity) }
        guard sequenceCount < maxSequences else { throw .tooManySequences(count: sequenceCount + 1, capacity: maxSequences) }
        guard blockEntryCount + blockTable.count <= maxBlockEntries else {
            throw .tooManyTokens(count: blockEntryCount + blockTable.count, capacity: maxBlockEntries)
        }
        for b in blockTable { blockEntries[blockEntryCount] = b; blockEntryCount += 1 }
        tableStart[sequenceCount + 1] = blockEntryCount
        let firstLogit = logitCount
        var i = 0
        for id in ids {
            let t = tokenCount + i
            tokens[t] = id
            positions[t] = start + i
            sequenceOfToken[t] = sequenceCount
            if logits == .all || (logits == .last && i == n - 1) { logitTokens[logitCount] = t; logitCount += 1 }
            i += 1
        }
        tokenCount += n
        sequenceCount += 1
        return firstLogit..<logitCount
    }

    /// The block table of batch sequence `s`.
    @inline(__always) func table(_ s: Int) -> UnsafeBufferPointer<Int> {
        UnsafeBufferPointer(start: blockEntries + tableStart[s], count: tableStart[s + 1] - tableStart[s])
    }
}
