import Foundation

/// Norms, activations and softmax over contiguous F32 rows.
public enum Elementwise {
    /// out = x / sqrt(mean(x²) + eps) ⊙ weight. `out` may alias `x`.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, count n: Int,
                               epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        var ss: Float = 0
        for i in 0..<n { ss += x[i] * x[i] }
        let scale = 1 / (ss / Float(n) + epsilon).squareRoot()
        for i in 0..<n { out[i] = x[i] * scale * weight[i] }
    }

    /// In-place softmax of `n` values (max-subtracted for stability), 16 lanes at a time with
    /// `exp16`: a scalar `expf` per attention score was most of a long-context prefill's softmax.
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        // The maximum 16 lanes at a time: a scalar `max` chain compiles to one compare and masked
        // move per element, each waiting for the last (it cost as much as scoring the positions).
        var i = 0
        var lanes = SIMD16<Float>(repeating: -.infinity)
        while i + 16 <= n { lanes = pointwiseMax(lanes, load(x + i)); i += 16 }
        var maxv = lanes.max()
        while i < n { maxv = max(maxv, x[i]); i += 1 }
        var sum: Float = 0
        i = 0
        var sums = SIMD16<Float>()
        while i + 16 <= n {
            let e = exp16(load(x + i) - SIMD16(repeating: maxv))
            store(e, x + i)
            sums += e
            i += 16
        }
        sum = sums.sum()
        while i < n { let e = exp1(x[i] - maxv); x[i] = e; sum += e; i += 1 }
        let inv = 1 / sum
        for i in 0..<n { x[i] *= inv }
    }

    /// gate ← silu(gate) ⊙ up: the SwiGLU gate of the feed-forward block.
    @inlinable
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let g = load(gate + i)
            store(g / (1 + exp16(-g)) * load(up + i), gate + i)
            i += 16
        }
        while i < n { let g = gate[i]; gate[i] = g / (1 + exp1(-g)) * up[i]; i += 1 }
    }

    /// gate ← gelu(gate) ⊙ up with GELU's tanh approximation (Gemma's GeGLU, as llama.cpp's
    /// `ggml_gelu`): gelu(g) = g/2·(1 + tanh(√(2/π)·(g + 0.044715·g³))), and 1 + tanh(y) = 2 − 2/(e²ʸ + 1).
    @inlinable
    public static func geGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
        let c: Float = 0.7978845608028654, a: Float = 0.044715
        var i = 0
        while i + 16 <= n {
            let g = load(gate + i)
            let y = SIMD16<Float>(repeating: 2 * c) * (g + SIMD16(repeating: a) * g * g * g)
            let onePlusTanh = SIMD16<Float>(repeating: 2) - SIMD16(repeating: 2) / (exp16(y) + SIMD16(repeating: 1))
            store(SIMD16<Float>(repeating: 0.5) * g * onePlusTanh * load(up + i), gate + i)
            i += 16
        }
        while i < n {
            let g = gate[i]
            gate[i] = 0.5 * g * (2 - 2 / (exp1(2 * c * (g + a * g * g * g)) + 1)) * up[i]
            i += 1
        }
    }

    /// eˣ in 16 lanes (Cephes' expf: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for eʳ,
    /// 2ⁿ built in the exponent bits), within 2 ulp of `expf` for x in [−87, 88]; x is clamped to
    /// that range (e⁻⁸⁷ ≈ 1.6e−38 stands for 0). Only same-width operations and bit casts: Swift's
    /// generic SIMD conversions compile to out-of-line calls. Unfused multiply-adds, so `exp1`
    /// computes every lane's value exactly.
    @inlinable @inline(__always)
    public static func exp16(_ v: SIMD16<Float>) -> SIMD16<Float> {
        let x = pointwiseMin(pointwiseMax(v, SIMD16(repeating: -87)), SIMD16(repeating: 88))
        // Round x·log2(e) to the nearest integer with the 1.5·2²³ trick: the float n and its bits.
        let shifted = x * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4
        var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let e = p * (r * r) + r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return e * unsafeBitCast(exponent, to: SIMD16<Float>.self)
    }

    /// One lane of `exp16`, for the tails of rows.
    @inlinable @inline(__always)
    public static func exp1(_ v: Float) -> Float {
        let x = min(max(v, -87), 88)
        let shifted = x * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        let e = p * (r * r) + r + 1
        let exponent = (Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000 &+ 127) &<< 23
        return e * Float(bitPattern: UInt32(bitPattern: exponent))
    }

    @inlinable @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }

    /// y += x
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}
