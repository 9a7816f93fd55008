import LLMBase

/// The token ids a pass scores, when not the whole vocabulary: the first `leading` ids and a set of
/// others (`extraIDs`). Every other logit is −∞.
///
/// For a draft model (after FR-Spec, Zhao et al. 2025): the output projection over a vocabulary of
/// 152k ids is a third of the bytes a 0.5B model reads per token, and its drafts are almost
/// always common tokens. Byte-level BPE and SentencePiece number tokens roughly by frequency
/// (merge order, score), so the first ids are the common ones. The rare tokens a text does use
/// are mostly its own words ("Ġfibonacci" is id 75,698): the extras are the control and
/// end-of-turn tokens, and every token of the text so far (`include`). The target checks each
/// draft against its whole vocabulary, so output is unchanged; only acceptance can fall.
public final class LogitSubset: @unchecked Sendable {
    /// Ids 0..<leading are scored by the output projection's own kernels (a multiple of 16: whole
    /// interleaved tiles, whole cache lines of output).
    public let leading: Int
    /// Ids past `leading` that are scored too: the fixed ones first, then the text's.
    public private(set) var extraIDs: [Int]
    public let capacity: Int
    let vocabularySize: Int
    let hiddenSize: Int
    private let fixedCount: Int
    private var present: Set<Int>
    /// The output projection's rows of `extraIDs`, unpacked to F32 in order (the first
    /// `unpackedCount` of them so far), so each pass costs one dot product per extra id.
    let rows: AlignedFloatBuffer
    var unpackedCount = 0

    /// `leading` is rounded up to a multiple of 16 and capped at the vocabulary. `fixedIDs` (control
    /// and end-of-turn tokens) are kept always, up to `capacity` extras in all.
    public init(leading: Int, fixedIDs: [Int], vocabularySize: Int, hiddenSize: Int, capacity: Int = 1024) {
        let rounded = min(vocabularySize, max(16, (leading + 15) / 16 * 16))
        self.leading = rounded
        self.capacity = capacity
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        var seen = Set<Int>()
        extraIDs = Array(fixedIDs.filter { $0 >= rounded && $0 < vocabularySize && seen.insert($0).inserted }.prefix(capacity / 2))
        present = Set(extraIDs)
        fixedCount = extraIDs.count
        rows = AlignedFloatBuffer(count: capacity * hiddenSize)
    }

    /// Scores these ids too from the next pass on (a sequence's prompt and output). When the extras
    /// are full, the text's ids gathered so far are dropped first: the latest text matters most.
    public func include<S: Sequence<Int>>(_ ids: S) {
        for id in ids where id >= leading && id < vocabularySize && !present.contains(id) {
            if extraIDs.count == capacity { forgetText() }
            extraIDs.append(id)
            present.insert(id)
        }
    }

    /// Drops the text's ids, keeping the fixed ones (a new sequence starts).
    public func forgetText() {
        for id in extraIDs[fixedCount...] { present.remove(id) }
        extraIDs.removeSubrange(fixedCount...)
        unpackedCount = min(unpackedCount, fixedCount)
    }
}
