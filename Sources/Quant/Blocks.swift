import LLMBase

// Quant blocks with GGUF's exact byte layout (ggml-common.h). 32 weights per block; `d` is the scale
// and `m` the minimum, both IEEE half floats stored as raw bits. The layouts are pinned by a test
// (size == stride == GGUF's block bytes), so a view over mapped file bytes reads them in place.
//
//   Q8_0  (34 bytes): | d:f16 | qs: 32 × i8                 |   x[i] = d·qs[i]
//   Q4_0  (18 bytes): | d:f16 | qs: 16 × u8 (two nibbles)    |   x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8)
//   Q4_1  (20 bytes): | d:f16 | m:f16 | qs: 16 × u8          |   x[j] = d·lo(qs[j]) + m,   x[j+16] = d·hi(qs[j]) + m

public typealias Bytes16 = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
public typealias Int8x32 = (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8)

public struct BlockQ8_0 {
    public var d: UInt16
    public var qs: Int8x32
}

public struct BlockQ4_0 {
    public var d: UInt16
    public var qs: Bytes16
}

public struct BlockQ4_1 {
    public var d: UInt16
    public var m: UInt16
    public var qs: Bytes16
}

/// A block-quantized format: its block type, and a scalar dequantizer and reference quantizer of
/// one row. Used through generics (`some QuantFormat.Type` / `<F: QuantFormat>`), never as an existential.
public protocol QuantFormat {
    associatedtype Block
    /// Weights per block.
    static var blockSize: Int { get }
    /// Bytes per block in the file.
    static var blockBytes: Int { get }
    /// Dequantizes `count` weights (a whole number of blocks) from `blocks` into `out`.
    static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int)
    /// Round-to-nearest quantization of `count` floats (GGUF's `quantize_row_*_ref`).
    static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int)
}

extension QuantFormat {
    public static var blockBytes: Int { MemoryLayout<Block>.stride }
    public static var blockSize: Int { 32 }
}
