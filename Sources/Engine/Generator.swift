import Foundation
import Models
import Sampling
import Tokenizer

public struct GenerationOptions: Sendable {
    public var maxTokens: Int
    public var sampling: SamplingParameters
    public var stopStrings: [String]

    public init(maxTokens: Int = 64, sampling: SamplingParameters = SamplingParameters(), stopStrings: [String] = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
    }
}

public struct GenerationResult: Sendable {
    public var promptTokens: Int
    public var generatedIDs: [Int]
    public var finishReason: FinishReason
    public var promptSeconds: Double
    public var generationSeconds: Double
    /// Tokens produced after the prompt pass's: one per single-token forward pass, or, with
    /// speculative decoding, the accepted drafts and one more per target pass.
    public var decodeSteps: Int
    /// What speculation did, when the generator speculated (`SpeculativeGenerator`).
    public var speculation: SpeculationStats? = nil

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Decode rate: tokens per second after the first (which comes out of the prompt pass).
    public var generationTokensPerSecond: Double {
        generationSeconds > 0 ? Double(decodeSteps) / generationSeconds : 0
    }
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case invalidMaxTokens(Int)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty (it tokenizes to no tokens)"
        case .promptTooLong(let n, let ctx): return "the prompt has \(n) tokens, more than the context of \(ctx) allows (raise --ctx)"
        case .invalidMaxTokens(let n): return "the number of tokens to generate must be at least 1, got \(n)"
        }
    }
}

/// Single-sequence text generation: prompt in chunks through the model, then one token at a time,
/// streaming whole characters to a callback until end-of-generation, a stop string or the limit.
public final class Generator {
    public let model: any CausalLM
    public let tokenizer: Tokenizer
    public let contextSize: Int
    private let cache: PagedKVCache
    private let scratch: ForwardScratch
    /// Prompt tokens per forward pass.
    public let chunkSize: Int

    public init(model: any CausalLM, tokenizer: Tokenizer, contextSize: Int, chunkSize: Int = 256, kvCacheType: KVCacheType = .f16) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.contextSize = contextSize
        self.chunkSize = chunkSize
        cache = try model.makeCache(capacity: contextSize, type: kvCacheType)
        scratch = model.makeScratch(maxTokens: chunkSize, contextCapacity: contextSize, allLogits: false)
    }

    public func generate(promptIDs: [Int], options: GenerationOptions,
                         onText: (String) -> Void) throws -> GenerationResult {
        guard !promptIDs.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidMaxTokens(options.maxTokens) }
        guard promptIDs.count < contextSize else { throw GenerationError.promptTooLong(tokens: promptIDs.count, context: contextSize) }
        try options.sampling.validate()
        let vocab = model.config.vocabularySize
        var sampler = Sampler(options.sampling)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var stops = StopStringMatcher(stops: options.stopStrings)

        let promptStart = DispatchTime.now().uptimeNanoseconds
        try prefill(model, promptIDs[...], start: 0, cache: cache, scratch: scratch, chunkSize: chunkSize)
        var position = promptIDs.count
        let decodeStart = DispatchTime.now().uptimeNanoseconds

        var generated: [Int] = []
        var decodeSteps = 0
        var finish = FinishReason.length
        var next = sampler.sample(scratch.logits(row: 0, vocabularySize: vocab))
        while true {
            if tokenizer.isEndOfGeneration(next) { finish = .stop; break }
            generated.append(next)
            let (text, stopped) = stops.feed(decoder.append(next))
            if !text.isEmpty { onText(text) }
            if stopped { finish = .stop; break }
            if generated.count >= options.maxTokens || position >= contextSize { break }
            try model.forward(token: next, position: position, cache: cache, scratch: scratch)
            position += 1
            decodeSteps += 1
            next = sampler.sample(scratch.logits(row: 0, vocabularySize: vocab))
        }
        if finish == .length || tokenizer.isEndOfGeneration(next) {
            let (text, _) = stops.feed(decoder.finish())
            let rest = text + stops.finish()
            if !rest.isEmpty { onText(rest) }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(promptTokens: promptIDs.count, generatedIDs: generated, finishReason: finish,
                                promptSeconds: Double(decodeStart - promptStart) / 1e9,
                                generationSeconds: Double(end - decodeStart) / 1e9, decodeSteps: decodeSteps)
    }
}

/// Runs `tokens` (positions start ..< start + count of one sequence) through a model in passes of
/// at most `chunkSize` tokens; the last token's logits end in the scratch's row 0.
func prefill(_ model: any CausalLM, _ tokens: ArraySlice<Int>, start: Int, cache: PagedKVCache, scratch: ForwardScratch,
             chunkSize: Int) throws {
    var position = tokens.startIndex
    while position < tokens.endIndex {
        let end = min(tokens.endIndex, position + chunkSize)
        try tokens[position..<end].withUnsafeBufferPointer {
            try model.forward($0, start: start + position - tokens.startIndex, cache: cache, scratch: scratch, allLogits: false)
        }
        position = end
    }
}
