import LLMBase

// Plain float tensors (norm weights, small files). They have no integer dot kernels: a weight
// matrix stored this way is converted to F32 at load and multiplied in F32.

public enum F32: BlockFormat {
    public static var encoding: WeightEncoding { .f32 }
    public static var blockSize: Int { 1 }
    public static var blockBytes: Int { 4 }
    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        out.update(from: blocks.assumingMemoryBound(to: Float.self), count: count)
    }
}

/// IEEE half precision.
public enum F16: BlockFormat {
    public static var encoding: WeightEncoding { .f16 }
    public static var blockSize: Int { 1 }
    public static var blockBytes: Int { 2 }
    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = floatFromHalfBits(blocks.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
    }
}

/// bfloat16: the upper half of an F32.
public enum BF16: BlockFormat {
    public static var encoding: WeightEncoding { .bf16 }
    public static var blockSize: Int { 1 }
    public static var blockBytes: Int { 2 }
    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            out[i] = Float(bitPattern: UInt32(blocks.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    }
}
