import Engine
import Foundation
import Sampling
import Tokenizer

/// Limits applied while reading requests.
public struct RequestLimits: Sendable {
    public var maxBodyBytes = 2 << 20
    /// Upper bound on `n` (choices per request).
    public var maxChoices = 16
    /// Upper bound on `max_tokens` whatever the context (anything above is a client bug).
    public var maxTokensCap = 1 << 20
    public var maxStopStrings = 4
    public var maxTopLogprobs = EngineRequest.maxLogprobs

    public init() {}
}

/// What to compute: one prompt as text, or as token ids.
public enum Prompt: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

/// Sampling and output parameters shared by /v1/completions and /v1/chat/completions, checked.
public struct GenerationParameters: Sendable, Equatable {
    public var maxTokens: Int?
    public var sampling = SamplingParameters()
    public var penalties = Penalties()
    public var stop: [String] = []
    public var n = 1
    public var stream = false
    public var includeUsage = false
    /// vLLM's `ignore_eos`: generate until `max_tokens` or a stop string (benchmarks use it for
    /// fixed output lengths).
    public var ignoreEOS = false
    /// Alternatives per token to report; nil: no logprobs.
    public var logprobs: Int?
    /// Added to these token ids' logits before sampling (`logit_bias`).
    public var logitBias: [Int: Float] = [:]
    /// Completions only: the answer's text starts with the prompt's.
    public var echo = false
    /// `max_tokens` when the request gives none: OpenAI's 16 for completions; nil (up to the end of
    /// the context) for chat.
    public var defaultMaxTokens: Int?

    /// OpenAI's defaults: temperature 1 and a fresh random seed, so that two unseeded requests
    /// sample differently (a request with `seed` repeats itself).
    public init() {
        sampling.temperature = 1
        sampling.seed = UInt64.random(in: .min ... .max)
    }
}

public struct CompletionRequest: Sendable, Equatable {
    public var model: String
    public var prompts: [Prompt]
    public var parameters: GenerationParameters
}

public struct ChatRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var parameters: GenerationParameters
}

public enum RequestParser {
    /// POST /v1/completions. `prompt`: a string, an array of strings, an array of token ids, or an
    /// array of arrays of token ids (one choice set per prompt).
    public static func completion(_ body: Data, limits: RequestLimits = RequestLimits()) throws(APIError) -> CompletionRequest {
        let f = Fields(object: try JSONValue.parseObject(body, limit: limits.maxBodyBytes))
        try SupportedParameters.check(f, chat: false)
        let model = try requiredModel(f)
        guard let prompt = f.value("prompt") else { throw .invalid("'prompt' is required", param: "prompt") }
        let prompts = try parsePrompts(prompt)
        var p = try parameters(f, limits: limits)
        p.defaultMaxTokens = 16
        p.echo = try f.bool("echo") ?? false
        if let best = try f.integer("best_of"), best != p.n {
            // best_of == n asks for nothing more than n choices; more would need ranking by likelihood.
            throw SupportedParameters.unsupported("best_of", "'best_of' other than 'n' (\(best) vs \(p.n)) is not supported: Swiftlet does not rank choices")
        }
        // Completions' `logprobs` is an integer count of alternatives.
        if let n = try f.integer("logprobs") {
            guard n >= 0, n <= limits.maxTopLogprobs else { throw .invalid("'logprobs' must be in 0…\(limits.maxTopLogprobs), got \(n)", param: "logprobs") }
            p.logprobs = n
        }
        if p.echo && p.logprobs != nil {
            throw SupportedParameters.unsupported("echo", "'echo' with 'logprobs' is not supported: Swiftlet does not compute the prompt's log-probabilities")
        }
        return CompletionRequest(model: model, prompts: prompts, parameters: p)
    }

    /// POST /v1/chat/completions. `messages`: objects with `role` (system, user, assistant) and
    /// `content` (a string, or an array of text parts).
    public static func chat(_ body: Data, limits: RequestLimits = RequestLimits()) throws(APIError) -> ChatRequest {
        let f = Fields(object: try JSONValue.parseObject(body, limit: limits.maxBodyBytes))
        try SupportedParameters.check(f, chat: true)
        let model = try requiredModel(f)
        guard let raw = f.value("messages") else { throw .invalid("'messages' is required", param: "messages") }
        guard case .array(let items) = raw else { throw .invalid("'messages' must be an array, got \(raw.typeName)", param: "messages") }
        guard !items.isEmpty else { throw .invalid("'messages' must not be empty", param: "messages") }
        var messages: [ChatMessage] = []
        for (i, item) in items.enumerated() {
            let at = "messages[\(i)]"
            guard case .object(let o) = item else { throw .invalid("'\(at)' must be an object", param: at) }
            let m = Fields(object: o)
            guard let role = try m.string("role") else { throw .invalid("'\(at).role' is required", param: "\(at).role") }
            guard ["system", "user", "assistant", "developer"].contains(role) else {
                throw .invalid("'\(at).role' must be system, user or assistant, got '\(role)'", param: "\(at).role")
            }
            messages.append(ChatMessage(role: role, content: try content(m.value("content"), at: "\(at).content")))
        }
        var p = try parameters(f, limits: limits)
        // Chat's `logprobs` is a boolean, with the count in `top_logprobs`.
        let wantLogprobs = try f.bool("logprobs") ?? false
        let top = try f.integer("top_logprobs")
        if let top, top < 0 || top > limits.maxTopLogprobs {
            throw .invalid("'top_logprobs' must be in 0…\(limits.maxTopLogprobs), got \(top)", param: "top_logprobs")
        }
        if top != nil && !wantLogprobs { throw .invalid("'top_logprobs' needs 'logprobs' set to true", param: "top_logprobs") }
        p.logprobs = wantLogprobs ? (top ?? 0) : nil
        return ChatRequest(model: model, messages: messages, parameters: p)
    }

