import Foundation
import GGUF
import SwiftletTesting
import Testing
@testable import Tokenizer

/// Every way a tokenizer description can be wrong, from the pure initializer and from GGUF files.
@Suite struct TokenizerErrorTests {
    // MARK: Pure initializer

    func build(tokens: [String] = ["a", "b", "ab"], types: [Int32]? = nil, merges: [String] = ["a b"],
               bos: Int? = nil, eos: Int? = nil, pre: String = "gpt2") throws(TokenizerError) -> Tokenizer {
        try Tokenizer(tokens: tokens, tokenTypes: types ?? [Int32](repeating: 1, count: tokens.count), merges: merges,
                      bosID: bos, eosID: eos, preTokenizer: pre, addBOS: false, chatTemplate: nil)
    }

    @Test func pureInitializerErrors() throws {
        #expect(throws: TokenizerError.emptyVocabulary) { try build(tokens: [], merges: []) }
        #expect(throws: TokenizerError.tokenCountMismatch(key: "tokenizer.ggml.token_type", expected: 3, actual: 2)) {
            try build(types: [1, 1])
        }
        #expect(throws: TokenizerError.specialTokenOutOfRange(key: "tokenizer.ggml.bos_token_id", id: 3,
                                                              vocabularySize: 3, offset: nil)) { try build(bos: 3) }
        #expect(throws: TokenizerError.specialTokenOutOfRange(key: "tokenizer.ggml.eos_token_id", id: -1,
                                                              vocabularySize: 3, offset: nil)) { try build(eos: -1) }
        #expect(throws: TokenizerError.unsupportedPreTokenizer("tekken")) { try build(pre: "tekken") }
        #expect(throws: TokenizerError.malformedMerge(index: 0, merge: "ab", reason: "no space between two parts")) {
            try build(merges: ["ab"])
        }
        #expect(throws: TokenizerError.malformedMerge(index: 1, merge: "a c", reason: "\"c\" is not a token")) {
            try build(merges: ["a b", "a c"])
        }
        #expect(throws: TokenizerError.malformedMerge(index: 0, merge: "b a", reason: "\"ba\" is not a token")) {
            try build(merges: ["b a"])
        }
        _ = try build(bos: 0, eos: 2)  // and a valid one builds
    }

    @Test func descriptionsNameTheProblem() {
        let outOfRange = TokenizerError.specialTokenOutOfRange(key: "tokenizer.ggml.bos_token_id", id: 5000,
                                                               vocabularySize: 33, offset: 1234)
        #expect(outOfRange.description
                == "tokenizer.ggml.bos_token_id = 5000 is outside the vocabulary of 33 tokens (key at byte offset 1234)")
        #expect(TokenizerError.missingKey("tokenizer.ggml.tokens").description.contains("tokenizer.ggml.tokens"))
        #expect(TokenizerError.unsupportedModel("llama").description.contains("\"llama\""))
    }

    // MARK: GGUF

    /// A GGUF file holding only tokenizer metadata: the byte tokens of "a", "b", "Ġ" plus "ab".
    func file(_ edit: (inout [(key: String, value: GGUFValue)]) -> Void = { _ in }) throws -> GGUFFile {
        let tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "Ġ", "ab"]
        var metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .array(.string(tokens))),
            ("tokenizer.ggml.token_type", .array(.int32([3, 3, 3, 1, 1, 1, 1]))),
            ("tokenizer.ggml.merges", .array(.string(["a b"]))),
            ("tokenizer.ggml.bos_token_id", .uint32(1)),
            ("tokenizer.ggml.eos_token_id", .uint32(2)),
            ("tokenizer.ggml.padding_token_id", .uint32(2)),
        ]
        edit(&metadata)
        var writer = GGUFWriter()
        for (key, value) in metadata { writer.add(key, value) }
        let path = Fixtures.temporaryPath()
        try writer.write(to: path)
        defer { unlink(path) }
        return try GGUFFile(path: path)
    }

    func set(_ key: String, _ value: GGUFValue?) -> (inout [(key: String, value: GGUFValue)]) -> Void {
        { metadata in
            metadata.removeAll { $0.key == key }
            if let value { metadata.append((key, value)) }
        }
    }

    @Test func loadsMinimalFile() throws {
        let tokenizer = try Tokenizer(gguf: file())
        #expect(tokenizer.vocabularySize == 7 && tokenizer.bosID == 1 && tokenizer.paddingID == 2)
        #expect(tokenizer.addBOS == false && tokenizer.chatTemplate == nil)
        #expect(tokenizer.encode("ab a") == [6, 5, 3])
        #expect(tokenizer.encode("<|im_start|>ab", parseSpecial: true) == [1, 6])
    }

    @Test func missingKeys() throws {
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.merges"] {
            #expect(throws: TokenizerError.missingKey(key)) { try Tokenizer(gguf: file(set(key, nil))) }
        }
        // Without token types every token is normal: control texts are then plain text.
        let untyped = try Tokenizer(gguf: file(set("tokenizer.ggml.token_type", nil)))
        #expect(!untyped.encode("<|im_start|>", parseSpecial: true).contains(1))
    }

    @Test func unsupportedModelAndPreTokenizer() throws {
        #expect(throws: TokenizerError.unsupportedModel("bert")) {
            try Tokenizer(gguf: file(set("tokenizer.ggml.model", .string("bert"))))
        }
        // SentencePiece needs its scores.
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.scores")) {
            try Tokenizer(gguf: file(set("tokenizer.ggml.model", .string("llama"))))
        }
        #expect(throws: TokenizerError.unsupportedPreTokenizer("tekken")) {
            try Tokenizer(gguf: file(set("tokenizer.ggml.pre", .string("tekken"))))
        }
    }

    @Test func tokenTypeCountMismatch() throws {
        #expect(throws: TokenizerError.tokenCountMismatch(key: "tokenizer.ggml.token_type", expected: 7, actual: 6)) {
            try Tokenizer(gguf: file(set("tokenizer.ggml.token_type", .array(.int32([3, 3, 3, 1, 1, 1])))))
        }
    }

    /// The error names the key and where it is in the file.
    @Test func specialTokenOutsideVocabulary() throws {
        for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"] {
            let gguf = try file(set(key, .uint32(7)))
            let offset = try #require(gguf.value(key)?.offset)
            #expect(throws: TokenizerError.specialTokenOutOfRange(key: key, id: 7, vocabularySize: 7, offset: offset)) {
                try Tokenizer(gguf: gguf)
            }
        }
    }

    @Test func malformedMergeInFile() throws {
        #expect(throws: TokenizerError.malformedMerge(index: 0, merge: "a", reason: "no space between two parts")) {
            try Tokenizer(gguf: file(set("tokenizer.ggml.merges", .array(.string(["a"])))))
        }
    }

    /// A key of the wrong type is the GGUF reader's error, passed through.
    @Test func wrongTypeIsGGUFError() throws {
        let gguf = try file(set("tokenizer.ggml.bos_token_id", .string("one")))
        #expect(throws: GGUFError.self) { try Tokenizer(gguf: gguf) }
    }
}
