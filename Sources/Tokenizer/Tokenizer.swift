/// A GGUF model's tokenizer: text ⇄ token ids, as llama.cpp computes them for the same vocabulary.
/// Two kinds (`tokenizer.ggml.model`): GPT-2 style byte-level BPE ("gpt2": SmolLM, Qwen, Llama 3)
/// and SentencePiece ("llama": Gemma, Llama 2), which shares everything here but the encoding of
/// plain text (`SentencePiece`) and the spelling of its tokens ("▁" for a space, `<0xNN>` bytes).
///
/// Immutable after `init`, so one instance is shared by every request and thread; `encode` keeps
/// its per-word cache in a local, not in the instance.
public final class Tokenizer: Sendable {
    /// Token types as numbered in `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
    enum TokenType: Int32 {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// A token matched in the text by its literal spelling before any splitting.
    struct SpecialToken: Sendable {
        let scalars: [Unicode.Scalar]
        let id: Int32
        /// Control (and unknown) tokens are matched only when the caller asks (`parseSpecial`);
        /// user-defined tokens always, as llama.cpp does.
        let needsParseSpecial: Bool
    }

    public enum Kind: String, Sendable { case byteLevelBPE = "gpt2", sentencePiece = "llama" }

    public let kind: Kind
    /// Token texts, in the form the file stores ("Ġthe", "▁the").
    let tokens: [String]
    /// SentencePiece's merge priorities, one per token (empty for byte-level BPE).
    let scores: [Float]
    /// SentencePiece: a "▁" goes before text that starts the input or follows a special token.
    let addSpacePrefix: Bool
    let tokenTypes: [Int32]
    let tokenToID: TokenTable
    let merges: MergeTable
    let preTokenizer: PreTokenizer
    /// Llama 3 looks a whole piece up before merging (`ignore_merges` in llama.cpp and in its tokenizer.json).
    let ignoreMerges: Bool
    /// The token of each single byte (its byte-level scalar, or SentencePiece's `<0xNN>`); -1 when
    /// the vocabulary lacks it.
    let byteTokens: [Int32]
    /// Decoded bytes of every token, flattened: token i is `tokenBytes[tokenByteStart[i]..<tokenByteStart[i + 1]]`.
    let tokenBytes: [UInt8]
    let tokenByteStart: [Int]
    /// Longest first, so that "<|im_start|>" wins over any shorter token that prefixes it.
    let specialTokens: [SpecialToken]
    let endOfGenerationIDs: Set<Int>

