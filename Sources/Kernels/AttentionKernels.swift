/// The two inner loops of attention over one KV block, for one query head:
///
///   scores[p] = scale · q·k_p     keys transposed in the block: k_p[d] at keyBlock[d·blockSize + p]
///   out      += Σ_p w[p] · v_p    values at `stride` floats apart
///
/// With the keys transposed, sixteen positions are scored per vector by broadcast-FMAs over the
/// head dimension (no horizontal sums); the value sum keeps the output in SIMD16 registers for the
/// whole block (64, the common head size, in four). Block sizes that are not multiples of 16 and
/// head sizes that are not multiples of 16 take the scalar twins.
public enum AttentionKernels {
    @inlinable
    public static func scores(query q: UnsafePointer<Float>, keyBlock kt: UnsafePointer<Float>, blockSize bs: Int, count: Int,
                              headDim hd: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        guard bs % 16 == 0 else {
            scoresScalar(query: q, keyBlock: kt, blockSize: bs, count: count, headDim: hd, scale: scale, into: scores)
            return
        }
        var p0 = 0
        while p0 < count {
            // Four partial sums break the FMA dependency chain.
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            let k = kt + p0
            var d = 0
            while d + 4 <= hd {
                a0.addProduct(SIMD16(repeating: q[d]), load(k + d * bs))
                a1.addProduct(SIMD16(repeating: q[d + 1]), load(k + (d + 1) * bs))
                a2.addProduct(SIMD16(repeating: q[d + 2]), load(k + (d + 2) * bs))
                a3.addProduct(SIMD16(repeating: q[d + 3]), load(k + (d + 3) * bs))
                d += 4
            }
            while d < hd { a0.addProduct(SIMD16(repeating: q[d]), load(k + d * bs)); d += 1 }
            let r = ((a0 + a1) + (a2 + a3)) * scale
            let m = min(16, count - p0)
            if m == 16 { store(r, scores + p0) } else { for j in 0..<m { scores[p0 + j] = r[j] } }
            p0 += 16
        }
    }

    @inlinable
    public static func accumulate(weights w: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int,
                                  headDim hd: Int, into out: UnsafeMutablePointer<Float>) {
        if hd == 64 {
            var o0 = load(out), o1 = load(out + 16), o2 = load(out + 32), o3 = load(out + 48)
            for p in 0..<count {
                let v = values + p * stride, a = SIMD16<Float>(repeating: w[p])
                o0.addProduct(a, load(v))
                o1.addProduct(a, load(v + 16))
                o2.addProduct(a, load(v + 32))
                o3.addProduct(a, load(v + 48))
            }
            store(o0, out); store(o1, out + 16); store(o2, out + 32); store(o3, out + 48)
        } else if hd % 16 == 0 {
            for d in Swift.stride(from: 0, to: hd, by: 16) {
                var o = load(out + d)
                for p in 0..<count { o.addProduct(SIMD16(repeating: w[p]), load(values + p * stride + d)) }
                store(o, out + d)
            }
        } else {
            accumulateScalar(weights: w, values: values, stride: stride, count: count, headDim: hd, into: out)
        }
    }

    public static func scoresScalar(query q: UnsafePointer<Float>, keyBlock kt: UnsafePointer<Float>, blockSize bs: Int, count: Int,
                                    headDim hd: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        for p in 0..<count {
            var s: Float = 0
            for d in 0..<hd { s += q[d] * kt[d * bs + p] }
            scores[p] = s * scale
        }
    }

    public static func accumulateScalar(weights w: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int,
                                        headDim hd: Int, into out: UnsafeMutablePointer<Float>) {
        for p in 0..<count { for d in 0..<hd { out[d] += w[p] * values[p * stride + d] } }
    }

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }
}