    private static func requiredModel(_ f: Fields) throws(APIError) -> String {
        guard let model = try f.string("model") else { throw .invalid("'model' is required", param: "model") }
        return model
    }

    private static func parsePrompts(_ v: JSONValue) throws(APIError) -> [Prompt] {
        let bad = APIError.invalid("'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays", param: "prompt")
        switch v {
        case .string(let s):
            guard !s.isEmpty else { throw .invalid("'prompt' must not be empty", param: "prompt") }
            return [.text(s)]
        case .array(let items):
            guard let first = items.first else { throw .invalid("'prompt' must not be empty", param: "prompt") }
            switch first {
            case .number: return [.tokens(try tokenIDs(items, bad: bad))]
            case .string:
                return try items.map { (item) throws(APIError) -> Prompt in
                    guard case .string(let s) = item else { throw bad }
                    guard !s.isEmpty else { throw .invalid("'prompt' must not contain empty strings", param: "prompt") }
                    return .text(s)
                }
            case .array:
                return try items.map { (item) throws(APIError) -> Prompt in
                    guard case .array(let ids) = item, !ids.isEmpty else { throw bad }
                    return .tokens(try tokenIDs(ids, bad: bad))
                }
            default: throw bad
            }
        default: throw bad
        }
    }

    private static func tokenIDs(_ items: [JSONValue], bad: APIError) throws(APIError) -> [Int] {
        try items.map { (item) throws(APIError) -> Int in
            guard case .number(let d) = item, d.rounded() == d, abs(d) < 9.0e15 else { throw bad }
            return Int(d)
        }
    }

    private static func content(_ v: JSONValue?, at param: String) throws(APIError) -> String {
        switch v {
        case .string(let s)?: return s
        case .array(let parts)?:
            // [{"type": "text", "text": "…"}, …]: the text parts joined.
            return try parts.map { (part) throws(APIError) -> String in
                guard case .object(let o) = part, o["type"] == .string("text"), case .string(let t)? = o["text"] else {
                    throw .invalid("'\(param)' parts must be {\"type\": \"text\", \"text\": …}", param: param)
                }
                return t
            }.joined()
        case nil: throw .invalid("'\(param)' is required", param: param)
        case let other?: throw .invalid("'\(param)' must be a string or an array of text parts, got \(other.typeName)", param: param)
        }
    }

