import LLMBase

/// Activation rows quantized to 8 bits in blocks of 32, once per matmul, for integer dot products
/// against weight blocks. Struct of arrays rather than GGUF's interleaved Q8 blocks, so the SIMD
/// kernels load values, scales and sums with plain strides (activations are never stored):
///
///   values[row·k + i]   Int8    round(x / d) with d = max|x| / 127 over the block (range ±127)
///   scales[row·nb + b]  Float   d
///   sums[row·nb + b]    Float   d · Σ values of the block (the Q4_1 minimum's partner)
///   halfSums[2·(row·nb + b) + h]   d · Σ values of half h of the block (Q6_K's 16-weight
///                       sub-blocks), written by `quantizeActivationsK` only
public struct QuantizedActivations: ~Copyable {
    public let capacity: Int        // values
    private let valueStore: AlignedBytes
    private let scaleStore: AlignedFloatBuffer
    private let sumStore: AlignedFloatBuffer
    private let halfSumStore: AlignedFloatBuffer

    public init(capacity: Int) {
        self.capacity = capacity
        valueStore = AlignedBytes(count: capacity)
        scaleStore = AlignedFloatBuffer(count: capacity / 32 + 1)
        sumStore = AlignedFloatBuffer(count: capacity / 32 + 1)
        halfSumStore = AlignedFloatBuffer(count: capacity / 16 + 1)
    }

    public var values: UnsafeMutablePointer<Int8> { valueStore.pointer.assumingMemoryBound(to: Int8.self) }
    public var scales: UnsafeMutablePointer<Float> { scaleStore.pointer }
    public var sums: UnsafeMutablePointer<Float> { sumStore.pointer }
    public var halfSums: UnsafeMutablePointer<Float> { halfSumStore.pointer }
}

/// Quantizes `blocks` blocks of 32 floats from `x` (ggml's quantize_row_q8_1 arithmetic).
@inlinable
public func quantizeActivations(_ x: UnsafePointer<Float>, blocks nb: Int,
                                values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                sums: UnsafeMutablePointer<Float>) {
    for b in 0..<nb {
        let v = x + b * 32
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(v[i])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        let q = values + b * 32
        var sum: Int32 = 0
        for i in 0..<32 {
            let r = Int32((v[i] * id).rounded(.toNearestOrAwayFromZero))
            q[i] = Int8(truncatingIfNeeded: r)
            sum &+= r
        }
        scales[b] = d
        sums[b] = d * Float(sum)
    }
}

/// Quantizes `superBlocks` blocks of 256 floats with one scale each, as llama.cpp's Q8_K
/// (`quantize_row_q8_K_ref`: the value of largest magnitude maps to −127, rounding to nearest
/// even), the activations llama.cpp multiplies K-quant weights with. Written in the layout of
/// `quantizeActivations`: each of a block's 8 groups of 32 gets the block's scale and its own sum.
///
/// One scale per 256 is coarser than per 32; it is used for K-quant weights so that the logits
/// follow llama.cpp's where its coarser rounding decides a close call (Qwen2.5's first token,
/// whose activations have outliers of ~10⁴, moved a top-1 with a margin of 1.07 otherwise).
@inlinable
public func quantizeActivationsK(_ x: UnsafePointer<Float>, superBlocks nb: Int,
                                 values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                 sums: UnsafeMutablePointer<Float>, halfSums: UnsafeMutablePointer<Float>) {
    for b in 0..<nb {
        let v = x + b * 256
        var amax: Float = 0, signedMax: Float = 0
        for i in 0..<256 where abs(v[i]) > amax { amax = abs(v[i]); signedMax = v[i] }
        let q = values + b * 256
        guard amax != 0 else {
            q.update(repeating: 0, count: 256)
            for g in 0..<8 { scales[b * 8 + g] = 0; sums[b * 8 + g] = 0 }
            (halfSums + 16 * b).update(repeating: 0, count: 16)
            continue
        }
        let iscale = -127 / signedMax
        for g in 0..<8 {
            var half: (Int32, Int32) = (0, 0)
            for i in (g * 32)..<(g * 32 + 32) {
                let r = min(127, Int32((iscale * v[i]).rounded(.toNearestOrEven)))
                q[i] = Int8(truncatingIfNeeded: r)
                if i < g * 32 + 16 { half.0 &+= r } else { half.1 &+= r }
            }
            scales[b * 8 + g] = 1 / iscale
            sums[b * 8 + g] = Float(half.0 &+ half.1) / iscale
            halfSums[16 * b + 2 * g] = Float(half.0) / iscale
            halfSums[16 * b + 2 * g + 1] = Float(half.1) / iscale
        }
    }
}
