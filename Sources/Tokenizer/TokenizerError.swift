/// Why a tokenizer could not be built. Errors about a GGUF key name the key, and its byte offset
/// in the file when known, so a broken file can be inspected at the right place.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A required `tokenizer.*` key is absent.
    case missingKey(String)
    /// `tokenizer.ggml.model` names a tokenizer this module does not implement.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer (split pattern) this module does not implement.
    case unsupportedPreTokenizer(String)
    /// The token list is empty.
    case emptyVocabulary
    /// An array that must have one entry per token (e.g. `tokenizer.ggml.token_type`) has another length.
    case tokenCountMismatch(key: String, expected: Int, actual: Int)
    /// A special token id (bos, eos, unknown, padding, …) is negative or not below the vocabulary size.
    case specialTokenOutOfRange(key: String, id: Int, vocabularySize: Int, offset: Int?)
    /// A merge is not "left right" with both halves and their concatenation in the vocabulary.
    case malformedMerge(index: Int, merge: String, reason: String)

    public var description: String {
        switch self {
        case .missingKey(let key):
            return "missing tokenizer key \(key)"
        case .unsupportedModel(let name):
            return "unsupported tokenizer model \"\(name)\" (supported: gpt2 byte-level BPE, llama SentencePiece)"
        case .unsupportedPreTokenizer(let name):
            return "unsupported pre-tokenizer \"\(name)\" (supported: gpt2, default, smollm and its "
                + "StarCoder-style relatives, llama3/llama-bpe, qwen2)"
        case .emptyVocabulary:
            return "tokenizer has no tokens"
        case .tokenCountMismatch(let key, let expected, let actual):
            return "\(key) has \(actual) entries, expected one per token (\(expected))"
        case .specialTokenOutOfRange(let key, let id, let size, let offset):
            let at = offset.map { " (key at byte offset \($0))" } ?? ""
            return "\(key) = \(id) is outside the vocabulary of \(size) tokens\(at)"
        case .malformedMerge(let index, let merge, let reason):
            return "malformed merge #\(index) \"\(merge)\": \(reason)"
        }
    }
}
