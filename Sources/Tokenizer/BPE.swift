/// Merge ranks keyed on a pair of token ids.
///
/// Merges in GGUF are strings ("Ġ t"); keying the table on the ids of the two halves instead of on
/// strings means BPE never builds or hashes a string while merging, and the table is a plain
/// `[UInt64: UInt64]`, quick to build even in a debug build.
///
/// ```
///   key   = left id << 32 | right id
///   value = rank << 32 | merged id       (rank = line number in tokenizer.ggml.merges)
/// ```
struct MergeTable: Sendable {
    private(set) var entries: [UInt64: UInt64] = [:]

    init() {}

    /// Parses the merges ("left right", split at the first space after the first character, as
    /// llama.cpp does) against a vocabulary. Like Hugging Face's BPE builder, it requires both
    /// halves and their concatenation to be tokens; a later duplicate of a pair keeps the first
    /// (lower) rank.
    init(merges: [String], tokenToID: TokenTable) throws(TokenizerError) {
        entries.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let utf8 = merge.utf8
            guard let first = utf8.first, first != 0x20,
                  let space = utf8.dropFirst().firstIndex(of: 0x20) else {
                throw .malformedMerge(index: rank, merge: merge, reason: "no space between two parts")
            }
            let left = String(merge[merge.startIndex..<space])
            let right = String(merge[merge.index(after: space)...])
            guard !right.isEmpty else {
                throw .malformedMerge(index: rank, merge: merge, reason: "empty right part")
            }
            guard let l = tokenToID[left] else {
                throw .malformedMerge(index: rank, merge: merge, reason: "\"\(left)\" is not a token")
            }
            guard let r = tokenToID[right] else {
                throw .malformedMerge(index: rank, merge: merge, reason: "\"\(right)\" is not a token")
            }
            guard let m = tokenToID[left + right] else {
                throw .malformedMerge(index: rank, merge: merge, reason: "\"\(left + right)\" is not a token")
            }
            let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
            if entries[key] == nil { entries[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m)) }
        }
    }

    /// (rank, merged id) of the pair, or nil when the two tokens never merge.
    @inline(__always)
    func merge(_ left: Int32, _ right: Int32) -> (rank: Int32, merged: Int32)? {
        guard let v = entries[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] else { return nil }
        return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
    }
}

/// Byte-pair encoding of one piece, over token ids: start from one token per byte, then merge the
/// adjacent pair of lowest rank (the leftmost one on a tie) until no pair merges — the order
/// Hugging Face's `Word::merge_all` and llama.cpp's bigram queue use.
enum BPE {
    /// Pieces up to this many symbols use the quadratic scan; longer ones the heap.
    static let heapThreshold = 24

    static func merge(_ symbols: [Int32], table: MergeTable) -> [Int32] {
        symbols.count <= heapThreshold ? mergeByScan(symbols, table: table) : mergeByHeap(symbols, table: table)
    }

    /// Reference version: rescan all pairs after every merge. O(n²), the clearest statement of
    /// the rule, and fastest for the short pieces that make up nearly all text.
    static func mergeByScan(_ symbols: [Int32], table: MergeTable) -> [Int32] {
        var ids = symbols
        while ids.count > 1 {
            var best: (index: Int, rank: Int32, merged: Int32)? = nil
            for i in 0..<(ids.count - 1) {
                if let m = table.merge(ids[i], ids[i + 1]), best == nil || m.rank < best!.rank {
                    best = (i, m.rank, m.merged)
                }
            }
            guard let best else { break }
            ids[best.index] = best.merged
            ids.remove(at: best.index + 1)
        }
        return ids
    }

    /// Same result as `mergeByScan` in O(n log n), for long pieces (a run of 10,000 letters must
    /// not take 10⁸ steps). Symbols form a linked list over their start positions; a min-heap holds
    /// candidate pairs keyed `rank << 32 | left position`, so ties go to the leftmost pair. Entries
    /// go stale when a neighbour merges; they are checked when popped and skipped.
    static func mergeByHeap(_ symbols: [Int32], table: MergeTable) -> [Int32] {
        let n = symbols.count
        guard n > 1 else { return symbols }
        var ids = symbols
        var next = Array(1...n)            // n = end of list
        var prev = Array(-1..<(n - 1))     // -1 = start of list
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()

        func push(_ i: Int) {
            guard i >= 0, next[i] < n, let m = table.merge(ids[i], ids[next[i]]) else { return }
            heap.push(UInt64(UInt32(bitPattern: m.rank)) << 32 | UInt64(i))
        }
        for i in 0..<(n - 1) { push(i) }

        while let key = heap.pop() {
            let i = Int(key & 0xFFFF_FFFF)
            let rank = Int32(truncatingIfNeeded: key >> 32)
            // Stale unless i still starts a symbol with a right neighbour and the pair's rank is
            // unchanged (a rank names one pair, so an equal rank means the same merge).
            guard alive[i], next[i] < n, let m = table.merge(ids[i], ids[next[i]]), m.rank == rank else { continue }
            let j = next[i]
            ids[i] = m.merged
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { prev[next[j]] = i }
            push(prev[i])
            push(i)
        }

        var out: [Int32] = []
        var i = 0
        while i < n { out.append(ids[i]); i = next[i] }
        return out
    }
}

/// A binary min-heap of `UInt64` keys; just enough for `mergeByHeap`.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count && items[l] < items[smallest] { smallest = l }
                if r < items.count && items[r] < items[smallest] { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}
