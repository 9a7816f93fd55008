/// The plain F32 matrix product, for tests of the fast paths:
///
///   x: [n, in]  (n rows of activations)
///   w: [out, in]
///   y: [n, out] = x · wᵀ
public enum Matmul {
    /// The triple loop, accumulating in Double.
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
}
