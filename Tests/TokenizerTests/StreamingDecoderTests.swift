import Testing
@testable import Tokenizer

@Suite struct StreamingDecoderTests {
    let tokenizer: Tokenizer

    init() throws { tokenizer = try Tiny.tokenizer(extra: Tiny.words, merges: Tiny.wordMerges) }

    func stream(_ bytes: [UInt8]) -> [String] {
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        return bytes.map { decoder.append(Tiny.byteID($0)) } + [decoder.finish()]
    }

    /// 👍🏽 is two 4-byte scalars sent as eight byte tokens: nothing shows until each completes.
    @Test func holdsSplitCharacter() {
        let bytes = Array("a👍🏽".utf8)
        #expect(stream(bytes) == ["a", "", "", "", "👍", "", "", "", "🏽", ""])
    }

    /// Multi-byte tokens and special tokens mix with held bytes.
    @Test func mixesTokensAndBytes() {
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        let e = Array("é".utf8)
        #expect(decoder.append(tokenizer.id(of: "hello")!) == "hello")
        #expect(decoder.append(Tiny.byteID(e[0])) == "")
        #expect(decoder.append(Tiny.byteID(e[1])) == "é")
        #expect(decoder.append(2) == "<|im_end|>")
        #expect(decoder.append(-5) == "")  // out of range: nothing
        #expect(decoder.finish() == "")
    }

    /// Bytes that cannot become a character are replaced at once, not held.
    @Test func invalidBytesDoNotBlock() {
        // 0xFF never starts a character.
        #expect(stream([0xFF, 0x61]) == ["\u{FFFD}", "a", ""])
        // 0xE2 0x82 waits for a third byte; "a" breaks it.
        #expect(stream([0xE2, 0x82, 0x61]) == ["", "", "\u{FFFD}a", ""])
        // 0xE0 0x80 is an overlong prefix: ill-formed as soon as the second byte arrives.
        #expect(stream([0xE0, 0x80]).joined().hasPrefix("\u{FFFD}"))
        #expect(stream([0xE0, 0x80])[1] != "")
        // ED A0 would be a surrogate.
        #expect(stream([0xED, 0xA0])[1] != "")
        // A lone continuation byte.
        #expect(stream([0x80, 0x61]) == ["\u{FFFD}", "a", ""])
    }

    /// An unfinished character at the end becomes U+FFFD.
    @Test func finishFlushesIncompleteCharacter() {
        #expect(stream([0x61, 0xF0, 0x9F, 0x91]) == ["a", "", "", "", "\u{FFFD}"])
    }

    /// Whatever the bytes, the streamed text equals decoding everything at once.
    @Test func streamEqualsDecode() {
        var rng = SplitMix(state: 99)
        let interesting: [UInt8] = [0x61, 0x80, 0xBF, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x8F, 0x90]
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0...12, using: &rng)).map { _ in interesting.randomElement(using: &rng)! }
            #expect(stream(bytes).joined() == tokenizer.decode(bytes.map(Tiny.byteID)), "\(bytes)")
        }
    }
}
