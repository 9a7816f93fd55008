/// The two inner loops of attention over one KV block, for one query head:
///
///   scores[p] = scale · q·k_p     keys transposed in the block: k_p[d] at keyBlock[d·blockSize + p]
///   out      += Σ_p w[p] · v_p    values at `stride` floats apart
///
/// With the keys transposed, sixteen positions are scored per vector by broadcast-FMAs over the
/// head dimension (no horizontal sums); the value sum keeps the output in SIMD16 registers for the
/// whole block (64, the common head size, in four). Block sizes that are not multiples of 16 and
/// head sizes that are not multiples of 16 take the scalar twins. Keys and values are read as
/// `E` (the cache's element type, see `KVCacheElement`) and widened to Float as they are loaded.
public enum AttentionKernels {
    @inlinable
    public static func scores<E: KVCacheElement>(query q: UnsafePointer<Float>, keyBlock kt: UnsafePointer<E>, blockSize bs: Int, count: Int,
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
                a0.addProduct(SIMD16(repeating: q[d]), E.load16(k + d * bs))
                a1.addProduct(SIMD16(repeating: q[d + 1]), E.load16(k + (d + 1) * bs))
                a2.addProduct(SIMD16(repeating: q[d + 2]), E.load16(k + (d + 2) * bs))
                a3.addProduct(SIMD16(repeating: q[d + 3]), E.load16(k + (d + 3) * bs))
                d += 4
            }
            while d < hd { a0.addProduct(SIMD16(repeating: q[d]), E.load16(k + d * bs)); d += 1 }
            let r = ((a0 + a1) + (a2 + a3)) * scale
            let m = min(16, count - p0)
            if m == 16 { store(r, scores + p0) } else { for j in 0..<m { scores[p0 + j] = r[j] } }
            p0 += 16
        }
    }

    @inlinable
    public static func accumulate<E: KVCacheElement>(weights w: UnsafePointer<Float>, values: UnsafePointer<E>, stride: Int, count: Int,
                                  headDim hd: Int, into out: UnsafeMutablePointer<Float>) {
        if hd == 64 {
            var o0 = load(out), o1 = load(out + 16), o2 = load(out + 32), o3 = load(out + 48)
            for p in 0..<count {
                let v = values + p * stride, a = SIMD16<Float>(repeating: w[p])
                o0.addProduct(a, E.load16(v))
                o1.addProduct(a, E.load16(v + 16))
                o2.addProduct(a, E.load16(v + 32))
                o3.addProduct(a, E.load16(v + 48))
            }
            store(o0, out); store(o1, out + 16); store(o2, out + 32); store(o3, out + 48)
        } else if hd % 16 == 0 {
            for d in Swift.stride(from: 0, to: hd, by: 16) {
                var o = load(out + d)
                for p in 0..<count { o.addProduct(SIMD16(repeating: w[p]), E.load16(values + p * stride + d)) }
                store(o, out + d)
            }
        } else {
            accumulateScalar(weights: w, values: values, stride: stride, count: count, headDim: hd, into: out)
        }
    }

    /// `scores` for up to four query heads that share one KV head (grouped-query attention): each
    /// key vector is loaded once for all of them, which divides the cache reads of attention by the
    /// group size; two partial sums per head keep the FMA chains in flight. Head h reads its
    /// query at q + h·queryStride and writes its scores at scores + h·scoreStride. Needs
    /// `supportsHeads`. Three heads (SmolLM2's groups: 9 query heads over 3 KV heads) have a loop
    /// of their own; otherwise four lanes run, missing heads (1 or 2) repeating head 0, computing
    /// and storing the same values again.
    @inlinable
    public static func scoresHeads<E: KVCacheElement>(queries q: UnsafePointer<Float>, queryStride: Int, heads: Int, keyBlock kt: UnsafePointer<E>,
                                   blockSize bs: Int, count: Int, headDim hd: Int, scale: Float,
                                   into scores: UnsafeMutablePointer<Float>, scoreStride: Int) {
        if heads == 3 {
            scoresLanes(3, queries: q, queryStride: queryStride, heads: 3, keyBlock: kt, blockSize: bs, count: count,
                        headDim: hd, scale: scale, into: scores, scoreStride: scoreStride)
        } else {
            scoresLanes(4, queries: q, queryStride: queryStride, heads: heads, keyBlock: kt, blockSize: bs, count: count,
                        headDim: hd, scale: scale, into: scores, scoreStride: scoreStride)
        }
    }

    /// `scoresHeads` with `lanes` (3 or 4, a constant once inlined) accumulating heads.
    @inlinable @inline(__always)
    static func scoresLanes<E: KVCacheElement>(_ lanes: Int, queries q: UnsafePointer<Float>, queryStride: Int, heads: Int,
                                               keyBlock kt: UnsafePointer<E>, blockSize bs: Int, count: Int, headDim hd: Int,
                                               scale: Float, into scores: UnsafeMutablePointer<Float>, scoreStride: Int) {
        let q1 = heads > 1 ? q + queryStride : q, q2 = heads > 2 ? q + 2 * queryStride : q, q3 = heads > 3 ? q + 3 * queryStride : q
        let s1 = heads > 1 ? scores + scoreStride : scores, s2 = heads > 2 ? scores + 2 * scoreStride : scores
        let s3 = heads > 3 ? scores + 3 * scoreStride : scores
        var p0 = 0
        while p0 < count {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
            let k = kt + p0
            var d = 0
            while d < hd {
                let ka = E.load16(k + d * bs), kb = E.load16(k + (d + 1) * bs)
                a0.addProduct(SIMD16(repeating: q[d]), ka); b0.addProduct(SIMD16(repeating: q[d + 1]), kb)
                a1.addProduct(SIMD16(repeating: q1[d]), ka); b1.addProduct(SIMD16(repeating: q1[d + 1]), kb)
                a2.addProduct(SIMD16(repeating: q2[d]), ka); b2.addProduct(SIMD16(repeating: q2[d + 1]), kb)
                if lanes > 3 { a3.addProduct(SIMD16(repeating: q3[d]), ka); b3.addProduct(SIMD16(repeating: q3[d + 1]), kb) }
                d += 2
            }
            let m = min(16, count - p0)
            storeScores((a0 + b0) * scale, scores + p0, m)
            storeScores((a1 + b1) * scale, s1 + p0, m)
            storeScores((a2 + b2) * scale, s2 + p0, m)
            if lanes > 3 { storeScores((a3 + b3) * scale, s3 + p0, m) }
            p0 += 16
        }
    }

    /// `accumulate` for up to four query heads sharing one KV head (head dimension 64): each value
    /// vector is loaded once for all. Weights of head h at w + h·weightStride, its output at
    /// out + h·outStride; three heads run three lanes, fewer repeat head 0, as in `scoresHeads`.
    @inlinable
    public static func accumulateHeads<E: KVCacheElement>(weights w: UnsafePointer<Float>, weightStride: Int, heads: Int, values: UnsafePointer<E>,
                                       stride: Int, count: Int, into out: UnsafeMutablePointer<Float>, outStride: Int) {
        if heads == 3 {
            accumulateLanes(3, weights: w, weightStride: weightStride, heads: 3, values: values, stride: stride, count: count,
                            into: out, outStride: outStride)
        } else {
            accumulateLanes(4, weights: w, weightStride: weightStride, heads: heads, values: values, stride: stride, count: count,
                            into: out, outStride: outStride)
        }
    }

    /// `accumulateHeads` with `lanes` (3 or 4, a constant once inlined) accumulating heads.
    @inlinable @inline(__always)
    static func accumulateLanes<E: KVCacheElement>(_ lanes: Int, weights w: UnsafePointer<Float>, weightStride: Int, heads: Int,
                                                   values: UnsafePointer<E>, stride: Int, count: Int,
                                                   into out: UnsafeMutablePointer<Float>, outStride: Int) {
        let w1 = heads > 1 ? w + weightStride : w, w2 = heads > 2 ? w + 2 * weightStride : w, w3 = heads > 3 ? w + 3 * weightStride : w
        let out1 = heads > 1 ? out + outStride : out, out2 = heads > 2 ? out + 2 * outStride : out
        let out3 = heads > 3 ? out + 3 * outStride : out
        var o00 = load(out), o01 = load(out + 16), o02 = load(out + 32), o03 = load(out + 48)
        var o10 = load(out1), o11 = load(out1 + 16), o12 = load(out1 + 32), o13 = load(out1 + 48)
        var o20 = load(out2), o21 = load(out2 + 16), o22 = load(out2 + 32), o23 = load(out2 + 48)
        var o30 = SIMD16<Float>(), o31 = SIMD16<Float>(), o32 = SIMD16<Float>(), o33 = SIMD16<Float>()
        if lanes > 3 { o30 = load(out3); o31 = load(out3 + 16); o32 = load(out3 + 32); o33 = load(out3 + 48) }
        for p in 0..<count {
            let v = values + p * stride
            let v0 = E.load16(v), v1 = E.load16(v + 16), v2 = E.load16(v + 32), v3 = E.load16(v + 48)
            let c0 = SIMD16<Float>(repeating: w[p]), c1 = SIMD16<Float>(repeating: w1[p]), c2 = SIMD16<Float>(repeating: w2[p])
            o00.addProduct(c0, v0); o01.addProduct(c0, v1); o02.addProduct(c0, v2); o03.addProduct(c0, v3)
            o10.addProduct(c1, v0); o11.addProduct(c1, v1); o12.addProduct(c1, v2); o13.addProduct(c1, v3)
            o20.addProduct(c2, v0); o21.addProduct(c2, v1); o22.addProduct(c2, v2); o23.addProduct(c2, v3)
            if lanes > 3 {
                let c3 = SIMD16<Float>(repeating: w3[p])
                o30.addProduct(c3, v0); o31.addProduct(c3, v1); o32.addProduct(c3, v2); o33.addProduct(c3, v3)
            }
        }
        // Stored last to first: a repeated head (same address as head 0) writes the same values.
        if lanes > 3 { store(o30, out3); store(o31, out3 + 16); store(o32, out3 + 32); store(o33, out3 + 48) }
        store(o20, out2); store(o21, out2 + 16); store(o22, out2 + 32); store(o23, out2 + 48)
        store(o10, out1); store(o11, out1 + 16); store(o12, out1 + 32); store(o13, out1 + 48)
        store(o00, out); store(o01, out + 16); store(o02, out + 32); store(o03, out + 48)
    }

    /// Whether the grouped kernels apply: blocks of whole vectors and the common head size.
    @inlinable
    public static func supportsHeads(blockSize bs: Int, headDim hd: Int) -> Bool { bs % 16 == 0 && hd == 64 }

    @inlinable @inline(__always)
    static func storeScores(_ r: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ m: Int) {
        if m == 16 { store(r, p) } else { for j in 0..<m { p[j] = r[j] } }
    }

    public static func scoresScalar<E: KVCacheElement>(query q: UnsafePointer<Float>, keyBlock kt: UnsafePointer<E>, blockSize bs: Int, count: Int,
                                    headDim hd: Int, scale: Float, into scores: UnsafeMutablePointer<Float>) {
        for p in 0..<count {
            var s: Float = 0
            for d in 0..<hd { s += q[d] * E.widen(kt[d * bs + p]) }
            scores[p] = s * scale
        }
    }

    public static func accumulateScalar<E: KVCacheElement>(weights w: UnsafePointer<Float>, values: UnsafePointer<E>, stride: Int, count: Int,
                                        headDim hd: Int, into out: UnsafeMutablePointer<Float>) {
        for p in 0..<count { for d in 0..<hd { out[d] += w[p] * E.widen(values[p * stride + d]) } }
    }

    @inlinable @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    static func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }
}
