import Testing
@testable import Tokenizer

/// Encoding with hand-made vocabularies, where every expected id can be worked out by hand.
@Suite struct EncodeTests {
    @Test func byteLevelMapIsGPT2s() {
        #expect(ByteLevel.scalarForByte[0x20] == "Ġ" && ByteLevel.scalarForByte[0x0A] == "Ċ")
        #expect(ByteLevel.scalarForByte[0x41] == "A" && ByteLevel.scalarForByte[0xAD] == "\u{143}")
        #expect(Set(ByteLevel.scalarForByte).count == 256)
        var bytes: [UInt8] = []
        ByteLevel.decode(ByteLevel.encode(0...255), into: &bytes)
        #expect(bytes == Array(0...255))
    }

    @Test func mergesBuildWholeWords() throws {
        let tokenizer = try Tiny.tokenizer(extra: Tiny.words, merges: Tiny.wordMerges)
        let hello = try #require(tokenizer.id(of: "hello")), world = try #require(tokenizer.id(of: "Ġworld"))
        #expect(tokenizer.encode("hello world") == [hello, world])
        #expect(tokenizer.decode([hello, world]) == "hello world")
        // "hell": "l l" (rank 0) then "h e" (rank 1); "ll o" never applies.
        #expect(tokenizer.encode("hell") == [tokenizer.id(of: "he")!, tokenizer.id(of: "ll")!])
    }

    /// The lowest-ranked pair merges first: the same vocabulary with the two merges swapped
    /// splits "abc" differently.
    @Test func mergesApplyByRank() throws {
        let extra = ["ab", "bc"]
        let bcFirst = try Tiny.tokenizer(extra: extra, merges: ["b c", "a b"])
        let abFirst = try Tiny.tokenizer(extra: extra, merges: ["a b", "b c"])
        let a = Tiny.byteID(UInt8(ascii: "a")), c = Tiny.byteID(UInt8(ascii: "c"))
        #expect(bcFirst.encode("abc") == [a, bcFirst.id(of: "bc")!])
        #expect(abFirst.encode("abc") == [abFirst.id(of: "ab")!, c])
        // On a tie (the same pair twice) the leftmost merges first: "aaa" → "aa" + "a".
        let aa = try Tiny.tokenizer(extra: ["aa"], merges: ["a a"])
        #expect(aa.encode("aaa") == [aa.id(of: "aa")!, a])
        #expect(aa.encode("aaaa") == [aa.id(of: "aa")!, aa.id(of: "aa")!])
    }

    /// Text with no merges comes out one token per UTF-8 byte, and decodes back.
    @Test func unknownPiecesFallBackToBytes() throws {
        let tokenizer = try Tiny.tokenizer(extra: Tiny.words, merges: Tiny.wordMerges)
        let text = "hé👍"
        #expect(tokenizer.encode(text) == [tokenizer.id(of: "h")!] + Array("é👍".utf8).map(Tiny.byteID))
        #expect(tokenizer.decode(tokenizer.encode(text)) == text)
    }

    /// A vocabulary without some byte tokens maps those bytes to the unknown token, if any.
    @Test func missingByteTokensBecomeUnknown() throws {
        let tokens = ["<unk>", "a", "b"]
        let plain = try Tokenizer(tokens: tokens, tokenTypes: [2, 1, 1], merges: [], bosID: nil, eosID: nil,
                                  preTokenizer: "gpt2", addBOS: true, chatTemplate: nil)
        #expect(plain.encode("abz") == [1, 2])   // no unknown id given to the public init: dropped
        #expect(plain.bosID == nil && plain.encode("a") == [1])  // addBOS without a BOS id adds nothing
        let withUnknown = try Tokenizer(tokens: tokens, tokenTypes: [2, 1, 1], merges: [],
                                        specialIDs: .init(unknown: 0), preTokenizer: "gpt2", addBOS: false,
                                        chatTemplate: nil, keyOffsets: [:])
        #expect(withUnknown.encode("abz") == [1, 2, 0])
    }

    @Test func specialTokensParsedOnlyWhenAsked() throws {
        let tokenizer = try Tiny.tokenizer(extra: Tiny.words, merges: Tiny.wordMerges)
        let hello = tokenizer.id(of: "hello")!
        let text = "<|im_start|>hello<|im_end|><|im_end|>"
        #expect(tokenizer.encode(text, parseSpecial: true) == [1, hello, 2, 2])
        let plain = tokenizer.encode(text)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(tokenizer.decode(plain) == text)
        #expect(tokenizer.decode([1, hello, 2]) == "<|im_start|>hello<|im_end|>")
        // An unfinished special token is just text.
        #expect(!tokenizer.encode("<|im_start", parseSpecial: true).contains(1))
    }

    /// User-defined tokens (type 4) are always matched, longest first.
    @Test func userDefinedTokensAlwaysParsed() throws {
        let tokenizer = try Tiny.tokenizer(extra: ["<tag>", "<tag>x"], extraTypes: [4, 4])
        let tag = tokenizer.id(of: "<tag>")!, tagX = tokenizer.id(of: "<tag>x")!
        #expect(tokenizer.encode("a<tag>x<tag>") == [Tiny.byteID(UInt8(ascii: "a")), tagX, tag])
        #expect(tokenizer.decode([tagX]) == "<tag>x")
    }

    @Test func heapAndScanAgree() throws {
        // Merges over a small alphabet, so long random words merge in many orders.
        let letters = ["a", "b", "c"]
        var extra: [String] = []
        var merges: [String] = []
        var known = Set(letters)
        var rng = SplitMix(state: 7)
        for _ in 0..<40 {
            let left = known.randomElement(using: &rng)!, right = known.randomElement(using: &rng)!
            guard (left + right).count <= 6, !known.contains(left + right) else { continue }
            known.insert(left + right)
            extra.append(left + right)
            merges.append("\(left) \(right)")
        }
        let tokenizer = try Tiny.tokenizer(extra: extra, merges: merges)
        for _ in 0..<300 {
            let n = Int.random(in: 0...80, using: &rng)
            let symbols = (0..<n).map { _ in Int32(Tiny.byteID(UInt8(ascii: "a") + UInt8.random(in: 0...2, using: &rng))) }
            #expect(BPE.mergeByHeap(symbols, table: tokenizer.merges) == BPE.mergeByScan(symbols, table: tokenizer.merges))
        }
        // A long piece takes the heap path in `encode` and still round-trips.
        let long = String(repeating: "abcab", count: 400)
        #expect(tokenizer.decode(tokenizer.encode(long)) == long)
    }

    @Test func emptyAndWhitespaceText() throws {
        let tokenizer = try Tiny.tokenizer()
        #expect(tokenizer.encode("") == [])
        #expect(tokenizer.encode("", addBOS: true) == [1])
        #expect(tokenizer.encode("\n \t") == [0x0A, 0x20, 0x09].map(Tiny.byteID))
    }
}
