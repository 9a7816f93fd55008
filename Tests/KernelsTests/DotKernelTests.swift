import Kernels
import LLMBase
import Quant
import Testing

/// Every fast kernel against its scalar twin, with a named error budget per format.
///
/// Budgets: the integer products are exact in both; the differences come from F32 summation
/// order over blocks and from the half conversion (F16C vs software, both exact), so the budget is
/// relative to the sum of |terms|: 1e-5 for every format.
@Suite struct DotKernelTests {
    static let budget: [GGMLTypeName: Float] = [.q8_0: 1e-5, .q4_0: 1e-5, .q4_1: 1e-5]
    enum GGMLTypeName: String, CaseIterable { case q8_0, q4_0, q4_1 }

    struct Case {
        var weights: [UInt8]
        var values: [Int8]
        var scales: [Float]
        var sums: [Float]
        var rows: Int
        var blocks: Int
        var rowBytes: Int
    }

    static func makeCase(_ format: GGMLTypeName, rows: Int, blocks: Int, seed: UInt64) -> Case {
        var rng = SplitMixForTests(seed)
        let n = blocks * 32
        let w = (0..<(rows * n)).map { _ in rng.float(-1, 1) }
        let x = (0..<n).map { _ in rng.float(-4, 4) }
        let encoding: WeightEncoding = format == .q8_0 ? .q8_0 : (format == .q4_0 ? .q4_0 : .q4_1)
        var weights = [UInt8](repeating: 0, count: rows * blocks * encoding.blockBytes)
        w.withUnsafeBufferPointer { src in
            weights.withUnsafeMutableBytes { dst in
                switch format {
                case .q8_0: Q8_0.quantize(src.baseAddress!, into: dst.baseAddress!, count: rows * n)
                case .q4_0: Q4_0.quantize(src.baseAddress!, into: dst.baseAddress!, count: rows * n)
                case .q4_1: Q4_1.quantize(src.baseAddress!, into: dst.baseAddress!, count: rows * n)
                }
            }
        }
        var values = [Int8](repeating: 0, count: n)
        var scales = [Float](repeating: 0, count: blocks), sums = scales
        quantizeActivations(x, blocks: blocks, values: &values, scales: &scales, sums: &sums)
        return Case(weights: weights, values: values, scales: scales, sums: sums, rows: rows, blocks: blocks,
                    rowBytes: blocks * encoding.blockBytes)
    }

    func fast(_ f: GGMLTypeName, _ w: UnsafeRawPointer, _ x: ActivationRow, _ nb: Int) -> Float {
        switch f {
        case .q8_0: return Dot.dot(Q8_0.self, w, x, blocks: nb)
        case .q4_0: return Dot.dot(Q4_0.self, w, x, blocks: nb)
        case .q4_1: return Dot.dot(Q4_1.self, w, x, blocks: nb)
        }
    }

    func fast4(_ f: GGMLTypeName, _ w: UnsafeRawPointer, _ stride: Int, _ x: ActivationRow, _ nb: Int, _ out: UnsafeMutablePointer<Float>) {
        switch f {
        case .q8_0: Dot.dot4(Q8_0.self, w, rowStride: stride, x, blocks: nb, into: out)
        case .q4_0: Dot.dot4(Q4_0.self, w, rowStride: stride, x, blocks: nb, into: out)
        case .q4_1: Dot.dot4(Q4_1.self, w, rowStride: stride, x, blocks: nb, into: out)
        }
    }

    func scalar(_ f: GGMLTypeName, _ w: UnsafeRawPointer, _ x: ActivationRow, _ nb: Int) -> Float {
        switch f {
        case .q8_0: return Dot.dotScalar(Q8_0.self, w, x, blocks: nb)
        case .q4_0: return Dot.dotScalar(Q4_0.self, w, x, blocks: nb)
        case .q4_1: return Dot.dotScalar(Q4_1.self, w, x, blocks: nb)
        }
    }

