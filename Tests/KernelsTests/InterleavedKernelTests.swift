import Kernels
import LLMBase
import Quant
import Testing

/// The interleaved layout and its kernels: the repack keeps every weight (dequantizing a row from
/// the interleaved copy gives the file's row exactly), the scalar twin equals the block-by-block
/// scalar dot product on the file's layout, and the fast kernels (VNNI where built) equal the
/// scalar twin within the same named budget as the other dot kernels (`DotKernelTests.budget`):
/// the integer sums are exact in both, only F32 summation order differs.
@Suite struct InterleavedKernelTests {
    typealias Format = DotKernelTests.GGMLTypeName

    static func encoding(_ f: Format) -> WeightEncoding { f == .q8_0 ? .q8_0 : (f == .q4_0 ? .q4_0 : .q4_1) }

    @Test func tileSizesAreEightBlocks() {
        for e in [WeightEncoding.q8_0, .q4_0, .q4_1] { #expect(InterleavedLayout.tileBytes(e) == 8 * e.blockBytes) }
        #expect(InterleavedLayout.tileBytes(.f32) == nil)
        #expect(!InterleavedLayout.supports(.q4_0, rows: 12, columns: 64))
        #expect(InterleavedLayout.supports(.q4_0, rows: 16, columns: 64))
    }

    @Test(arguments: Format.allCases)
    func repackKeepsEveryWeight(_ format: Format) {
        let rows = 24, blocks = 5
        let c = DotKernelTests.makeCase(format, rows: rows, blocks: blocks, seed: 7)
        let e = Self.encoding(format)
        var packed = [UInt8](repeating: 0, count: InterleavedLayout.byteCount(e, rows: rows, columns: blocks * 32))
        #expect(packed.count == c.weights.count)
        c.weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { dst in
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: c.rowBytes, groups: 0..<(rows / 8), columns: blocks * 32, into: dst.baseAddress!)
            }
            for r in 0..<rows {
                var expected = [Float](repeating: 0, count: blocks * 32), got = expected
                dequantize(e, src.baseAddress! + r * c.rowBytes, into: &expected, count: blocks * 32)
                packed.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: blocks * 32, into: &got) }
                #expect(got == expected, "\(format) row \(r)")
            }
        }
    }

    /// Σ over blocks of |dw·dx|·Σ(|q| + 128)·|x| + |mw·sx|: bounds every intermediate of either
    /// kernel (the Q8_0 kernel sums weights offset by 128), hence their F32 rounding.
    static func termBound(_ e: WeightEncoding, _ w: UnsafeRawPointer, _ x: ActivationRow, _ blocks: Int) -> Float {
        var total: Float = 0
        for b in 0..<blocks {
            let block = w + b * e.blockBytes
            var s: Float = 0
            for i in 0..<32 { s += 255 * abs(Float(x.values[b * 32 + i])) }
            total += abs(halfToFloat(block.loadUnaligned(as: UInt16.self)) * x.scales[b]) * s
            if e == .q4_1 { total += abs(halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]) }
        }
        return max(total, 1e-6)
    }

    /// `rows` activation rows against 24 weight rows (3 groups: a pair of groups in 512-bit vectors
    /// and one alone) of `blocks` blocks.
    @Test(arguments: Format.allCases, [1, 2, 4, 7, 9, 13, 16])
    func kernelsMatchScalarTwins(_ format: Format, rows n: Int) {
        let m = 24, blocks = 18, k = blocks * 32
        let e = Self.encoding(format)
        let weights = DotKernelTests.makeCase(format, rows: m, blocks: blocks, seed: UInt64(n))
        // n activation rows, each quantized as the matmul does.
        var values: [Int8] = [], scales: [Float] = [], sums: [Float] = []
        for i in 0..<n {
            let row = DotKernelTests.makeCase(format, rows: 1, blocks: blocks, seed: UInt64(100 + i))
            values += row.values; scales += row.scales; sums += row.sums
        }
        var packed = [UInt8](repeating: 0, count: weights.weights.count)
        weights.weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { dst in
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: weights.rowBytes, groups: 0..<3, columns: k, into: dst.baseAddress!)
            }
        }
        var fast = [Float](repeating: .nan, count: n * m), twin = fast
        packed.withUnsafeBytes { w in
            InterleavedKernels.multiply(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums,
                                        rows: n, into: &fast, ldy: m)
            InterleavedKernels.multiplyScalar(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums,
                                              rows: n, into: &twin, ldy: m)
        }
        let budget = DotKernelTests.budget[format]!
        weights.weights.withUnsafeBytes { src in
            values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { u in
                for i in 0..<n {
                    let x = ActivationRow(values: v.baseAddress! + i * k, scales: s.baseAddress! + i * blocks, sums: u.baseAddress! + i * blocks)
                    for r in 0..<m {
                        let w = src.baseAddress! + r * weights.rowBytes
                        let plain = DotKernelTests().scalar(format, w, x, blocks)
                        let magnitude = Self.termBound(e, w, x, blocks)
                        #expect(abs(twin[i * m + r] - plain) <= budget * magnitude, "\(format) twin [\(i), \(r)]: \(twin[i * m + r]) vs \(plain)")
                        #expect(abs(fast[i * m + r] - twin[i * m + r]) <= budget * magnitude, "\(format) fast [\(i), \(r)]: \(fast[i * m + r]) vs \(twin[i * m + r])")
                    }
                }
            } } }
        }
    }
}
