import GGUF

/// Problems found when turning a parsed GGUF file into a runnable model. Each names the tensor or
/// key at fault and the byte offset of its record in the file.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String, offset: Int)
    case missingKey(String)
    case invalidHyperparameter(key: String, value: Int, reason: String, offset: Int)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int], offset: Int)
    case unsupportedTensorType(tensor: String, type: GGMLType, offset: Int)
    case unexpectedTensor(String, reason: String, offset: Int)
    case contextTooLong(requested: Int, maximum: Int)
    case tooManyTokens(count: Int, capacity: Int)
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case tooManySequences(count: Int, capacity: Int)
    case positionOutsideBlocks(position: Int, blocks: Int, blockSize: Int)
    case blockOutOfRange(block: Int, blockCount: Int)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let arch, let offset):
            return "model error at byte \(offset): architecture '\(arch)' is not supported (supported: llama)"
        case .missingKey(let key):
            return "model error: required metadata key '\(key)' is missing"
        case .invalidHyperparameter(let key, let value, let reason, let offset):
            return "model error at byte \(offset): \(key) = \(value) \(reason)"
        case .missingTensor(let name):
            return "model error: required tensor '\(name)' is missing"
        case .shapeMismatch(let name, let expected, let found, let offset):
            return "model error at byte \(offset): tensor '\(name)' has shape \(found), the hyper-parameters require \(expected)"
        case .unsupportedTensorType(let name, let type, let offset):
            return "model error at byte \(offset): tensor '\(name)' has type \(type), which Swiftlet cannot load (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)"
        case .unexpectedTensor(let name, let reason, let offset):
            return "model error at byte \(offset): tensor '\(name)' \(reason)"
        case .contextTooLong(let requested, let maximum):
            return "model error: context of \(requested) tokens exceeds the model's \(maximum)"
        case .tooManyTokens(let count, let capacity):
            return "model error: \(count) tokens do not fit (capacity \(capacity))"
        case .tokenOutOfRange(let id, let vocab):
            return "model error: token id \(id) is outside the vocabulary (size \(vocab))"
        case .tooManySequences(let count, let capacity):
            return "model error: \(count) sequences do not fit in one batch (capacity \(capacity))"
        case .positionOutsideBlocks(let position, let blocks, let blockSize):
            return "model error: position \(position) lies beyond the \(blocks) blocks of \(blockSize) positions in its block table"
        case .blockOutOfRange(let block, let count):
            return "model error: KV block \(block) does not exist (the cache has \(count))"
        }
    }
}
