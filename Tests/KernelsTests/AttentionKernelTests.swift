import Kernels
import Testing

/// The grouped attention kernels (several query heads per key/value block) against the one-head
/// scalar twins, head by head, for full and partial blocks, on both cache element types.
@Suite struct AttentionKernelTests {
    @Test(arguments: [1, 2, 3, 4], [16, 5, 1])
    func groupedKernelsMatchScalarTwins(heads: Int, count: Int) {
        check(heads: heads, count: count, element: Float.self)
    }

    @Test(arguments: [1, 3, 4], [16, 5])
    func groupedKernelsMatchScalarTwinsOnHalves(heads: Int, count: Int) {
        check(heads: heads, count: count, element: Half.self)
    }

    /// Two tokens × three heads against the one-head scalar twins, lane by lane.
    @Test(arguments: [16, 7])
    func tokenPairKernelsMatchScalarTwins(count: Int) {
        let hd = 64, bs = 16, ctx = 40, qDim = 5 * hd
        var rng = SplitMixForTests(UInt64(count))
        let queries = (0..<(2 * qDim)).map { _ in rng.float(-1, 1) }           // two tokens, heads at hd apart
        let keys = (0..<(hd * bs)).map { _ in Half.rounding(rng.float(-1, 1)) }
        let values = (0..<(bs * 3 * hd)).map { _ in Half.rounding(rng.float(-1, 1)) }
        var scores = [Float](repeating: .nan, count: 6 * ctx)
        AttentionKernels.scoresTokenPair(queries: queries, queryStride: hd, tokenStride: qDim, keyBlock: keys, blockSize: bs,
                                         count: count, headDim: hd, scale: 0.125, into: &scores, scoreStride: ctx)
        var out = (0..<(2 * qDim)).map { _ in rng.float(-1, 1) }
        let before = out
        out.withUnsafeMutableBufferPointer { o in
            AttentionKernels.accumulateTokenPair(weights: scores, weightStride: ctx, values: values, stride: 3 * hd, count: count,
                                                 into: o.baseAddress!, outStride: hd, outTokenStride: qDim)
        }
        for t in 0..<2 {
            for h in 0..<3 {
                let lane = 3 * t + h, q = t * qDim + h * hd
                var expected = [Float](repeating: 0, count: count)
                queries.withUnsafeBufferPointer { qs in
                    AttentionKernels.scoresScalar(query: qs.baseAddress! + q, keyBlock: keys, blockSize: bs, count: count,
                                                  headDim: hd, scale: 0.125, into: &expected)
                }
                for p in 0..<count { #expect(abs(scores[lane * ctx + p] - expected[p]) <= 1e-5, "t \(t) h \(h) p \(p)") }
                var expectedOut = Array(before[q..<(q + hd)])
                scores.withUnsafeBufferPointer { s in
                    AttentionKernels.accumulateScalar(weights: s.baseAddress! + lane * ctx, values: values, stride: 3 * hd,
                                                      count: count, headDim: hd, into: &expectedOut)
                }
                for d in 0..<hd { #expect(abs(out[q + d] - expectedOut[d]) <= 1e-5, "t \(t) h \(h) d \(d)") }
            }
            // Heads 3 and 4 of each token (not in the group) are untouched.
            for d in (t * qDim + 3 * hd)..<((t + 1) * qDim) { #expect(out[d] == before[d]) }
        }
    }

    /// The one-head kernels (any head size that is a multiple of 16) on halves against their twins.
    @Test(arguments: [64, 32, 48])
    func oneHeadKernelsMatchScalarTwinsOnHalves(headDim hd: Int) {
        let bs = 16, count = 11
        var rng = SplitMixForTests(UInt64(hd))
        let q = (0..<hd).map { _ in rng.float(-1, 1) }
        let keys = (0..<(hd * bs)).map { _ in Half.rounding(rng.float(-1, 1)) }
        let values = (0..<(bs * hd)).map { _ in Half.rounding(rng.float(-1, 1)) }
        var scores = [Float](repeating: 0, count: bs), expected = scores
        AttentionKernels.scores(query: q, keyBlock: keys, blockSize: bs, count: count, headDim: hd, scale: 0.5, into: &scores)
        AttentionKernels.scoresScalar(query: q, keyBlock: keys, blockSize: bs, count: count, headDim: hd, scale: 0.5, into: &expected)
        for p in 0..<count { #expect(abs(scores[p] - expected[p]) <= 1e-5, "p \(p)") }
        var out = [Float](repeating: 0.25, count: hd), expectedOut = out
        AttentionKernels.accumulate(weights: scores, values: values, stride: hd, count: count, headDim: hd, into: &out)
        AttentionKernels.accumulateScalar(weights: scores, values: values, stride: hd, count: count, headDim: hd, into: &expectedOut)
        for d in 0..<hd { #expect(abs(out[d] - expectedOut[d]) <= 1e-5, "d \(d)") }
    }

    /// Storing rounds to the nearest half; widening is exact (IEEE binary16, ties to even).
    @Test func halvesRoundToNearestAndWidenExactly() {
        #expect(Half.rounding(1).bits == 0x3C00)
        #expect(Half.rounding(-2.5).bits == 0xC100)
        #expect(Half.rounding(1 + 1.0 / 2048).bits == 0x3C00)            // tie → even
        #expect(Half.rounding(1 + 3.0 / 2048).bits == 0x3C02)            // tie → even (up)
        #expect(Half.rounding(70000).bits == 0x7C00)                     // overflow → infinity
        var rng = SplitMixForTests(7)
        var halves = (0..<16).map { _ in Half.rounding(rng.float(-8, 8)) }
        let wide = halves.withUnsafeMutableBufferPointer { Half.load16($0.baseAddress!) }
        for i in 0..<16 {
            #expect(wide[i] == Half.widen(halves[i]))
            #expect(Half.rounding(wide[i]) == halves[i])
        }
    }

    private func check<E: KVCacheElement>(heads: Int, count: Int, element: E.Type) {
        let hd = 64, bs = 16, ctx = 40
        var rng = SplitMixForTests(UInt64(heads * 100 + count))
        let queries = (0..<(4 * hd)).map { _ in rng.float(-1, 1) }
        let keys = (0..<(hd * bs)).map { _ in E.rounding(rng.float(-1, 1)) }            // transposed block
        let values = (0..<(bs * 3 * hd)).map { _ in E.rounding(rng.float(-1, 1)) }      // stride 3·hd (kvDim)
        var scores = [Float](repeating: .nan, count: 4 * ctx)
        AttentionKernels.scoresHeads(queries: queries, queryStride: hd, heads: heads, keyBlock: keys, blockSize: bs, count: count,
                                     headDim: hd, scale: 0.125, into: &scores, scoreStride: ctx)
        var out = (0..<(4 * hd)).map { _ in rng.float(-1, 1) }
        var expectedOut = out
        out.withUnsafeMutableBufferPointer { o in
            AttentionKernels.accumulateHeads(weights: scores, weightStride: ctx, heads: heads, values: values, stride: 3 * hd,
                                             count: count, into: o.baseAddress!, outStride: hd)
        }
        for h in 0..<heads {
            var expected = [Float](repeating: 0, count: count)
            queries.withUnsafeBufferPointer { q in
                AttentionKernels.scoresScalar(query: q.baseAddress! + h * hd, keyBlock: keys, blockSize: bs, count: count,
                                              headDim: hd, scale: 0.125, into: &expected)
            }
            for p in 0..<count { #expect(abs(scores[h * ctx + p] - expected[p]) <= 1e-5, "heads \(heads) h \(h) p \(p)") }
            expectedOut.withUnsafeMutableBufferPointer { o in
                scores.withUnsafeBufferPointer { s in
                    AttentionKernels.accumulateScalar(weights: s.baseAddress! + h * ctx, values: values, stride: 3 * hd, count: count,
                                                      headDim: hd, into: o.baseAddress! + h * hd)
                }
            }
            for d in 0..<hd { #expect(abs(out[h * hd + d] - expectedOut[h * hd + d]) <= 1e-5, "heads \(heads) h \(h) d \(d)") }
        }
        // Heads beyond `heads` are untouched.
        for h in heads..<4 { for p in 0..<count { #expect(scores[h * ctx + p].isNaN) } }
    }
}
