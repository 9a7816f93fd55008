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

    /// `scoresHeads` for two tokens of one sequence, three heads each (six lanes): prefill's
    /// tokens share every earlier key block, so each key vector is loaded and widened once for six
    /// query rows instead of three. Token t's head h reads its query at
    /// q + t·tokenStride + h·queryStride and writes its scores at scores + (3t + h)·scoreStride.
    @inlinable
    public static func scoresTokenPair<E: KVCacheElement>(queries q: UnsafePointer<Float>, queryStride: Int, tokenStride: Int,
                                                          keyBlock kt: UnsafePointer<E>, blockSize bs: Int, count: Int, headDim hd: Int,
                                                          scale: Float, into scores: UnsafeMutablePointer<Float>, scoreStride: Int) {
        let q1 = q + queryStride, q2 = q + 2 * queryStride
        let r0 = q + tokenStride, r1 = r0 + queryStride, r2 = r0 + 2 * queryStride
        var p0 = 0
        while p0 < count {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>()
            var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>()
            var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>()
            var e0 = SIMD16<Float>(), e1 = SIMD16<Float>(), e2 = SIMD16<Float>()
            let k = kt + p0
            var d = 0
            while d < hd {
                let ka = E.load16(k + d * bs), kb = E.load16(k + (d + 1) * bs)
                a0.addProduct(SIMD16(repeating: q[d]), ka); b0.addProduct(SIMD16(repeating: q[d + 1]), kb)
                a1.addProduct(SIMD16(repeating: q1[d]), ka); b1.addProduct(SIMD16(repeating: q1[d + 1]), kb)
                a2.addProduct(SIMD16(repeating: q2[d]), ka); b2.addProduct(SIMD16(repeating: q2[d + 1]), kb)
                c0.addProduct(SIMD16(repeating: r0[d]), ka); e0.addProduct(SIMD16(repeating: r0[d + 1]), kb)
                c1.addProduct(SIMD16(repeating: r1[d]), ka); e1.addProduct(SIMD16(repeating: r1[d + 1]), kb)
                c2.addProduct(SIMD16(repeating: r2[d]), ka); e2.addProduct(SIMD16(repeating: r2[d + 1]), kb)
                d += 2
            }
            let m = min(16, count - p0), s = scores + p0
            storeScores((a0 + b0) * scale, s, m)
            storeScores((a1 + b1) * scale, s + scoreStride, m)
            storeScores((a2 + b2) * scale, s + 2 * scoreStride, m)
            storeScores((c0 + e0) * scale, s + 3 * scoreStride, m)
            storeScores((c1 + e1) * scale, s + 4 * scoreStride, m)
            storeScores((c2 + e2) * scale, s + 5 * scoreStride, m)
            p0 += 16
        }
    }

    /// `accumulateHeads` for two tokens of one sequence, three heads each (head dimension 64):
    /// weights of token t's head h at w + (3t + h)·weightStride, its output at
    /// out + t·outTokenStride + h·outStride. 24 accumulators and the 4 value vectors fit the 32
    /// registers of AVX-512 (elsewhere the compiler spills some; the arithmetic is the same).
    @inlinable
    public static func accumulateTokenPair<E: KVCacheElement>(weights w: UnsafePointer<Float>, weightStride: Int, values: UnsafePointer<E>,
                                                              stride: Int, count: Int, into out: UnsafeMutablePointer<Float>,
                                                              outStride: Int, outTokenStride: Int) {
        @inline(__always) func row(_ o: UnsafeMutablePointer<Float>) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
            (load(o), load(o + 16), load(o + 32), load(o + 48))
        }
        let o0 = out, o1 = out + outStride, o2 = out + 2 * outStride
        let t0 = out + outTokenStride, t1 = t0 + outStride, t2 = t0 + 2 * outStride
        var (x00, x01, x02, x03) = row(o0), (x10, x11, x12, x13) = row(o1), (x20, x21, x22, x23) = row(o2)
        var (y00, y01, y02, y03) = row(t0), (y10, y11, y12, y13) = row(t1), (y20, y21, y22, y23) = row(t2)
        for p in 0..<count {
            let v = values + p * stride
            let v0 = E.load16(v), v1 = E.load16(v + 16), v2 = E.load16(v + 32), v3 = E.load16(v + 48)
            var c = SIMD16<Float>(repeating: w[p])
            x00.addProduct(c, v0); x01.addProduct(c, v1); x02.addProduct(c, v2); x03.addProduct(c, v3)
            c = SIMD16<Float>(repeating: w[p + weightStride])
            x10.addProduct(c, v0); x11.addProduct(c, v1); x12.addProduct(c, v2); x13.addProduct(c, v3)
            c = SIMD16<Float>(repeating: w[p + 2 * weightStride])
            x20.addProduct(c, v0); x21.addProduct(c, v1); x22.addProduct(c, v2); x23.addProduct(c, v3)
            c = SIMD16<Float>(repeating: w[p + 3 * weightStride])
            y00.addProduct(c, v0); y01.addProduct(c, v1); y02.addProduct(c, v2); y03.addProduct(c, v3)
            c = SIMD16<Float>(repeating: w[p + 4 * weightStride])
            y10.addProduct(c, v0); y11.addProduct(c, v1); y12.addProduct(c, v2); y13.addProduct(c, v3)
            c = SIMD16<Float>(repeating: w[p + 5 * weightStride])
            y20.addProduct(c, v0); y21.addProduct(c, v1); y22.addProduct(c, v2); y23.addProduct(c, v3)
        }
        store(x00, o0); store(x01, o0 + 16); store(x02, o0 + 32); store(x03, o0 + 48)
        store(x10, o1); store(x11, o1 + 16); store(x12, o1 + 32); store(x13, o1 + 48)
        store(x20, o2); store(x21, o2 + 16); store(x22, o2 + 32); store(x23, o2 + 48)
        store(y00, t0); store(y01, t0 + 16); store(y02, t0 + 32); store(y03, t0 + 48)
        store(y10, t1); store(y11, t1 + 16); store(y12, t1 + 32); store(y13, t1 + 48)
        store(y20, t2); store(y21, t2 + 16); store(y22, t2 + 32); store(y23, t2 + 48)
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