    @Test(arguments: GGMLTypeName.allCases, [1, 3, 18, 48])
    func simdMatchesScalarTwin(_ format: GGMLTypeName, blocks: Int) {
        let c = Self.makeCase(format, rows: 8, blocks: blocks, seed: UInt64(blocks))
        c.weights.withUnsafeBytes { w in
            c.values.withUnsafeBufferPointer { v in
                c.scales.withUnsafeBufferPointer { s in
                    c.sums.withUnsafeBufferPointer { m in
                        let x = ActivationRow(values: v.baseAddress!, scales: s.baseAddress!, sums: m.baseAddress!)
                        var four = [Float](repeating: 0, count: 8)
                        four.withUnsafeMutableBufferPointer { out in
                            fast4(format, w.baseAddress!, c.rowBytes, x, blocks, out.baseAddress!)
                            fast4(format, w.baseAddress! + 4 * c.rowBytes, c.rowBytes, x, blocks, out.baseAddress! + 4)
                        }
                        for r in 0..<c.rows {
                            let row = w.baseAddress! + r * c.rowBytes
                            let reference = scalar(format, row, x, blocks)
                            let magnitude = (0..<blocks).reduce(Float(0)) { $0 + abs(s[$1]) * 127 * 32 * 2 }
                            let tolerance = Self.budget[format]! * max(1, magnitude)
                            #expect(abs(fast(format, row, x, blocks) - reference) <= tolerance, "\(format) row \(r)")
                            #expect(abs(four[r] - reference) <= tolerance, "\(format) dot4 row \(r)")
                        }
                    }
                }
            }
        }
    }

    /// The integer kernels approximate the F32 dot product of the dequantized weights within the
    /// activation quantization error (8-bit, ≤ 1/254 of each block's range per element).
    @Test(arguments: GGMLTypeName.allCases)
    func integerDotApproximatesFloatDot(_ format: GGMLTypeName) {
        let blocks = 18
        let c = Self.makeCase(format, rows: 1, blocks: blocks, seed: 99)
        var rng = SplitMixForTests(7)
        let x = (0..<(blocks * 32)).map { _ in rng.float(-4, 4) }
        var wf = [Float](repeating: 0, count: blocks * 32)
        let encoding: WeightEncoding = format == .q8_0 ? .q8_0 : (format == .q4_0 ? .q4_0 : .q4_1)
        c.weights.withUnsafeBytes { w in wf.withUnsafeMutableBufferPointer { dequantize(encoding, w.baseAddress!, into: $0.baseAddress!, count: blocks * 32) } }
        var values = [Int8](repeating: 0, count: blocks * 32)
        var scales = [Float](repeating: 0, count: blocks), sums = scales
        quantizeActivations(x, blocks: blocks, values: &values, scales: &scales, sums: &sums)
        let exact = zip(wf, x).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        let approx = c.weights.withUnsafeBytes { w in
            values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { m in
                fast(format, w.baseAddress!, ActivationRow(values: v.baseAddress!, scales: s.baseAddress!, sums: m.baseAddress!), blocks)
            } } }
        }
        let bound = wf.reduce(Float(0)) { $0 + abs($1) } * 4 / 254 + 1e-3
        #expect(abs(approx - exact) <= bound, "\(approx) vs \(exact)")
    }

    @Test func activationQuantizationRoundTrips() {
        var rng = SplitMixForTests(3)
        let x = (0..<64).map { _ in rng.float(-2, 2) }
        var values = [Int8](repeating: 0, count: 64)
        var scales = [Float](repeating: 0, count: 2), sums = scales
        quantizeActivations(x, blocks: 2, values: &values, scales: &scales, sums: &sums)
        for i in 0..<64 {
            #expect(abs(Float(values[i]) * scales[i / 32] - x[i]) <= scales[i / 32] / 2 + 1e-6)
            #expect(values[i] >= -127)
        }
        for b in 0..<2 {
            let s = values[(b * 32)..<(b * 32 + 32)].reduce(Int32(0)) { $0 + Int32($1) }
            #expect(abs(sums[b] - scales[b] * Float(s)) < 1e-5)
        }
    }
}

/// A tiny deterministic generator for test data.
struct SplitMixForTests {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() >> 40) / 16_777_216 }
}
