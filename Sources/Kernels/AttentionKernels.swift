/// The two inner loops of attention over cached positions, for one query head:
///
///   scores[p] = scale · q·k_p          (keys at `stride` floats apart: one KV block's slots)
///   out      += Σ_p w[p] · v_p
///
/// Head dimensions that are multiples of 16 keep q and the output in SIMD16 registers for the
/// whole run of positions (64, the common size, in four registers) instead of reloading and
/// re-storing them per position; other sizes take the scalar twins.
public enum AttentionKernels {
    @inlinable
    public static func scores(query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int,
                              headDim hd: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        if hd == 64 {
            let q0 = load(q), q1 = load(q + 16), q2 = load(q + 32), q3 = load(q + 48)
            for p in 0..<count {
                let k = keys + p * stride
                var acc = q0 * load(k)
                acc.addProduct(q1, load(k + 16))
                acc.addProduct(q2, load(k + 32))
                acc.addProduct(q3, load(k + 48))
                scores[p] = acc.sum() * scale
            }
        } else if hd % 16 == 0 {
            for p in 0..<count {
                let k = keys + p * stride
                var acc = SIMD16<Float>()
                for d in Swift.stride(from: 0, to: hd, by: 16) { acc.addProduct(load(q + d), load(k + d)) }
                scores[p] = acc.sum() * scale
            }
        } else {
            scoresScalar(query: q, keys: keys, stride: stride, count: count, headDim: hd, scale: scale, into: scores)
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

    public static func scoresScalar(query q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int,
                                    headDim hd: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        for p in 0..<count {
            var s: Float = 0
            for d in 0..<hd { s += q[d] * keys[p * stride + d] }
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
