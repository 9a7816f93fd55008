import GGUF

/// Typed reads of an architecture's `{arch}.*` metadata keys, each error naming the key and the
/// byte offset of its record.
public struct Hyperparameters {
    public let gguf: GGUFFile
    /// `general.architecture`, the prefix of every key read here.
    public let architecture: String

    public init(gguf: GGUFFile, architecture: String) {
        self.gguf = gguf
        self.architecture = architecture
    }

    public func key(_ suffix: String) -> String { "\(architecture).\(suffix)" }
    public func offset(_ suffix: String) -> Int { gguf.value(key(suffix))?.offset ?? 0 }

    /// A positive integer no larger than `limit`, or nil when absent.
    public func positive(_ suffix: String, limit: Int = 1 << 20) throws -> Int? {
        guard let v = try gguf.integer(key(suffix)) else { return nil }
        guard v > 0 else { throw invalid(suffix, v, "must be positive") }
        guard v <= limit else { throw invalid(suffix, v, "is implausibly large (limit \(limit))") }
        return v
    }

    /// A positive integer that must be present.
    public func required(_ suffix: String, limit: Int = 1 << 20) throws -> Int {
        guard let v = try positive(suffix, limit: limit) else { throw ModelError.missingKey(key(suffix)) }
        return v
    }

    /// A finite float, or nil when absent.
    public func float(_ suffix: String) throws -> Float? {
        guard let v = try gguf.float(key(suffix)) else { return nil }
        guard v.isFinite else { throw invalid(suffix, 0, "must be a finite number") }
        return v
    }

    public func string(_ suffix: String) throws -> String? { try gguf.string(key(suffix)) }

    /// A per-layer integer array (`{arch}.attention.sliding_window_pattern` and the like), or nil.
    public func int32Array(_ suffix: String) throws -> [Int32]? { try gguf.int32Array(key(suffix)) }

    public func invalid(_ suffix: String, _ value: Int, _ reason: String) -> ModelError {
        .invalidHyperparameter(key: key(suffix), value: value, reason: reason, offset: offset(suffix))
    }
}
