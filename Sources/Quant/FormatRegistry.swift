import LLMBase

/// Storage types a weight may have, numbered as GGUF numbers its tensor types (ggml's `ggml_type`),
/// so `WeightEncoding(rawValue: ggmlType)` is the whole mapping from a file's tensor type.
public enum WeightEncoding: UInt32, Sendable, Equatable, Hashable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// The format type of this encoding: the one switch over formats. Everything else (block
    /// sizes, dequantization, the matmul's kernel) asks the type, through generics.
    public var format: any BlockFormat.Type {
        switch self {
        case .f32: return F32.self
        case .f16: return F16.self
        case .bf16: return BF16.self
        case .q8_0: return Q8_0.self
        case .q4_0: return Q4_0.self
        case .q4_1: return Q4_1.self
        case .q5_0: return Q5_0.self
        case .q5_1: return Q5_1.self
        case .q2_K: return Q2_K.self
        case .q3_K: return Q3_K.self
        case .q4_K: return Q4_K.self
        case .q5_K: return Q5_K.self
        case .q6_K: return Q6_K.self
        }
    }

    /// The integer dot kernels of this encoding, or nil for the plain floats and for Q2_K / Q3_K.
    public var dotFormat: (any DotFormat.Type)? { format as? any DotFormat.Type }

    /// F16 and BF16: kept in the file and multiplied with F32 activations (`HalfFloatDot`).
    public var isHalfFloat: Bool { self == .f16 || self == .bf16 }

    /// Whether a matrix in this encoding stays in its encoding in memory (all but Q2_K and Q3_K,
    /// which have no kernels and are converted to F32 at load).
    public var keptInEncoding: Bool { dotFormat != nil || isHalfFloat || self == .f32 }

    /// Elements per block and bytes per block.
    public var blockSize: Int { format.blockSize }
    public var blockBytes: Int { format.blockBytes }

    /// Bytes of one row of `columns` weights (a whole number of blocks).
    public func rowBytes(columns: Int) -> Int { columns / blockSize * blockBytes }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q8_0: return "Q8_0"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        }
    }

    /// Every encoding's name, for error messages.
    public static var supportedList: String { allCases.map(\.description).joined(separator: ", ") }
}

/// Converts `count` elements stored as `encoding` at `source` into F32. `count` must be a whole
/// number of blocks (the GGUF parser guarantees this for tensor rows).
public func dequantize(_ encoding: WeightEncoding, _ source: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
    encoding.format.dequantize(source, into: out, count: count)
}
