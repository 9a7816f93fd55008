import LLMBase

/// Activation rows quantized to 8 bits in blocks of 32, once per matmul, for integer dot products
/// against weight blocks. Struct of arrays rather than GGUF's interleaved Q8 blocks, so the SIMD
/// kernels load values, scales and sums with plain strides (activations are never stored):
///
///   values[row·k + i]   Int8    round(x / d) with d = max|x| / 127 over the block (range ±127)
///   scales[row·nb + b]  Float   d
///   sums[row·nb + b]    Float   d · Σ values of the block (the Q4_1 minimum's partner)
public struct QuantizedActivations: ~Copyable {
    public let capacity: Int        // values
    private let valueStore: AlignedBytes
    private let scaleStore: AlignedFloatBuffer
    private let sumStore: AlignedFloatBuffer

    public init(capacity: Int) {
        self.capacity = capacity
        valueStore = AlignedBytes(count: capacity)
        scaleStore = AlignedFloatBuffer(count: capacity / 32 + 1)
        sumStore = AlignedFloatBuffer(count: capacity / 32 + 1)
    }

    public var values: UnsafeMutablePointer<Int8> { valueStore.pointer.assumingMemoryBound(to: Int8.self) }
    public var scales: UnsafeMutablePointer<Float> { scaleStore.pointer }
    public var sums: UnsafeMutablePointer<Float> { sumStore.pointer }
}

/// Quantizes `blocks` blocks of 32 floats from `x` (ggml's quantize_row_q8_1 arithmetic: scale
/// max|x|/127, rounding half away from zero), 16 lanes at a time. Every lane computes what the
/// scalar form computes, so the result is bit-identical to it (`quantizeActivationsScalar`).
@inlinable
public func quantizeActivations(_ x: UnsafePointer<Float>, blocks nb: Int,
                                values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                sums: UnsafeMutablePointer<Float>) {
    for b in 0..<nb {
        let v = UnsafeRawPointer(x + b * 32)
        let lo = v.loadUnaligned(as: SIMD16<Float>.self), hi = v.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        let amax = pointwiseMax(pointwiseMax(lo, -lo), pointwiseMax(hi, -hi)).max()
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        let qlo = roundedToInt32(lo * id), qhi = roundedToInt32(hi * id)
        let q = UnsafeMutableRawPointer(values + b * 32)
        q.storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: qlo), as: SIMD16<Int8>.self)
        q.storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: qhi), toByteOffset: 16, as: SIMD16<Int8>.self)
        scales[b] = d
        sums[b] = d * Float((qlo &+ qhi).wrappedSum())
    }
}

/// Rounds half away from zero (|t| ≤ 127.5) and converts, without Swift's generic SIMD
/// conversions (they compile to out-of-line calls): floor(|t| + 0.49999997) is LLVM's own exact
/// lowering of `round`, and adding 1.5·2²³ turns a small integral float into its integer bits.
@inlinable @inline(__always)
func roundedToInt32(_ t: SIMD16<Float>) -> SIMD16<Int32> {
    let magnitude = (pointwiseMax(t, -t) + 0.49999997).rounded(.down)
    let r = magnitude.replacing(with: -magnitude, where: t .< 0)
    return unsafeBitCast(r + 12_582_912, to: SIMD16<Int32>.self) &- 0x4B40_0000
}

/// The scalar twin of `quantizeActivations`.
public func quantizeActivationsScalar(_ x: UnsafePointer<Float>, blocks nb: Int,
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
