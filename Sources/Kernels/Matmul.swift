import CBLAS

/// F32 matrix products over row-major weights as GGUF stores them: a weight of ggml shape
/// [in, out] is `out` rows of `in` contiguous floats.
///
///   x: [n, in]  (n rows of activations)
///   w: [out, in]
///   y: [n, out] = x · wᵀ
public enum Matmul {
    /// y = x · wᵀ for `n` activation rows. One row goes through `sgemv`, more through `sgemm`.
    public static func f32(
        _ x: UnsafePointer<Float>, rows n: Int, inputs k: Int,
        weights w: UnsafePointer<Float>, outputs m: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        if n == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), 1, w, Int32(k), x, 1, 0, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(k),
                        1, x, Int32(k), w, Int32(k), 0, y, Int32(m))
        }
    }

    /// Scalar twin of `f32`: the plain triple loop, accumulating in Double, for tests.
    public static func f32Reference(
        _ x: UnsafePointer<Float>, rows n: Int, inputs k: Int,
        weights w: UnsafePointer<Float>, outputs m: Int,
        into y: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<n {
            for o in 0..<m {
                var acc = 0.0
                for i in 0..<k { acc += Double(x[r * k + i]) * Double(w[o * k + i]) }
                y[r * m + o] = Float(acc)
            }
        }
    }

    /// Sets OpenBLAS's own thread count (its pool is separate from Swiftlet's).
    public static func setBLASThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }
}
