extension Tokenizer {
    /// Text → token ids.
    ///
    /// 1. Special tokens are cut out of the text first (user-defined ones always; control ones such
    ///    as "<|im_start|>" only with `parseSpecial`), longest token first, as llama.cpp's
    ///    `tokenizer_st_partition` does.
    /// 2. The text between them is split by the pre-tokenizer into pieces.
    /// 3. Each piece's UTF-8 bytes become one token per byte, merged by BPE.
    ///
    /// `addBOS` overrides the model's `add_bos_token` setting.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = false) -> [Int] {
        encode(text, addBOS: addBOS, parseSpecial: parseSpecial, specialRanges: nil)
    }

    /// A rendered chat: the template's text and the messages' contents tokenized as one string (so
    /// pieces join across them as in the whole text), with special tokens recognized only inside
    /// the template's own text — a content's "<|im_start|>system" stays plain text.
    public func encode(chat segments: [ChatTemplate.Segment]) -> [Int] {
        var text = "", allowed: [Range<Int>] = [], offset = 0
        for segment in segments {
            let n = segment.text.unicodeScalars.count
            if !segment.isContent { allowed.append(offset..<(offset + n)) }
            text += segment.text
            offset += n
        }
        return encode(text, addBOS: nil, parseSpecial: true, specialRanges: allowed)
    }

    /// `specialRanges`: scalar ranges of the text in which special tokens may be matched (nil:
    /// anywhere).
    func encode(_ text: String, addBOS: Bool?, parseSpecial: Bool, specialRanges: [Range<Int>]?) -> [Int] {
        var out: [Int] = []
        if addBOS ?? self.addBOS, let bosID { out.append(bosID) }
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return out }

        // Byte offset of each scalar in the UTF-8 text, so a piece's bytes are a slice.
        let utf8 = Array(text.utf8)
        var byteStart = [Int](repeating: 0, count: scalars.count + 1)
        for (i, s) in scalars.enumerated() { byteStart[i + 1] = byteStart[i] + s.utf8.count }
        let classes = scalars.map(ScalarClass.init)

        // Many pieces repeat in any long text (" the", ","); remember each piece's ids for this
        // call only, so that the shared instance stays immutable and needs no lock.
        var cache: [String: [Int32]] = [:]
        var pieces: [Range<Int>] = []
        var afterSpecial = true
        for fragment in partition(scalars, parseSpecial: parseSpecial, allowedRanges: specialRanges) {
            switch fragment {
            case .token(let id):
                out.append(Int(id))
                afterSpecial = true
            case .text(let range) where kind == .sentencePiece:
                // llama.cpp's SPM path: "▁" before text at the start or after a special token
                // (when the model asks), every space as "▁", then the merges over the whole fragment.
                var text: [Unicode.Scalar] = addSpacePrefix && afterSpecial ? [SentencePiece.space] : []
                text.reserveCapacity(text.count + range.count)
                for s in scalars[range] { text.append(s == " " ? SentencePiece.space : s) }
                SentencePiece.encode(text, tokenToID: tokenToID, scores: scores, byteTokens: byteTokens,
                                     unknownID: unknownID, into: &out)
                afterSpecial = false
            case .text(let range):
                pieces.removeAll(keepingCapacity: true)
                preTokenizer.split(scalars, classes: classes, range: range, into: &pieces)
                for piece in pieces {
                    let bytes = utf8[byteStart[piece.lowerBound]..<byteStart[piece.upperBound]]
                    let key = String(decoding: bytes, as: UTF8.self)
                    if let ids = cache[key] {
                        for id in ids { out.append(Int(id)) }
                        continue
                    }
                    let ids = encodePiece(bytes)
                    if cache.count < 65_536 { cache[key] = ids }
                    for id in ids { out.append(Int(id)) }
                }
            }
        }
        return out
    }

    /// The ids of one pre-tokenized piece.
    func encodePiece(_ bytes: ArraySlice<UInt8>) -> [Int32] {
        if ignoreMerges, let id = tokenToID[ByteLevel.encode(bytes)] { return [id] }
        let symbols = bytes.map { byteTokens[Int($0)] }
        let merged = BPE.merge(symbols, table: merges)
        // A byte the vocabulary lacks (no byte-level vocabulary from a real model does) becomes
        // the unknown token, or is dropped when there is none.
        if !merged.contains(-1) { return merged }
        return merged.compactMap { $0 >= 0 ? $0 : unknownID.map(Int32.init) }
    }

    enum Fragment: Equatable {
        case token(Int32)
        case text(Range<Int>)
    }

    /// Splits the text at the special tokens that apply, longest token first: each token in turn
    /// cuts every text fragment left after the longer ones at its non-overlapping occurrences.
    func partition(_ scalars: [Unicode.Scalar], parseSpecial: Bool, allowedRanges: [Range<Int>]? = nil) -> [Fragment] {
        func allowed(_ match: Range<Int>) -> Bool {
            guard let allowedRanges else { return true }
            return allowedRanges.contains { $0.lowerBound <= match.lowerBound && match.upperBound <= $0.upperBound }
        }
        var fragments: [Fragment] = [.text(0..<scalars.count)]
        for special in specialTokens where parseSpecial || !special.needsParseSpecial {
            let pattern = special.scalars
            var result: [Fragment] = []
            result.reserveCapacity(fragments.count)
            for fragment in fragments {
                guard case .text(let range) = fragment else { result.append(fragment); continue }
                var start = range.lowerBound
                var i = range.lowerBound
                while i + pattern.count <= range.upperBound {
                    if scalars[i] == pattern[0] && scalars[i..<(i + pattern.count)].elementsEqual(pattern) && allowed(i..<(i + pattern.count)) {
                        if start < i { result.append(.text(start..<i)) }
                        result.append(.token(special.id))
                        i += pattern.count
                        start = i
                    } else {
                        i += 1
                    }
                }
                if start < range.upperBound { result.append(.text(start..<range.upperBound)) }
            }
            fragments = result
        }
        return fragments
    }
}
