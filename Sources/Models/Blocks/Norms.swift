import Kernels

/// The row-wise steps of every architecture: the embedding lookup, RMSNorm over rows and over each
/// head of a row (Qwen3's and Gemma 3's q/k norms), residual additions and biases.
enum Norms {
    /// x[i] = the embedding row of the batch's token i (dequantized), times `scale` when given
    /// (Gemma's √hidden).
    static func embed(_ batch: ForwardBatch, _ embedding: WeightMatrix, into x: UnsafeMutablePointer<Float>,
                      scale: Float? = nil, pool: ComputePool) {
        let dim = embedding.columns
        pool.forEachRow(batch.tokenCount) { i in
            embedding.dequantizeRows(batch.tokens[i], count: 1, into: x + i * dim)
            if let scale { for j in 0..<dim { x[i * dim + j] *= scale } }
        }
    }

    /// out[i] = rmsNorm(x[i]) ⊙ weight for rows 0..<n of `width` floats. `out` may alias `x`.
    static func rows(_ x: UnsafePointer<Float>, _ n: Int, width: Int, weight: UnsafePointer<Float>, epsilon: Float,
                     into out: UnsafeMutablePointer<Float>, pool: ComputePool) {
        pool.forEachRow(n) { i in Elementwise.rmsNorm(x + i * width, weight: weight, count: width, epsilon: epsilon, into: out + i * width) }
    }

    /// Each of the `heads` heads of `headDim` floats in rows 0..<n, normed in place with one
    /// shared weight of `headDim` floats.
    static func perHead(_ x: UnsafeMutablePointer<Float>, _ n: Int, heads: Int, headDim: Int, weight: UnsafePointer<Float>,
                        epsilon: Float, pool: ComputePool) {
        pool.forEachRow(n) { i in
            for h in 0..<heads {
                let p = x + (i * heads + h) * headDim
                Elementwise.rmsNorm(p, weight: weight, count: headDim, epsilon: epsilon, into: p)
            }
        }
    }

    /// y[i] += x[i] for rows 0..<n (the residual connection).
    static func addRows(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int, width: Int, pool: ComputePool) {
        pool.forEachRow(n) { i in Elementwise.add(x + i * width, into: y + i * width, count: width) }
    }

    /// x[i] += bias for rows 0..<n (Qwen2's Q/K/V biases).
    static func addBias(_ bias: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, _ n: Int, width: Int, pool: ComputePool) {
        pool.forEachRow(n) { i in Elementwise.add(bias, into: x + i * width, count: width) }
    }
}