    /// The parameters both endpoints share, each range-checked with the parameter named.
    private static func parameters(_ f: Fields, limits: RequestLimits) throws(APIError) -> GenerationParameters {
        var p = GenerationParameters()
        var maxTokens = try f.integer("max_completion_tokens")
        if maxTokens == nil { maxTokens = try f.integer("max_tokens") }
        if let m = maxTokens {
            let name = f.value("max_completion_tokens") != nil ? "max_completion_tokens" : "max_tokens"
            guard m >= 1, m <= limits.maxTokensCap else { throw .invalid("'\(name)' must be in 1…\(limits.maxTokensCap), got \(m)", param: name) }
            p.maxTokens = m
        }
        if let t = try f.number("temperature") {
            guard t.isFinite, t >= 0, t <= 2 else { throw .invalid("'temperature' must be in [0, 2], got \(t)", param: "temperature") }
            p.sampling.temperature = Float(t)
        }
        if let t = try f.number("top_p") {
            guard t.isFinite, t > 0, t <= 1 else { throw .invalid("'top_p' must be in (0, 1], got \(t)", param: "top_p") }
            p.sampling.topP = Float(t)
        }
        if let k = try f.integer("top_k") {
            guard k >= -1 else { throw .invalid("'top_k' must be -1 (off) or more, got \(k)", param: "top_k") }
            p.sampling.topK = max(k, 0)
        }
        if let m = try f.number("min_p") {
            guard m.isFinite, m >= 0, m <= 1 else { throw .invalid("'min_p' must be in [0, 1], got \(m)", param: "min_p") }
            p.sampling.minP = Float(m)
        }
        for (key, path) in [("frequency_penalty", \Penalties.frequency), ("presence_penalty", \Penalties.presence)] {
            if let v = try f.number(key) {
                guard v.isFinite, v >= -2, v <= 2 else { throw .invalid("'\(key)' must be in [-2, 2], got \(v)", param: key) }
                p.penalties[keyPath: path] = Float(v)
            }
        }
        if let r = try f.number("repetition_penalty") {
            guard r.isFinite, r > 0, r <= 2 else { throw .invalid("'repetition_penalty' must be in (0, 2], got \(r)", param: "repetition_penalty") }
            p.penalties.repetition = Float(r)
        }
        if let s = try f.integer("seed") { p.sampling.seed = UInt64(bitPattern: Int64(s)) }
        p.logitBias = try logitBias(f)
        if let n = try f.integer("n") {
            guard n >= 1, n <= limits.maxChoices else { throw .invalid("'n' must be in 1…\(limits.maxChoices), got \(n)", param: "n") }
            p.n = n
        }
        switch f.value("stop") {
        case nil: break
        case .string(let s)?: p.stop = [s]
        case .array(let items)?:
            p.stop = try items.map { (item) throws(APIError) -> String in
                guard case .string(let s) = item else { throw .invalid("'stop' must be a string or an array of strings", param: "stop") }
                return s
            }
        case let other?: throw .invalid("'stop' must be a string or an array of strings, got \(other.typeName)", param: "stop")
        }
        guard p.stop.count <= limits.maxStopStrings else { throw .invalid("'stop' holds at most \(limits.maxStopStrings) strings, got \(p.stop.count)", param: "stop") }
        guard !p.stop.contains("") else { throw .invalid("'stop' must not contain an empty string", param: "stop") }
        p.stream = try f.bool("stream") ?? false
        p.ignoreEOS = try f.bool("ignore_eos") ?? false
        switch f.value("stream_options") {
        case nil: break
        case .object(let o)?: p.includeUsage = try Fields(object: o).bool("include_usage") ?? false
        case let other?: throw .invalid("'stream_options' must be an object, got \(other.typeName)", param: "stream_options")
        }
        return p
    }
}

extension RequestParser {
    /// `logit_bias`: an object from token ids (as strings) to a bias in [-100, 100]; at most 300.
    static func logitBias(_ f: Fields) throws(APIError) -> [Int: Float] {
        guard let v = f.value("logit_bias") else { return [:] }
        guard case .object(let o) = v else { throw .invalid("'logit_bias' must be an object from token ids to numbers, got \(v.typeName)", param: "logit_bias") }
        guard o.count <= 300 else { throw .invalid("'logit_bias' holds at most 300 tokens, got \(o.count)", param: "logit_bias") }
        var bias: [Int: Float] = [:]
        for (key, value) in o {
            guard let id = Int(key), id >= 0 else { throw .invalid("'logit_bias' keys must be token ids, got '\(key)'", param: "logit_bias") }
            guard case .number(let b) = value, b.isFinite, b >= -100, b <= 100 else {
                throw .invalid("'logit_bias' values must be numbers in [-100, 100]; token \(key) has \(value)", param: "logit_bias")
            }
            bias[id] = Float(b)
        }
        return bias
    }
}

extension GenerationParameters {
    /// The engine request for one prompt of `promptTokens`: token ids inside the vocabulary, the
    /// prompt inside the context with room for at least one token, and prompt + `max_tokens`
    /// inside the context. Without `max_tokens`: `defaultMaxTokens` (no more than fits), else up to
    /// the end of the context.
    public func engineRequest(promptTokens: [Int], contextSize: Int, vocabularySize: Int,
                              promptParam: String = "prompt") throws(APIError) -> EngineRequest {
        guard !promptTokens.isEmpty else { throw .invalid("'\(promptParam)' is empty", param: promptParam) }
        if let bad = promptTokens.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .invalid("token id \(bad) in '\(promptParam)' is outside the vocabulary (0…\(vocabularySize - 1))", param: promptParam)
        }
        guard promptTokens.count < contextSize else {
            throw .invalid("the prompt has \(promptTokens.count) tokens; this model's context is \(contextSize) tokens",
                           param: promptParam, code: "context_length_exceeded")
        }
        let room = contextSize - promptTokens.count
        if let m = maxTokens, m > room {
            throw .invalid("the prompt (\(promptTokens.count) tokens) plus 'max_tokens' (\(m)) exceeds the context of \(contextSize) tokens",
                           param: "max_tokens", code: "context_length_exceeded")
        }
        if let bad = logitBias.keys.first(where: { $0 >= vocabularySize }) {
            throw .invalid("token id \(bad) in 'logit_bias' is outside the vocabulary (0…\(vocabularySize - 1))", param: "logit_bias")
        }
        return EngineRequest(promptTokens: promptTokens, maxTokens: maxTokens ?? min(defaultMaxTokens ?? room, room), sampling: sampling,
                             penalties: penalties, stopStrings: stop, logprobs: logprobs, ignoreEndOfGeneration: ignoreEOS,
                             logitBias: logitBias)
    }
}
