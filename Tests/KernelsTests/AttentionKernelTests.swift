import Kernels
import Testing

/// The grouped attention kernels (several query heads per key/value block) against the one-head
/// scalar twins, head by head, for full and partial blocks.
@Suite struct AttentionKernelTests {
    @Test(arguments: [1, 2, 3, 4], [16, 5, 1])
    func groupedKernelsMatchScalarTwins(heads: Int, count: Int) {
        let hd = 64, bs = 16, ctx = 40
        var rng = SplitMixForTests(UInt64(heads * 100 + count))
        let queries = (0..<(4 * hd)).map { _ in rng.float(-1, 1) }
        let keys = (0..<(hd * bs)).map { _ in rng.float(-1, 1) }            // transposed block
        let values = (0..<(bs * 3 * hd)).map { _ in rng.float(-1, 1) }      // stride 3·hd (kvDim)
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
