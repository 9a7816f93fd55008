import Kernels

/// The last step of every architecture: final RMSNorm and the output projection, for the batch's
/// logit tokens only (row r of the scratch's logits is the r-th logit token).
enum Logits {
    static func compute(batch: ForwardBatch, x: UnsafeMutablePointer<Float>, hiddenSize dim: Int, norm: UnsafePointer<Float>,
                        epsilon: Float, output: WeightMatrix, scratch s: ForwardScratch) {
        let rows = batch.logitCount
        guard rows > 0 else { return }
        let xn = s.xNorm.pointer
        for r in 0..<rows {
            Elementwise.rmsNorm(x + batch.logitTokens[r] * dim, weight: norm, count: dim, epsilon: epsilon, into: xn + r * dim)
        }
        s.matmul.multiply(xn, rows: rows, weight: output, into: s.logitStore.pointer)
    }
}
