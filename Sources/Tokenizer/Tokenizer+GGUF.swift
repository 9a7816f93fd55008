import GGUF

extension Tokenizer {
    /// Builds the tokenizer a GGUF model describes in its `tokenizer.*` metadata:
    ///
    /// | key | use |
    /// |---|---|
    /// | `tokenizer.ggml.model` | "gpt2" (byte-level BPE) or "llama" (SentencePiece) |
    /// | `tokenizer.ggml.scores` | SentencePiece: one merge priority per token |
    /// | `tokenizer.ggml.add_space_prefix` | SentencePiece: "▁" before the text; absent = true |
    /// | `tokenizer.ggml.pre` | split pattern ("smollm", "gpt2", "llama-bpe", …); absent = "default" |
    /// | `tokenizer.ggml.tokens` | token texts, in byte-level form |
    /// | `tokenizer.ggml.token_type` | one per token; absent = all normal |
    /// | `tokenizer.ggml.merges` | byte-level BPE: "left right", in rank order |
    /// | `tokenizer.ggml.{bos,eos,unknown,padding,eot,eom}_token_id` | optional; must be < vocabulary size |
    /// | `tokenizer.ggml.add_bos_token` | absent = false (true for Llama-3-style pre-tokenizers) |
    /// | `tokenizer.chat_template` | optional Jinja text, recognized by `ChatTemplate` |
    ///
    /// Throws `GGUFError` when a key has the wrong type, `TokenizerError` when the tokenizer it
    /// describes is incomplete, inconsistent or not supported.
    public convenience init(gguf: GGUFFile) throws {
        let modelKey = "tokenizer.ggml.model"
        guard let model = try gguf.string(modelKey) else { throw TokenizerError.missingKey(modelKey) }
        guard let kind = Kind(rawValue: model) else { throw TokenizerError.unsupportedModel(model) }

        let tokensKey = "tokenizer.ggml.tokens"
        guard let tokens = try gguf.stringArray(tokensKey) else { throw TokenizerError.missingKey(tokensKey) }
        // Counted here rather than by the accessor so the mismatch is a TokenizerError naming both counts.
        let tokenTypes = try gguf.int32Array("tokenizer.ggml.token_type")
            ?? [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        let mergesKey = "tokenizer.ggml.merges", scoresKey = "tokenizer.ggml.scores"
        let merges: [String], scores: [Float]
        switch kind {
        case .byteLevelBPE:
            guard let m = try gguf.stringArray(mergesKey) else { throw TokenizerError.missingKey(mergesKey) }
            (merges, scores) = (m, [])
        case .sentencePiece:
            guard let s = try gguf.float32Array(scoresKey) else { throw TokenizerError.missingKey(scoresKey) }
            (merges, scores) = ([], s)
        }
        let pre = try gguf.string("tokenizer.ggml.pre") ?? "default"

        let keys = SpecialIDs.keys
        var ids = SpecialIDs()
        ids.bos = try gguf.integer(keys.bos)
        ids.eos = try gguf.integer(keys.eos)
        ids.unknown = try gguf.integer(keys.unknown)
        ids.padding = try gguf.integer(keys.padding)
        ids.endOfTurn = try gguf.integer(keys.endOfTurn)
        ids.endOfMessage = try gguf.integer(keys.endOfMessage)
        var offsets: [String: Int] = [:]
        for (key, _) in ids.all { offsets[key] = gguf.value(key)?.offset }

        // llama.cpp adds BOS by default for SentencePiece and the Llama 3 family; the key overrides.
        var defaultAddBOS = false
        if kind == .sentencePiece || (try? PreTokenizer(name: pre)) == .llama3 { defaultAddBOS = true }
        let addBOS = try gguf.bool("tokenizer.ggml.add_bos_token") ?? defaultAddBOS

        try self.init(tokens: tokens, tokenTypes: tokenTypes, merges: merges, specialIDs: ids,
                      preTokenizer: pre, addBOS: addBOS,
                      chatTemplate: try gguf.string("tokenizer.chat_template"), keyOffsets: offsets,
                      kind: kind, scores: scores,
                      addSpacePrefix: try gguf.bool("tokenizer.ggml.add_space_prefix") ?? (kind == .sentencePiece))
    }
}
