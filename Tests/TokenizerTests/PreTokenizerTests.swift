import Testing
@testable import Tokenizer

/// Expected pieces were produced by Python's `regex` module with the patterns quoted in
/// `PreTokenizer` (and, for "smollm", isolating each \p{N} first).
@Suite struct PreTokenizerTests {
    func pieces(_ text: String, _ pre: PreTokenizer) -> [[Unicode.Scalar]] {
        let scalars = Array(text.unicodeScalars)
        var ranges: [Range<Int>] = []
        pre.split(scalars, classes: scalars.map(ScalarClass.init), range: 0..<scalars.count, into: &ranges)
        return ranges.map { Array(scalars[$0]) }
    }

    func check(_ pre: PreTokenizer, _ cases: [(String, [String])]) {
        for (text, expected) in cases {
            #expect(pieces(text, pre) == expected.map { Array($0.unicodeScalars) }, "\(pre) \(text.debugDescription)")
        }
    }

    @Test func gpt2() {
        check(.gpt2, [
            ("Hello, world!", ["Hello", ",", " world", "!"]),
            ("  leading and trailing spaces  ", [" ", " leading", " and", " trailing", " spaces", "  "]),
            ("multiple   spaces\tand\ttabs\nand\n\nnewlines",
             ["multiple", "  ", " spaces", "\t", "and", "\t", "tabs", "\n", "and", "\n", "\n", "newlines"]),
            ("it's don't I'll we've they'd you're IT'S",
             ["it", "'s", " don", "'t", " I", "'ll", " we", "'ve", " they", "'d", " you", "'re", " IT", "'", "S"]),
            ("Numbers: 12345, 3.14 and ½ ٣", ["Numbers", ":", " 12345", ",", " 3", ".", "14", " and", " ½", " ٣"]),
            ("a\u{A0}b\u{3000} c", ["a", "\u{A0}", "b", "\u{3000}", " c"]),
            ("x  \n  y", ["x", "  \n ", " y"]),
            ("café\u{301} naïve", ["café", "\u{301}", " naïve"]),
            ("HTTPServer snake_case (x)", ["HTTPServer", " snake", "_", "case", " (", "x", ")"]),
            ("'S'LL ' 's", ["'", "S", "'", "LL", " '", " '", "s"]),
            ("line\r\n\r\n  next", ["line", "\r\n\r\n ", " next"]),
            ("", []),
            (" ", [" "]),
            ("???!!  ...", ["???!!", " ", " ..."]),
        ])
    }

    @Test func smollmIsolatesDigits() {
        check(.digitsThenGPT2, [
            ("Numbers: 12345, 3.14 and ½ ٣",
             ["Numbers", ":", " ", "1", "2", "3", "4", "5", ",", " ", "3", ".", "1", "4", " and", " ", "½", " ", "٣"]),
            ("the year 1999 — and then 2000…",
             ["the", " year", " ", "1", "9", "9", "9", " —", " and", " then", " ", "2", "0", "0", "0", "…"]),
            ("x  \n  y", ["x", "  \n ", " y"]),
            ("a1b", ["a", "1", "b"]),
        ])
    }

    @Test func llama3() {
        check(.llama3, [
            ("multiple   spaces\tand\ttabs\nand\n\nnewlines",
             ["multiple", "  ", " spaces", "\tand", "\ttabs", "\n", "and", "\n\n", "newlines"]),
            ("it's don't I'll we've they'd you're IT'S",
             ["it", "'s", " don", "'t", " I", "'ll", " we", "'ve", " they", "'d", " you", "'re", " IT", "'S"]),
            ("Numbers: 12345, 3.14 and ½ ٣",
             ["Numbers", ":", " ", "123", "45", ",", " ", "3", ".", "14", " and", " ", "½", " ", "٣"]),
            ("a\u{A0}b\u{3000} c", ["a", "\u{A0}b", "\u{3000}", " c"]),
            ("x  \n  y", ["x", "  \n", " ", " y"]),
            ("HTTPServer snake_case (x)", ["HTTPServer", " snake", "_case", " (", "x", ")"]),
            ("'S'LL ' 's", ["'S", "'LL", " '", " '", "s"]),
            ("line\r\n\r\n  next", ["line", "\r\n\r\n", " ", " next"]),
            ("the year 1999 — and then 2000…", ["the", " year", " ", "199", "9", " —", " and", " then", " ", "200", "0", "…"]),
        ])
    }

    @Test func qwen2() {
        check(.qwen2, [
            ("Numbers: 123", ["Numbers", ":", " ", "1", "2", "3"]),
            ("IT'S x'ſs", ["IT", "'S", " x", "'ſs"]),
        ])
        // Llama 3's contractions are case-insensitive, and "ſ" case-folds to "s".
        check(.llama3, [("IT'S x'ſs", ["IT", "'S", " x", "'ſ", "s"])])
    }

    @Test func names() throws {
        #expect(try PreTokenizer(name: "smollm") == .digitsThenGPT2)
        #expect(try PreTokenizer(name: "default") == .gpt2)
        #expect(try PreTokenizer(name: "llama-bpe") == .llama3)
        #expect(throws: TokenizerError.unsupportedPreTokenizer("tekken")) { try PreTokenizer(name: "tekken") }
    }

    @Test func scalarClasses() {
        #expect(ScalarClass("a") == .letter && ScalarClass("Ж") == .letter && ScalarClass("日") == .letter)
        #expect(ScalarClass("7") == .number && ScalarClass("½") == .number && ScalarClass("Ⅻ") == .number)
        #expect(ScalarClass("\u{A0}") == .whitespace && ScalarClass("\u{2028}") == .whitespace && ScalarClass("\u{85}") == .whitespace)
        #expect(ScalarClass("\u{301}") == .other && ScalarClass("_") == .other && ScalarClass("👍") == .other)
    }
}
