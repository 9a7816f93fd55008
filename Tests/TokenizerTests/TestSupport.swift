import GGUF
import SwiftletTesting
@testable import Tokenizer

/// The real default model's tokenizer, built once for the whole test target (the GGUF holds 49,152
/// tokens and 48,900 merges). A failure to load is rethrown by every test that uses it.
let smolLoad: Result<Tokenizer, any Error> = Result {
    try Tokenizer(gguf: GGUFFile(path: Fixtures.requireDefaultModel()))
}

func smol() throws -> Tokenizer { try smolLoad.get() }

/// A hand-made byte-level vocabulary:
///
/// ```
///   0 <|endoftext|>  1 <|im_start|>  2 <|im_end|>        control
///   3 …258           the 256 single-byte tokens (byte b is id 3 + b)
///   259…             `extra` tokens, in order
/// ```
enum Tiny {
    static let controls = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    static let bytes: [String] = (0..<256).map { String(ByteLevel.scalarForByte[$0]) }

    static func byteID(_ b: UInt8) -> Int { 3 + Int(b) }

    /// A tokenizer with the controls, the byte tokens, then `extra` with `extraTypes` (normal by
    /// default); `merges` in rank order.
    static func tokenizer(extra: [String] = [], extraTypes: [Int32]? = nil, merges: [String] = [],
                          pre: String = "smollm", template: String? = nil) throws -> Tokenizer {
        let tokens = controls + bytes + extra
        let types = [Int32](repeating: 3, count: 3) + [Int32](repeating: 1, count: 256)
            + (extraTypes ?? [Int32](repeating: 1, count: extra.count))
        return try Tokenizer(tokens: tokens, tokenTypes: types, merges: merges, bosID: 1, eosID: 2,
                             preTokenizer: pre, addBOS: false, chatTemplate: template)
    }

    /// "hello world" vocabulary: merges build "hello" and "Ġworld" in a known order.
    static let words = ["ll", "he", "llo", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"]
    static let wordMerges = ["l l", "h e", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]
}

/// Deterministic pseudo-random numbers (SplitMix64) for property tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
