import LLMBase

/// A format whose every weight can be read on its own as scale · q − minimum, for the scalar twins
/// of the dot kernels: the twin decodes element by element, the fast kernel block by block, and
/// tests hold them together (and `element` to `dequantize`).
public protocol ElementwiseFormat: BlockFormat {
    /// Weight i of a block (0..<blockSize): its integer quant, and the scale and minimum of its
    /// sub-block, so that the weight is scale · q − minimum.
    static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float)
}

extension ElementwiseFormat {
    /// Σ w·x element by element: per 16 weights (no format's sub-block is shorter), the integer
    /// sums Σq·x and Σx, then scale·dx·Σq·x − minimum·dx·Σx.
    public static func elementwiseDot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * blockBytes
            var i = 0
            while i < blockSize {
                let a = (b * blockSize + i) / 32
                let (_, scale, minimum) = element(block, i)
                var qx: Int32 = 0, xs: Int32 = 0
                for j in i..<(i + 16) {
                    let xv = Int32(x.values[b * blockSize + j])
                    qx += element(block, j).q * xv
                    xs += xv
                }
                total += scale * x.scales[a] * Float(qx) - minimum * x.scales[a] * Float(xs)
                i += 16
            }
        }
        return total
    }
}
