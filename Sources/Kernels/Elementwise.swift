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

    /// In-place softmax of `n` values (max-subtracted for stability).
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        var maxv = -Float.infinity
        for i in 0..<n { maxv = max(maxv, x[i]) }
        var sum: Float = 0
        for i in 0..<n { let e = expf(x[i] - maxv); x[i] = e; sum += e }
        let inv = 1 / sum
        for i in 0..<n { x[i] *= inv }
    }

    /// gate ← silu(gate) ⊙ up: the SwiGLU gate of the feed-forward block.
    @inlinable
    public static func swiGLU(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// y += x
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}
