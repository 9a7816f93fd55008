import Engine
import Models
import OpenAIAPI
import Tokenizer

/// One model the server answers for: its name in requests, its engine and tokenizer.
public struct ServedModel: Sendable {
    public let name: String
    public let engine: InferenceEngine
    public let tokenizer: Tokenizer
    public let created: Int

    public init(name: String, engine: InferenceEngine, tokenizer: Tokenizer, created: Int = 0) {
        self.name = name
        self.engine = engine
        self.tokenizer = tokenizer
        self.created = created
    }

    var contextSize: Int { engine.contextSize }
    var vocabularySize: Int { engine.model.config.vocabularySize }

    /// Token ids of a completion prompt (text is encoded without special tokens' parsing, as a
    /// user's text should not smuggle control tokens in).
    func tokens(of prompt: Prompt) -> [Int] {
        switch prompt {
        case .text(let s): return tokenizer.encode(s)
        case .tokens(let ids): return ids
        }
    }

    /// A completion prompt as text, for `echo` (token ids decoded).
    func text(of prompt: Prompt) -> String {
        switch prompt {
        case .text(let s): return s
        case .tokens(let ids): return tokenizer.decode(ids)
        }
    }

    /// The chat messages rendered with the model's chat template, then tokenized.
    func tokens(of messages: [ChatMessage]) throws(APIError) -> [Int] {
        guard let template = tokenizer.chatTemplate else {
            throw .invalid("the model '\(name)' has no chat template Swiftlet can render; use /v1/completions", param: "messages")
        }
        return tokenizer.encode(chat: template.segments(messages, addGenerationPrompt: true))
    }
}
