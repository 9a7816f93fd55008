import Engine
import GGUF
import Models
import SwiftletTesting
import Testing
import Tokenizer

/// Free-running greedy generation (chunked prompt, then one token at a time through the KV cache)
/// reproduces the reference continuations token for token.
@Suite(.serialized) struct GreedyGenerationTests {
    static let loaded: Result<(LlamaModel, Tokenizer), Error> = Result {
        let gguf = try GGUFFile(path: try Fixtures.requireDefaultModel())
        return (try LlamaModel(gguf: gguf, backend: .reference), try Tokenizer(gguf: gguf))
    }

    @Test func greedyContinuationsMatchReference() throws {
        let (model, tokenizer) = try Self.loaded.get()
        let records = try Fixtures.referenceLines("q4_1/prompts.jsonl", as: ReferencePrompt.self)
        // A small chunk size so that prompts are prefilled in several passes.
        let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 128, chunkSize: 4)
        for record in records {
            var text = ""
            let result = try generator.generate(promptIDs: record.promptIDs, options: GenerationOptions(maxTokens: 32)) { text += $0 }
            let expected = record.greedyIDs.last.map(tokenizer.isEndOfGeneration) == true
                ? Array(record.greedyIDs.dropLast()) : record.greedyIDs
            #expect(result.generatedIDs == expected, "\(record.prompt.prefix(30))")
            #expect(text == tokenizer.decode(expected))
            #expect(result.finishReason == (expected.count < record.greedyIDs.count ? .stop : .length))
        }
    }

    @Test func stopStringEndsGenerationAndIsNotEmitted() throws {
        let (model, tokenizer) = try Self.loaded.get()
        let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 64)
        var text = ""
        let result = try generator.generate(promptIDs: tokenizer.encode("The capital of France is"),
                                            options: GenerationOptions(maxTokens: 32, stopStrings: ["."])) { text += $0 }
        #expect(text == " Paris")
        #expect(result.finishReason == .stop)
    }

    @Test func promptLongerThanContextIsAnError() throws {
        let (model, tokenizer) = try Self.loaded.get()
        let generator = try Generator(model: model, tokenizer: tokenizer, contextSize: 8)
        #expect(throws: GenerationError.promptTooLong(tokens: 9, context: 8)) {
            try generator.generate(promptIDs: Array(repeating: 504, count: 9), options: GenerationOptions()) { _ in }
        }
        #expect(throws: GenerationError.emptyPrompt) {
            try generator.generate(promptIDs: [], options: GenerationOptions()) { _ in }
        }
    }
}

@Suite struct StopStringMatcherTests {
    @Test func holdsBackPossiblePrefixes() {
        var m = StopStringMatcher(stops: ["</s>"])
        #expect(m.feed("Hello <") == ("Hello ", false))
        #expect(m.feed("/") == ("", false))
        #expect(m.feed("x") == ("</x", false))
        #expect(m.feed(" end</s> more") == (" end", true))
    }

    @Test func earliestStopWinsAndFinishReleases() {
        var m = StopStringMatcher(stops: ["bb", "a"])
        #expect(m.feed("xxbba") == ("xx", true))
        var n = StopStringMatcher(stops: ["END"])
        #expect(n.feed("the EN") == ("the ", false))
        #expect(n.finish() == "EN")
    }
}
