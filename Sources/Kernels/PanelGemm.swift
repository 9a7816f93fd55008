/// F32 register tiles for batched matmuls against weights dequantized a panel at a time.
///
///   weight panel: 4 rows × k floats (dequantized into per-thread scratch, L1/L2-resident)
///   activations:  n rows × k floats
///   tile:         4 weight rows × 4 activation rows = 16 SIMD16<Float> accumulators; per 16
///                 columns, 4 weight loads + 4 activation loads feed 16 FMAs
///
/// Unlike dequantize + sgemm, nothing is packed: each weight panel is dequantized once per matmul
/// and used by every activation row while it sits in L1, which matters most for the 4…64-row
/// batches of continuous batching, where sgemm's per-call packing of the weights dominated.
/// `k` must be a multiple of 16 (quantized rows are multiples of 32); the horizontal sums happen
/// once per output element.
public enum PanelKernels {
    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

    /// y[c·ldy + r] = Σ_j w[r·k + j] · x[c·ldx + j] for r, c in 0..<4.
    @inlinable
    public static func tile4x4(_ w: UnsafePointer<Float>, k: Int, _ x: UnsafePointer<Float>, ldx: Int,
                               _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a00 = SIMD16<Float>(), a01 = SIMD16<Float>(), a02 = SIMD16<Float>(), a03 = SIMD16<Float>()
        var a10 = SIMD16<Float>(), a11 = SIMD16<Float>(), a12 = SIMD16<Float>(), a13 = SIMD16<Float>()
        var a20 = SIMD16<Float>(), a21 = SIMD16<Float>(), a22 = SIMD16<Float>(), a23 = SIMD16<Float>()
        var a30 = SIMD16<Float>(), a31 = SIMD16<Float>(), a32 = SIMD16<Float>(), a33 = SIMD16<Float>()
        let w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k
        let x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx
        var j = 0
        while j < k {
            let v0 = load(w + j), v1 = load(w1 + j), v2 = load(w2 + j), v3 = load(w3 + j)
            let u0 = load(x + j)
            a00.addProduct(v0, u0); a10.addProduct(v1, u0); a20.addProduct(v2, u0); a30.addProduct(v3, u0)
            let u1 = load(x1 + j)
            a01.addProduct(v0, u1); a11.addProduct(v1, u1); a21.addProduct(v2, u1); a31.addProduct(v3, u1)
            let u2 = load(x2 + j)
            a02.addProduct(v0, u2); a12.addProduct(v1, u2); a22.addProduct(v2, u2); a32.addProduct(v3, u2)
            let u3 = load(x3 + j)
            a03.addProduct(v0, u3); a13.addProduct(v1, u3); a23.addProduct(v2, u3); a33.addProduct(v3, u3)
            j += 16
        }
        y[0] = a00.sum(); y[1] = a10.sum(); y[2] = a20.sum(); y[3] = a30.sum()
        let y1 = y + ldy, y2 = y + 2 * ldy, y3 = y + 3 * ldy
        y1[0] = a01.sum(); y1[1] = a11.sum(); y1[2] = a21.sum(); y1[3] = a31.sum()
        y2[0] = a02.sum(); y2[1] = a12.sum(); y2[2] = a22.sum(); y2[3] = a32.sum()
        y3[0] = a03.sum(); y3[1] = a13.sum(); y3[2] = a23.sum(); y3[3] = a33.sum()
    }

    /// One activation row against the 4-row panel: y[r] = Σ_j w[r·k + j] · x[j].
    @inlinable
    public static func tile4x1(_ w: UnsafePointer<Float>, k: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        let w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k
        var j = 0
        while j < k {
            let u = load(x + j)
            a0.addProduct(load(w + j), u); a1.addProduct(load(w1 + j), u)
            a2.addProduct(load(w2 + j), u); a3.addProduct(load(w3 + j), u)
            j += 16
        }
        y[0] = a0.sum(); y[1] = a1.sum(); y[2] = a2.sum(); y[3] = a3.sum()
    }

    /// Scalar twin: the same products, element by element.
    public static func tileScalar(_ w: UnsafePointer<Float>, rows: Int, k: Int, _ x: UnsafePointer<Float>, ldx: Int,
                                  xRows: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        for c in 0..<xRows {
            for r in 0..<rows {
                var s: Float = 0
                for j in 0..<k { s += w[r * k + j] * x[c * ldx + j] }
                y[c * ldy + r] = s
            }
        }
    }
}