    public let bosID: Int?
    public let eosID: Int?
    public let unknownID: Int?
    public let paddingID: Int?
    public let addBOS: Bool
    public let chatTemplate: ChatTemplate?
    /// The template source as stored in the model, also when `chatTemplate` could not read it.
    public let chatTemplateText: String?

    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer from its parts. `tokenTypes` has one entry per token (1 normal,
    /// 3 control, 4 user-defined, …); `merges` are "left right" in rank order; `preTokenizer` is a
    /// `tokenizer.ggml.pre` name such as "smollm".
    public convenience init(tokens: [String], tokenTypes: [Int32], merges: [String], bosID: Int?, eosID: Int?,
                            preTokenizer: String, addBOS: Bool, chatTemplate: String?) throws(TokenizerError) {
        try self.init(tokens: tokens, tokenTypes: tokenTypes, merges: merges,
                      specialIDs: SpecialIDs(bos: bosID, eos: eosID),
                      preTokenizer: preTokenizer, addBOS: addBOS, chatTemplate: chatTemplate, keyOffsets: [:])
    }

    /// Special token ids by the GGUF key they come from.
    struct SpecialIDs {
        var bos: Int? = nil, eos: Int? = nil, unknown: Int? = nil, padding: Int? = nil
        var endOfTurn: Int? = nil, endOfMessage: Int? = nil

        static let keys = (bos: "tokenizer.ggml.bos_token_id", eos: "tokenizer.ggml.eos_token_id",
                           unknown: "tokenizer.ggml.unknown_token_id", padding: "tokenizer.ggml.padding_token_id",
                           endOfTurn: "tokenizer.ggml.eot_token_id", endOfMessage: "tokenizer.ggml.eom_token_id")

        var all: [(key: String, id: Int?)] {
            [(Self.keys.bos, bos), (Self.keys.eos, eos), (Self.keys.unknown, unknown),
             (Self.keys.padding, padding), (Self.keys.endOfTurn, endOfTurn), (Self.keys.endOfMessage, endOfMessage)]
        }
    }

    /// `keyOffsets` gives the byte offset of each GGUF key, for error messages.
    init(tokens: [String], tokenTypes: [Int32], merges: [String], specialIDs: SpecialIDs,
         preTokenizer: String, addBOS: Bool, chatTemplate: String?, keyOffsets: [String: Int],
         kind: Kind = .byteLevelBPE, scores: [Float] = [], addSpacePrefix: Bool = false) throws(TokenizerError) {
        guard !tokens.isEmpty else { throw .emptyVocabulary }
        guard tokenTypes.count == tokens.count else {
            throw .tokenCountMismatch(key: "tokenizer.ggml.token_type", expected: tokens.count, actual: tokenTypes.count)
        }
        for (key, id) in specialIDs.all {
            if let id, !(0..<tokens.count).contains(id) {
                throw .specialTokenOutOfRange(key: key, id: id, vocabularySize: tokens.count, offset: keyOffsets[key])
            }
        }
        guard kind == .byteLevelBPE || scores.count == tokens.count else {
            throw .tokenCountMismatch(key: "tokenizer.ggml.scores", expected: tokens.count, actual: scores.count)
        }
        // SentencePiece has no split pattern: the whole text between special tokens is one piece.
        let pre = try PreTokenizer(name: kind == .sentencePiece ? "default" : preTokenizer)

        // Text → id. On a duplicate text the later id wins, as in llama.cpp's `token_to_id`.
        var tokenToID = TokenTable(minimumCapacity: tokens.count)
        for (i, token) in tokens.enumerated() { tokenToID[token] = Int32(i) }

        var byteTokens = [Int32](repeating: -1, count: 256)
        if kind == .sentencePiece {
            for (i, token) in tokens.enumerated() where TokenType(rawValue: tokenTypes[i]) == .byte {
                if let b = SentencePiece.byteValue(token) { byteTokens[Int(b)] = Int32(i) }
            }
        } else {
            for b in 0..<256 {
                if let id = tokenToID[String(ByteLevel.scalarForByte[b])] { byteTokens[b] = id }
            }
        }

        // Decoded bytes of every token, once, so that decoding and streaming are table lookups.
        // Control, unknown and user-defined tokens are stored as plain text, not byte-level.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count * 6)
        var starts = [Int](repeating: 0, count: tokens.count + 1)
        var specials: [SpecialToken] = []
        for (i, token) in tokens.enumerated() {
            switch TokenType(rawValue: tokenTypes[i]) {
            case .control, .unknown, .userDefined:
                bytes.append(contentsOf: token.utf8)
                if !token.isEmpty {
                    specials.append(SpecialToken(scalars: Array(token.unicodeScalars), id: Int32(i),
                                                 needsParseSpecial: tokenTypes[i] != TokenType.userDefined.rawValue))
                }
            case .byte where kind == .sentencePiece:
                if let b = SentencePiece.byteValue(token) { bytes.append(b) } else { bytes.append(contentsOf: token.utf8) }
            default:
                if kind == .sentencePiece {
                    for scalar in token.unicodeScalars {
                        if scalar == SentencePiece.space { bytes.append(0x20) } else { bytes.append(contentsOf: String(scalar).utf8) }
                    }
                } else {
                    ByteLevel.decode(token, into: &bytes)
                }
            }
            starts[i + 1] = bytes.count
        }
        specials.sort { $0.scalars.count != $1.scalars.count ? $0.scalars.count > $1.scalars.count : $0.id < $1.id }

        // Ends of generation: eos and the chat formats' end-of-turn tokens this vocabulary has.
        var ends = Set([specialIDs.eos, specialIDs.endOfTurn, specialIDs.endOfMessage].compactMap { $0 })
        for text in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>"] {
            if let id = tokenToID[text], TokenType(rawValue: tokenTypes[Int(id)]) == .control { ends.insert(Int(id)) }
        }

        self.kind = kind
        self.tokens = tokens
        self.scores = scores
        self.addSpacePrefix = addSpacePrefix
        self.tokenTypes = tokenTypes
        self.tokenToID = tokenToID
        self.merges = try MergeTable(merges: merges, tokenToID: tokenToID)
        self.preTokenizer = pre
        ignoreMerges = pre == .llama3
        self.byteTokens = byteTokens
        self.tokenBytes = bytes
        self.tokenByteStart = starts
        self.specialTokens = specials
        self.endOfGenerationIDs = ends
        self.bosID = specialIDs.bos
        self.eosID = specialIDs.eos
        self.unknownID = specialIDs.unknown
        self.paddingID = specialIDs.padding
        self.addBOS = addBOS
        self.chatTemplateText = chatTemplate
        self.chatTemplate = chatTemplate.flatMap { ChatTemplate(templateText: $0) }
    }

    // MARK: Ids → text

    /// The raw bytes of one token (empty for an id outside the vocabulary). A token may hold part
    /// of a UTF-8 character; join the bytes of consecutive tokens before making text.
    public func bytes(of id: Int) -> [UInt8] {
        guard id >= 0 && id < tokens.count else { return [] }
        return Array(tokenBytes[tokenByteStart[id]..<tokenByteStart[id + 1]])
    }

    func appendBytes(of id: Int, to out: inout [UInt8]) {
        guard id >= 0 && id < tokens.count else { return }
        out.append(contentsOf: tokenBytes[tokenByteStart[id]..<tokenByteStart[id + 1]])
    }

    /// The text of a sequence of ids. Control tokens give their own text ("<|im_end|>"); ids
    /// outside the vocabulary give nothing; bytes that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int]) -> String {
        var out: [UInt8] = []
        for id in ids { appendBytes(of: id, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The id of a token given in its stored (byte-level) spelling, e.g. "<|im_end|>" or "Ġthe".
    public func id(of token: String) -> Int? {
        tokenToID[token].map(Int.init)
    }

    /// The stored spelling of a token, or nil outside the vocabulary.
    public func token(of id: Int) -> String? {
        id >= 0 && id < tokens.count ? tokens[id] : nil
    }

    /// Ids that are not text: control and user-defined tokens (`<|im_start|>`, `<|fim_prefix|>`,
    /// SentencePiece's `<start_of_turn>`, …) and every end-of-turn id, ascending.
    public var controlTokenIDs: [Int] {
        var ids = Set(endOfGenerationIDs)
        for (id, type) in tokenTypes.enumerated() where type == 3 || type == 4 { ids.insert(id) }
        return ids.sorted()
    }

    /// The end-of-turn ids, ascending.
    public var endOfGenerationIDList: [Int] { endOfGenerationIDs.sorted() }

    /// True for ids that end a turn: eos, the GGUF's eot/eom ids, and `<|im_end|>`,
    /// `<|endoftext|>`, `<|eot_id|>`, `<|eom_id|>`, `<|end|>`, `<end_of_turn>` when they are
    /// control tokens of this vocabulary.
    public func isEndOfGeneration(_ id: Int) -> Bool {
        endOfGenerationIDs.contains(id)
    }
}
