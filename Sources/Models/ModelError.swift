import GGUF
import Quant

/// Problems found when turning a parsed GGUF file into a runnable model. Each names the tensor or
/// key at fault and the byte offset of its record in the file.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// `supported`: the registered architectures (`ModelLoader`).
    case unsupportedArchitecture(String, offset: Int, supported: [String] = [])
    case missingKey(String)
    case invalidHyperparameter(key: String, value: Int, reason: String, offset: Int)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], found: [Int], offset: Int)
    case unsupportedTensorType(tensor: String, type: GGMLType, offset: Int)
    case unexpectedTensor(String, reason: String, offset: Int)
    /// A tensor in the file that the architecture does not use: a file with weights nothing reads
    /// (Llama 3's `rope_freqs`, a vision tower) would run with the wrong numbers, so it is refused.
    case unclaimedTensor(String, architecture: String, offset: Int)
    case contextTooLong(requested: Int, maximum: Int)
    case tooManyTokens(count: Int, capacity: Int)
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case tooManySequences(count: Int, capacity: Int)
    case positionOutsideBlocks(position: Int, blocks: Int, blockSize: Int)
    case blockOutOfRange(block: Int, blockCount: Int)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let arch, let offset, let supported):
            return "model error at byte \(offset): architecture '\(arch)' is not supported (supported: \(supported.joined(separator: ", ")))"
        case .missingKey(let key):
            return "model error: required metadata key '\(key)' is missing"
        case .invalidHyperparameter(let key, let value, let reason, let offset):
            return "model error at byte \(offset): \(key) = \(value) \(reason)"
        case .missingTensor(let name):
            return "model error: required tensor '\(name)' is missing"
        case .shapeMismatch(let name, let expected, let found, let offset):
            return "model error at byte \(offset): tensor '\(name)' has shape \(found), the hyper-parameters require \(expected)"
        case .unsupportedTensorType(let name, let type, let offset):
            return "model error at byte \(offset): tensor '\(name)' has type \(type), which Swiftlet cannot load (supported: \(WeightEncoding.supportedList))"
        case .unexpectedTensor(let name, let reason, let offset):
            return "model error at byte \(offset): tensor '\(name)' \(reason)"
        case .unclaimedTensor(let name, let arch, let offset):
            return "model error at byte \(offset): tensor '\(name)' is not used by Swiftlet's '\(arch)' architecture; refusing to run a model with weights it would ignore"
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
