import Sampling
import Scheduling

public typealias FinishReason = Scheduling.FinishReason

/// What a caller asks the engine for: prompt token ids and how to continue them.
public struct EngineRequest: Sendable {
    public var promptTokens: [Int]
    public var maxTokens: Int
    public var sampling: SamplingParameters
    public var penalties: Penalties
    /// Generation ends before a stop string; the stop string is not part of the output.
    public var stopStrings: [String]
    /// How many most-likely alternatives to report per generated token (0…20); nil: no logprobs.
    public var logprobs: Int?
    /// Keep generating past end-of-generation tokens (benchmarks with a fixed output length).
    public var ignoreEndOfGeneration: Bool
    /// Added to the logits of these token ids before sampling (OpenAI's `logit_bias`; -100 bans a
    /// token, 100 all but forces it). Log-probabilities are reported after the bias.
    public var logitBias: [Int: Float]

    public init(promptTokens: [Int], maxTokens: Int = 64, sampling: SamplingParameters = SamplingParameters(),
                penalties: Penalties = Penalties(), stopStrings: [String] = [], logprobs: Int? = nil,
                ignoreEndOfGeneration: Bool = false, logitBias: [Int: Float] = [:]) {
        self.logitBias = logitBias
        self.promptTokens = promptTokens
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.penalties = penalties
        self.stopStrings = stopStrings
        self.logprobs = logprobs
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
    }

    public static let maxLogprobs = 20
}

/// One generated token as the caller sees it. `text` is what the token completes (possibly "",
/// while a multi-byte character or a possible stop string is held back).
public struct GeneratedToken: Sendable {
    public var id: Int
    public var text: String
    public var logprob: Float?
    public var topLogprobs: [(id: Int, logprob: Float)]

    public init(id: Int, text: String, logprob: Float?, topLogprobs: [(id: Int, logprob: Float)]) {
        self.id = id
        self.text = text
        self.logprob = logprob
        self.topLogprobs = topLogprobs
    }
}

/// Tokens and timings of one finished request, as cost reporting needs them. Times in seconds.
///
///   arrival ──queue──▶ first scheduled ──prefill──▶ first token ──decode──▶ finished
///   └──────────────── time to first token ────────┘
public struct RequestUsage: Sendable, Equatable {
    public var promptTokens = 0
    /// Prompt tokens served from the prefix cache instead of computed.
    public var cachedPromptTokens = 0
    public var generatedTokens = 0
    public var queueSeconds = 0.0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var timeToFirstToken = 0.0
    /// Times the request lost its KV blocks to a newer one and was recomputed.
    public var preemptions = 0
    /// Speculative decoding: draft tokens the target checked, and of them those it kept (each
    /// kept draft is one of `generatedTokens`).
    public var draftTokens = 0
    public var acceptedDraftTokens = 0

    public init() {}

    /// Mean time per output token after the first.
    public var timePerOutputToken: Double { generatedTokens > 1 ? decodeSeconds / Double(generatedTokens - 1) : 0 }
}

public enum EngineEvent: Sendable {
    case token(GeneratedToken)
    /// Text held back (an unfinished character, a possible stop string) released at the end.
    case text(String)
    /// The last event of every stream.
    case finished(FinishReason, RequestUsage)
}

public enum EngineError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case invalidMaxTokens(Int)
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case invalidParameter(String)
    case tooManyLogprobs(Int)
    case shutDown
    /// More requests are waiting for their first step than the caller's limit allows.
    case overloaded(waiting: Int, limit: Int)
    /// The forward pass failed for the request's batch.
    case computeFailed(String)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case .promptTooLong(let n, let ctx): return "the prompt has \(n) tokens; the context holds \(ctx), and at least one must be left to generate"
        case .invalidMaxTokens(let n): return "max tokens must be at least 1, got \(n)"
        case .tokenOutOfRange(let id, let v): return "token id \(id) is outside the vocabulary (0..<\(v))"
        case .invalidParameter(let m): return m
        case .tooManyLogprobs(let n): return "logprobs must be in 0…\(EngineRequest.maxLogprobs), got \(n)"
        case .shutDown: return "the engine is shut down"
        case .overloaded(let waiting, let limit): return "\(waiting) requests are waiting (limit \(limit))"
        case .computeFailed(let m): return "the forward pass failed: \(m)"
        }
    }
}
