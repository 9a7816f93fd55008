/// Records of `../shared/reference/*/prompts.jsonl`.
public struct ReferencePrompt: Decodable, Sendable {
    public let prompt: String
    public let promptIDs: [Int]
    public let greedyIDs: [Int]
    public let greedyText: String
    /// For each position of prompt + greedy continuation (but the last): five (id, logit) pairs.
    public let top5: [[TokenLogit]]
    public let top1Margins: [Double]

    enum CodingKeys: String, CodingKey {
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
