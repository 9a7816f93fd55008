/// Records of `../shared/reference/*/prompts.jsonl`.
public struct ReferencePrompt: Decodable, Sendable {
    public let prompt: String
    public let promptIDs: [Int]
    public let greedyIDs: [Int]
    public let greedyText: String
    /// For each position of prompt + greedy continuation (but the last): five (id, logit) pairs.
    public let top5: [[TokenLogit]]
    public let top1Margins: [Double]
    /// Set when `promptIDs` is a chat template rendered for these messages (the other families).
    public let chat: Chat?

    /// `{"messages", "add_generation_prompt"}` in the other families' files; a bare array of
    /// messages (with the generation prompt) in the default model's.
    public struct Chat: Decodable, Sendable {
        public struct Message: Decodable, Sendable { public let role: String; public let content: String }
        public let messages: [Message]
        public let addGenerationPrompt: Bool
        enum CodingKeys: String, CodingKey { case messages, addGenerationPrompt = "add_generation_prompt" }

        public init(from decoder: Decoder) throws {
            if let keyed = try? decoder.container(keyedBy: CodingKeys.self), keyed.contains(.messages) {
                messages = try keyed.decode([Message].self, forKey: .messages)
                addGenerationPrompt = try keyed.decodeIfPresent(Bool.self, forKey: .addGenerationPrompt) ?? true
            } else {
                messages = try [Message](from: decoder)
                addGenerationPrompt = true
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case chat
        case prompt
        case promptIDs = "prompt_ids"
        case greedyIDs = "greedy_ids"
        case greedyText = "greedy_text"
        case top5 = "top5_per_position"
        case top1Margins = "top1_margin_per_position"
    }

    /// The teacher-forced sequence: prompt followed by the greedy continuation.
    public var sequence: [Int] { promptIDs + greedyIDs }
}

/// `[id, logit]` in the reference files.
public struct TokenLogit: Decodable, Sendable {
    public let id: Int
    public let logit: Double

    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        id = try c.decode(Int.self)
        logit = try c.decode(Double.self)
    }
}

/// `../shared/reference/perplexity.json`.
public struct ReferencePerplexity: Decodable, Sendable {
    public struct Entry: Decodable, Sendable { public let ppl: Double; public let nll_per_token: Double }
    public let ctx: Int
    public let tokens: Int
    public let scored: Int
    public let q4_1: Entry
    public let q8_0: Entry
    public let q4_0: Entry
}

/// `{"text", "ids"}` lines of `../shared/reference/*/tokenizer.jsonl`.
public struct ReferenceTokenization: Decodable, Sendable {
    public let text: String
    public let ids: [Int]
}

/// `../shared/reference/<family>/perplexity.json` (Gemma 3 and Qwen2.5, from llama.cpp).
public struct FamilyPerplexity: Decodable, Sendable {
    public let modelFile: String
    public let sha256: String
    public let ctx: Int
    public let maxTokens: Int
    public let addBOS: Bool
    public let tokens: Int
    public let scored: Int
    public let perplexity: Double

    enum CodingKeys: String, CodingKey {
        case modelFile = "model_file", sha256, ctx, maxTokens = "max_tokens", addBOS = "add_bos", tokens, scored, perplexity
    }
}

/// The model families with reference outputs beside the default model: the folder under
/// `../shared/reference` and the file `scripts/fetch-model` puts in `models/`.
public enum ReferenceFamily: String, CaseIterable, Sendable, CustomStringConvertible {
    case gemma3 = "gemma-3-270m"
    case qwen05 = "qwen2.5-coder-0.5b"
    case qwen15 = "qwen2.5-coder-1.5b"

    public var modelFile: String {
        switch self {
        case .gemma3: return "gemma-3-270m-q4_k_m.gguf"
        case .qwen05: return "qwen2.5-coder-0.5b-instruct-awq-q4_k_m.gguf"
        case .qwen15: return "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
        }
    }

    public var description: String { rawValue }
}
