import LLMBase

/// A weight storage format: its block layout and a dequantizer (ggml's `type_traits`). Static
/// requirements only: code is generic over a format and specialized, never called through an
/// existential in a hot loop. `WeightEncoding.format` is the one place that maps an encoding (a
/// GGUF tensor type) to its format type.
public protocol BlockFormat {
    /// The encoding this format reads.
    static var encoding: WeightEncoding { get }
    /// Weights per block (1 for plain floats, 32 for Q4_0…Q8_0, 256 for K-quants).
    static var blockSize: Int { get }
    /// Bytes per block in the file.
    static var blockBytes: Int { get }
    /// Dequantizes `count` weights (a whole number of blocks) from `blocks` into `out`.
    static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int)
}

/// A block format with integer dot kernels against 8-bit activations (`QuantizedActivations`,
/// blocks of 32): weights stay in their file encoding in memory and are multiplied in place.
///
/// `dot` and `dot4` are the fast kernels; `dotReference` is their scalar twin, written element
/// by element from the format's definition, and tests hold them within `dotBudget`.
public protocol DotFormat: BlockFormat {
    /// Σ w·x over `blocks` blocks of this format (blocks × blockSize weights and activations).
    static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float
    /// Four weight rows `rowStride` bytes apart · one activation row, into out[0..<4].
    static func dot4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int, into out: UnsafeMutablePointer<Float>)
    /// The scalar twin of `dot`.
    static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float
    /// Largest allowed |dot − dotReference| relative to Σ|dw·dx·q·x| (float summation order only:
    /// both sum the same integer products).
    static var dotBudget: Float { get }
}

extension DotFormat {
    @inlinable
    public static func dot4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<4 { out[r] = dot(w + r * rowStride, x, blocks: nb) }
    }
    public static var dotBudget: Float { 1e-5 }
}

/// A format with GGUF's reference quantizer (`quantize_row_*_ref`: round-to-nearest for the
/// 32-weight formats, a scale search for the K-quants), which `swiftlet quantize` writes. The
/// output is meant to be byte-identical to llama.cpp's on the same F32 input (without an
/// importance matrix); `Tests/QuantTests/KQuantQuantizeTests` holds it to llama.cpp's bytes.
public protocol QuantizableFormat: BlockFormat {
    /// Quantizes `count` values (a whole number of blocks) from `input` into `blocks`.
    static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int)
}

/// The minimum and scale of a K-quant sub-block, 6 bits each, packed into 12 bytes for 8 sub-blocks
/// (ggml's `get_scale_min_k4`, shared by Q4_K and Q5_K).
@inlinable @inline(__always)
func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
    let b = q.assumingMemoryBound(to: UInt8.self)
    if j < 4 { return (b[j] & 63, b[j + 4] & 63) }
    return ((b[j + 4] & 0x0F) | ((b[j - 4] >> 6) << 4), (b[j + 4] >> 4) | ((b[j] >> 6) << 4))
}
