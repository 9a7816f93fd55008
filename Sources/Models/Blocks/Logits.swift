import Foundation
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
        if let subset = s.logitSubset, subset.leading < output.rows {
            subsetLogits(subset, rows: rows, xn: xn, output: output, scratch: s)
        } else {
            s.matmul.multiply(xn, rows: rows, weight: output, into: s.logitStore.pointer)
        }
    }

    /// Logits of `subset`'s ids only, −∞ elsewhere. The leading ids go through the usual kernels,
    /// all rows in one multiply that packs them `leading` apart at the start of the store; each row
    /// is then moved to its place, `vocabulary` apart, last row first (a row's place never
    /// overlaps an earlier row's packed logits). Each extra id's weight row, unpacked to F32 once,
    /// is dotted with each row: at most `capacity` (1,024) ids.
    private static func subsetLogits(_ subset: LogitSubset, rows: Int, xn: UnsafeMutablePointer<Float>, output: WeightMatrix,
                                     scratch s: ForwardScratch) {
        let vocabulary = output.rows, dim = output.columns, leading = subset.leading
        let store = s.logitStore.pointer
        s.matmul.multiply(xn, rows: rows, weight: output.rows(0..<leading), into: store)
        for r in stride(from: rows - 1, through: 0, by: -1) {
            let logits = store + r * vocabulary
            if r > 0 { memmove(logits, store + r * leading, leading * MemoryLayout<Float>.stride) }
            (logits + leading).update(repeating: -.infinity, count: vocabulary - leading)
        }
        subset.unpack(from: output)
        let weights = subset.rows.pointer
        for (i, id) in subset.extraIDs.enumerated() {
            for r in 0..<rows { store[r * vocabulary + id] = dot(weights + i * dim, xn + r * dim, count: dim) }
        }
    }

    /// An F32 dot product in 16-wide partial sums (a few hundred per pass: not a hot kernel).
    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var j = 0
        while j + 16 <= n {
            acc.addProduct(UnsafeRawPointer(a + j).loadUnaligned(as: SIMD16<Float>.self),
                           UnsafeRawPointer(b + j).loadUnaligned(as: SIMD16<Float>.self))
            j += 16
        }
        var sum = acc.sum()
        while j < n { sum += a[j] * b[j]; j += 1 }
        return sum
    }
}

extension LogitSubset {
    /// Unpacks the output rows of extra ids added since the last pass.
    func unpack(from output: WeightMatrix) {
        precondition(output.columns == hiddenSize && output.rows == vocabularySize, "logit subset of another model")
        while unpackedCount < extraIDs.count {
            output.dequantizeRows(extraIDs[unpackedCount], count: 1, into: rows.pointer + unpackedCount * hiddenSize)
            unpackedCount += 1
        }
    }
}
