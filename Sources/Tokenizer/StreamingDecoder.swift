/// Turns ids into text one at a time, for streaming a generation.
///
/// A token can end in the middle of a UTF-8 character (an emoji is often four single-byte tokens),
/// so the decoder holds back a trailing sequence that is a valid but incomplete character and
/// emits it once complete. A held sequence that can no longer become valid is emitted at once as
/// U+FFFD, never held forever. The concatenation of everything `append` and `finish` return equals
/// `tokenizer.decode(allIDs)`: both replace each maximal ill-formed subsequence with one U+FFFD.
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds one token; returns the text that is now complete ("" while a character is unfinished).
    public mutating func append(_ id: Int) -> String {
        tokenizer.appendBytes(of: id, to: &pending)
        let ready = pending.count - Self.incompleteSuffixLength(pending)
        guard ready > 0 else { return "" }
        let text = String(decoding: pending[..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Ends the stream: returns whatever is held (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back, i.e. the length of a trailing sequence that is a proper prefix of some
    /// well-formed UTF-8 character; 0 when the bytes end complete or ill-formed.
    ///
    /// ```
    ///   lead byte   length   allowed second byte
    ///   C2…DF       2        80…BF
    ///   E0          3        A0…BF      (no overlong forms)
    ///   E1…EC, EE…EF 3       80…BF
    ///   ED          3        80…9F      (no surrogates)
    ///   F0          4        90…BF
    ///   F1…F3       4        80…BF
    ///   F4          4        80…8F      (nothing above U+10FFFF)
    /// ```
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        let floor = max(0, n - 3)  // an unfinished character has at most 3 bytes
        var lead = n - 1
        while lead >= floor && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= floor else { return 0 }  // only continuation bytes: ill-formed
        let b0 = bytes[lead]
        let length: Int
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0  // ASCII, or a byte that never starts a character
        }
        let have = n - lead
        guard have < length else { return 0 }
        if have >= 2 {
            let b1 = bytes[lead + 1]
            let secondOK: Bool
            switch b0 {
            case 0xE0: secondOK = (0xA0...0xBF).contains(b1)
            case 0xED: secondOK = (0x80...0x9F).contains(b1)
            case 0xF0: secondOK = (0x90...0xBF).contains(b1)
            case 0xF4: secondOK = (0x80...0x8F).contains(b1)
            default: secondOK = true  // already known to be a continuation byte
            }
            guard secondOK else { return 0 }
        }
        return have
    }
}
