/// SentencePiece's BPE encoding as llama.cpp runs it for `tokenizer.ggml.model = "llama"`
/// vocabularies (Gemma, Llama 2, Mistral): no pre-tokenizer and no merge list; the text's
/// spaces become "▁", it is split into characters, and the adjacent pair whose concatenation is a
/// token with the highest score is merged, again and again (ties: the leftmost pair). A final
/// piece that is not a token is spelled with byte tokens `<0xNN>`.
enum SentencePiece {
    /// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space.
    static let space: Unicode.Scalar = "\u{2581}"

    /// One candidate merge: symbols `left` and `right` (adjacent when queued), the merged token's
    /// score and the merged length, to tell a stale entry after either side changed.
    struct Bigram {
        var score: Float
        var left: Int
        var right: Int
        var length: Int

        /// Higher score first; on a tie, the leftmost pair.
        func before(_ other: Bigram) -> Bool { score > other.score || (score == other.score && left < other.left) }
    }

    /// Encodes `text` (already escaped: spaces as "▁") with the vocabulary's token → id map and
    /// scores, appending ids to `out`. `byteTokens[b]` is the id of `<0xNN>` (−1 when missing:
    /// the unknown token stands in, or the byte is dropped without one).
    static func encode(_ text: [Unicode.Scalar], tokenToID: TokenTable, scores: [Float],
                       byteTokens: [Int32], unknownID: Int?, into out: inout [Int]) {
        guard !text.isEmpty else { return }
        // Symbols as scalar ranges in a doubly linked list; a merged-away symbol has length 0.
        var start = Array(0..<text.count), length = [Int](repeating: 1, count: text.count)
        var prev = Array(-1..<(text.count - 1)), next = Array(1...text.count)
        next[text.count - 1] = -1
        var heap = BigramHeap()

        func piece(_ from: Int, _ count: Int) -> String {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: text[from..<(from + count)])
            return String(s)
        }
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let n = length[left] + length[right]
            guard let id = tokenToID[piece(start[left], n)] else { return }
            heap.push(Bigram(score: scores[Int(id)], left: left, right: right, length: n))
        }

        for i in 1..<text.count { tryAdd(i - 1, i) }
        while let b = heap.pop() {
            // Stale: a side was merged into something else since this pair was queued.
            guard length[b.left] > 0, length[b.right] > 0, length[b.left] + length[b.right] == b.length,
                  next[b.left] == b.right else { continue }
            length[b.left] = b.length
            length[b.right] = 0
            next[b.left] = next[b.right]
            if next[b.right] >= 0 { prev[next[b.right]] = b.left }
            tryAdd(prev[b.left], b.left)
            tryAdd(b.left, next[b.left])
        }

        var i = 0
        while i >= 0 {
            let text = piece(start[i], length[i])
            if let id = tokenToID[text] {
                out.append(Int(id))
            } else {
                for byte in text.utf8 {
                    let id = byteTokens[Int(byte)]
                    if id >= 0 { out.append(Int(id)) } else if let unknownID { out.append(unknownID) }
                }
            }
            i = next[i]
        }
    }

    /// The byte a `<0xNN>` token stands for.
    static func byteValue(_ token: String) -> UInt8? {
        guard token.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(token.dropFirst(3).prefix(2), radix: 16)
    }
}

/// A binary max-heap of bigrams by `Bigram.before`.
struct BigramHeap {
    private var items: [SentencePiece.Bigram] = []

    mutating func push(_ b: SentencePiece.Bigram) {
        items.append(b)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> SentencePiece.Bigram? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < items.count && items[l].before(items[best]) { best = l }
            if r < items.count && items[r].before(items[best]) { best = r }
            if best == i { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}
