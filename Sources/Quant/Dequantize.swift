import LLMBase

/// Storage types a weight may have in a file, for conversion to F32 at load time.
public enum WeightEncoding: Sendable, Equatable {
    case f32, f16, bf16, q8_0, q4_0, q4_1

    /// Elements per block and bytes per block.
    public var blockSize: Int { switch self { case .f32, .f16, .bf16: return 1; default: return 32 } }
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        }
    }
}

/// Converts `count` elements stored as `encoding` at `source` into F32. `count` must be a whole
/// number of blocks (the GGUF parser guarantees this for tensor rows).
public func dequantize(_ encoding: WeightEncoding, _ source: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
    switch encoding {
    case .f32:
        out.update(from: source.assumingMemoryBound(to: Float.self), count: count)
    case .f16:
        for i in 0..<count { out[i] = floatFromHalfBits(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    case .bf16:
        for i in 0..<count {
            out[i] = Float(bitPattern: UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    case .q8_0: Q8_0.dequantize(source, into: out, count: count)
    case .q4_0: Q4_0.dequantize(source, into: out, count: count)
    case .q4_1: Q4_1.dequantize(source, into: out, count: count)
    }
}
