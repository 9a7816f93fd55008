/// The Unicode classes the split patterns look at: general category L* (letter), N* (number),
/// the White_Space property, and everything else. Computed once per scalar of the input.
enum ScalarClass: UInt8, Sendable {
    case letter, number, whitespace, other

    init(_ scalar: Unicode.Scalar) {
        if scalar.value < 0x80 {
            // ASCII fast path: most text is ASCII and the property lookup is comparatively slow.
            switch scalar.value {
            case 0x41...0x5A, 0x61...0x7A: self = .letter
            case 0x30...0x39: self = .number
            case 0x09...0x0D, 0x20: self = .whitespace
            default: self = .other
            }
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace { self = .whitespace; return }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            self = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            self = .number
        default:
            self = .other
        }
    }
}

/// Splits text into the pieces BPE runs on, as the model's `tokenizer.ggml.pre` says. Each split
/// pattern is matched by hand over Unicode scalars, the way llama.cpp's `unicode.cpp` does for its
/// hot patterns: a regex engine would be slower and its `\p{…}` classes differ between platforms.
enum PreTokenizer: Sendable, Equatable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Every \p{N} scalar is first isolated as a piece of its own (Hugging Face's
    /// `Digits(individual_digits=true)`), then the rest is split as GPT-2 (SmolLM, StarCoder).
    case digitsThenGPT2
    /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3
    /// Qwen 2: as Llama 3 with `\p{N}` (one digit per piece) and the contractions spelled
    /// `'[sS]|'[tT]|…` (ASCII case only).
    case qwen2

    /// The pre-tokenizer for a `tokenizer.ggml.pre` value (names as llama.cpp's `llama-vocab.cpp`
    /// maps them). A file without the key is "default", read here as plain GPT-2.
    init(name: String) throws(TokenizerError) {
        switch name {
        case "gpt2", "gpt-2", "default":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            self = .digitsThenGPT2
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx", "pixtral":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen":
            self = .qwen2
        default:
            throw .unsupportedPreTokenizer(name)
        }
    }

    /// Appends the pieces of `scalars[range]` to `pieces`, in order and covering the range.
    func split(_ scalars: [Unicode.Scalar], classes: [ScalarClass], range: Range<Int>,
               into pieces: inout [Range<Int>]) {
        switch self {
        case .gpt2:
            Self.splitGPT2(scalars, classes, range, &pieces)
        case .digitsThenGPT2:
            // Numbers become single-scalar pieces; the runs between them are split as GPT-2,
            // each on its own (so `\s+(?!\S)` sees a run's end as end of text, as in HF's
            // Sequence pre-tokenizer and llama.cpp's successive regexes).
            var start = range.lowerBound
            for i in range where classes[i] == .number {
                if start < i { Self.splitGPT2(scalars, classes, start..<i, &pieces) }
                pieces.append(i..<(i + 1))
                start = i + 1
            }
            if start < range.upperBound { Self.splitGPT2(scalars, classes, start..<range.upperBound, &pieces) }
        case .llama3:
            Self.splitLlama3(scalars, classes, range, maxDigits: 3, foldsLongS: true, &pieces)
        case .qwen2:
            Self.splitLlama3(scalars, classes, range, maxDigits: 1, foldsLongS: false, &pieces)
        }
    }

    // MARK: GPT-2

    private static func splitGPT2(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ range: Range<Int>,
                                  _ pieces: inout [Range<Int>]) {
        let end = range.upperBound
        var pos = range.lowerBound
        func cls(_ i: Int) -> ScalarClass? { i < end ? c[i] : nil }
        func scalar(_ i: Int) -> Unicode.Scalar? { i < end ? s[i] : nil }
        func emit(_ to: Int) { pieces.append(pos..<to); pos = to }

        while pos < end {
            let cpt = s[pos]
            // 's|'t|'re|'ve|'m|'ll|'d — case-sensitive in GPT-2.
            if cpt == "'", let n1 = scalar(pos + 1) {
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" { emit(pos + 2); continue }
                if let n2 = scalar(pos + 2),
                   (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                    emit(pos + 3); continue
                }
            }
            // ` ?X+` for the three classes: an optional U+0020 joins the run that follows it.
            let lead = cpt == " " ? cls(pos + 1) : c[pos]
            if let lead, lead != .whitespace {
                var i = cpt == " " ? pos + 1 : pos
                while i < end, c[i] == lead { i += 1 }
                emit(i); continue
            }
            // \s+(?!\S) then \s+: a whitespace run followed by more text gives up its last
            // scalar, so that a final space can lead the next word.
            var run = 0
            while cls(pos + run) == .whitespace { run += 1 }
            if run > 1 && pos + run < end { emit(pos + run - 1); continue }
            if run > 0 { emit(pos + run); continue }
            emit(pos + 1)  // unreachable in practice: every scalar has a class
        }
    }

    // MARK: Llama 3 / Qwen 2

    private static func splitLlama3(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ range: Range<Int>,
                                    maxDigits: Int, foldsLongS: Bool, _ pieces: inout [Range<Int>]) {
        let end = range.upperBound
        var pos = range.lowerBound
        func cls(_ i: Int) -> ScalarClass? { i < end ? c[i] : nil }
        func scalar(_ i: Int) -> Unicode.Scalar? { i < end ? s[i] : nil }
        // Case folding for the contraction letters: ASCII, plus (for `(?i:…)`) U+017F "ſ", which
        // case-folds to "s" in the reference regex engines.
        func lower(_ i: Int) -> Unicode.Scalar? {
            guard let x = scalar(i) else { return nil }
            if foldsLongS && x == "\u{017F}" { return "s" }
            return (0x41...0x5A).contains(x.value) ? Unicode.Scalar(x.value + 0x20)! : x
        }
        func isNewline(_ x: Unicode.Scalar?) -> Bool { x == "\r" || x == "\n" }
        func emit(_ to: Int) { pieces.append(pos..<to); pos = to }

        while pos < end {
            let cpt = s[pos]
            let flags = c[pos]
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if cpt == "'", let n1 = lower(pos + 1) {
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" { emit(pos + 2); continue }
                if let n2 = lower(pos + 2),
                   (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                    emit(pos + 3); continue
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isNewline(cpt) && flags != .number && (flags == .letter || cls(pos + 1) == .letter) {
                var i = pos + 1
                while cls(i) == .letter { i += 1 }
                emit(i); continue
            }
            // \p{N}{1,maxDigits}
            if flags == .number {
                var i = pos
                while cls(i) == .number && i - pos < maxDigits { i += 1 }
                emit(i); continue
            }
            // ?[^\s\p{L}\p{N}]+[\r\n]*
            let lead = cpt == " " ? cls(pos + 1) : flags
            if lead == .other {
                var i = cpt == " " ? pos + 1 : pos
                while cls(i) == .other { i += 1 }
                while isNewline(scalar(i)) { i += 1 }
                emit(i); continue
            }
            // \s*[\r\n]+ — the run up to and including its last newline.
            var run = 0
            var afterLastNewline = 0
            while cls(pos + run) == .whitespace {
                if isNewline(s[pos + run]) { afterLastNewline = pos + run + 1 }
                run += 1
            }
            if afterLastNewline > 0 { emit(afterLastNewline); continue }
            // \s+(?!\S) then \s+
            if run > 1 && pos + run < end { emit(pos + run - 1); continue }
            if run > 0 { emit(pos + run); continue }
            emit(pos + 1)
        }
    }
}
