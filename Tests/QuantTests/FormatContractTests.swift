import Foundation
import LLMBase
import Quant
import Testing

/// One contract run over every weight format: its layout pinned to GGUF's, its dequantizer equal
/// to the `gguf` Python package's on the same bytes (`Fixtures/formats.json`, written by
/// `scripts/make-format-fixtures`), its element decoder equal to its dequantizer, and its fast dot
/// kernels equal to their scalar twin within the format's named budget.
@Suite struct FormatContractTests {
    struct Fixture: Decodable {
        let bytes: [UInt8]
        let values: [Float]
    }

    static let fixtures: [String: Fixture] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/formats.json")
        guard let data = try? Data(contentsOf: url),
              let decoded = try? JSONDecoder().decode([String: Fixture].self, from: data) else { return [:] }
        return decoded
    }()

    /// GGUF's block sizes and bytes (ggml-common.h), written out independently of the formats.
    static let ggufLayout: [WeightEncoding: (size: Int, bytes: Int)] = [
        .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q8_0: (32, 34), .q4_0: (32, 18), .q4_1: (32, 20),
        .q5_0: (32, 22), .q5_1: (32, 24), .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144),
        .q5_K: (256, 176), .q6_K: (256, 210),
    ]

    @Test(arguments: WeightEncoding.allCases)
    func layoutIsGGUFs(_ e: WeightEncoding) {
        #expect(e.blockSize == Self.ggufLayout[e]?.size)
        #expect(e.blockBytes == Self.ggufLayout[e]?.bytes)
        #expect(e.format.encoding == e)
    }

    @Test func blockStructsArePacked() {
        #expect(MemoryLayout<BlockQ5_0>.size == 22 && MemoryLayout<BlockQ5_0>.stride == 22)
        #expect(MemoryLayout<BlockQ5_1>.size == 24 && MemoryLayout<BlockQ5_1>.stride == 24)
        #expect(MemoryLayout<BlockQ2_K>.size == 84 && MemoryLayout<BlockQ2_K>.stride == 84)
        #expect(MemoryLayout<BlockQ3_K>.size == 110 && MemoryLayout<BlockQ3_K>.stride == 110)
        #expect(MemoryLayout<BlockQ4_K>.size == 144 && MemoryLayout<BlockQ4_K>.stride == 144)
        #expect(MemoryLayout<BlockQ5_K>.size == 176 && MemoryLayout<BlockQ5_K>.stride == 176)
        #expect(MemoryLayout<BlockQ6_K>.size == 210 && MemoryLayout<BlockQ6_K>.stride == 210)
    }

    /// Every encoding but F32 has a fixture (F32 is a copy).
    @Test(arguments: WeightEncoding.allCases.filter { $0 != .f32 })
    func dequantizeEqualsGGUFPy(_ e: WeightEncoding) throws {
        let fixture = try #require(Self.fixtures[e.description], "Fixtures/formats.json has no \(e)")
        var out = [Float](repeating: .nan, count: fixture.values.count)
        fixture.bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dequantize(e, src.baseAddress!, into: $0.baseAddress!, count: fixture.values.count) }
        }
        for i in 0..<out.count {
            // gguf-py computes in F32 with numpy's order of operations; products of a half scale
            // and small integers differ by at most an ulp or two.
            let tolerance = 1e-6 * max(1, abs(fixture.values[i]))
            if abs(out[i] - fixture.values[i]) > tolerance {
                Issue.record("\(e) weight \(i): \(out[i]), gguf-py \(fixture.values[i])")
                return
            }
        }
    }

    static let elementwise: [WeightEncoding] = [.q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test(arguments: elementwise)
    func elementEqualsDequantize(_ e: WeightEncoding) throws {
        let fixture = try #require(Self.fixtures[e.description])
        let format = try #require(e.format as? any ElementwiseFormat.Type)
        try checkElements(format, fixture)
    }

    func checkElements<F: ElementwiseFormat>(_: F.Type, _ fixture: Fixture) throws {
        fixture.bytes.withUnsafeBytes { raw in
            for b in 0..<(fixture.values.count / F.blockSize) {
                for i in 0..<F.blockSize {
                    let (q, scale, minimum) = F.element(raw.baseAddress! + b * F.blockBytes, i)
                    let expected = fixture.values[b * F.blockSize + i]
                    let got = scale * Float(q) - minimum
                    if abs(got - expected) > 1e-6 * max(1, abs(expected)) {
                        Issue.record("\(F.self) block \(b) weight \(i): element gives \(got), dequantize \(expected)")
                        return
                    }
                }
            }
        }
    }

    static let dotFormats: [WeightEncoding] = WeightEncoding.allCases.filter { $0.dotFormat != nil }

    /// The formats the issue names all have dot kernels; Q2_K and Q3_K are converted at load.
    @Test func dotFormatsAreTheKernelFormats() {
        #expect(Set(Self.dotFormats) == [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K])
    }

    /// `dot` and `dot4` against `dotReference`, within `dotBudget` of Σ|terms|, on the fixture's
    /// random blocks against seeded random activations; and the twin against the product of the
    /// dequantized weights and activations (the twin is the format's definition).
    @Test(arguments: dotFormats)
    func fastDotEqualsTwin(_ e: WeightEncoding) throws {
        let fixture = try #require(Self.fixtures[e.description])
        let format = try #require(e.dotFormat)
        checkDot(format, fixture)
    }

    func checkDot<F: DotFormat>(_: F.Type, _ fixture: Fixture) {
        let blocks = fixture.values.count / F.blockSize, n = blocks * F.blockSize, nb32 = n / 32
        // Four rows: the fixture's blocks in four rotations.
        var rows: [UInt8] = []
        for r in 0..<4 {
            for b in 0..<blocks { rows += fixture.bytes[((b + r) % blocks) * F.blockBytes..<((b + r) % blocks + 1) * F.blockBytes] }
        }
        var rng = SplitMix(UInt64(F.blockBytes))
        let x = (0..<n).map { _ in rng.float(-4, 4) }
        var values = [Int8](repeating: 0, count: n)
        var scales = [Float](repeating: 0, count: nb32), sums = scales
        quantizeActivations(x, blocks: nb32, values: &values, scales: &scales, sums: &sums)
        let rowBytes = blocks * F.blockBytes
        values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { m in
            rows.withUnsafeBytes { w in
                let act = ActivationRow(values: v.baseAddress!, scales: s.baseAddress!, sums: m.baseAddress!)
                var four = [Float](repeating: 0, count: 4)
                four.withUnsafeMutableBufferPointer { F.dot4(w.baseAddress!, rowStride: rowBytes, act, blocks: blocks, into: $0.baseAddress!) }
                var dequantized = [Float](repeating: 0, count: n)
                for r in 0..<4 {
                    let row = w.baseAddress! + r * rowBytes
                    let twin = F.dotReference(row, act, blocks: blocks)
                    dequantized.withUnsafeMutableBufferPointer { F.dequantize(row, into: $0.baseAddress!, count: n) }
                    var exact: Double = 0, magnitude: Double = 0
                    for i in 0..<n {
                        let term = Double(dequantized[i]) * Double(scales[i / 32]) * Double(values[i])
                        exact += term
                        magnitude += abs(term)
                    }
                    let bound = Float(magnitude) * F.dotBudget + 1e-6
                    #expect(abs(F.dot(row, act, blocks: blocks) - twin) <= bound, "\(F.self) row \(r): dot vs twin")
                    #expect(abs(four[r] - twin) <= bound, "\(F.self) row \(r): dot4 vs twin")
                    #expect(abs(Double(twin) - exact) <= magnitude * 1e-5 + 1e-6, "\(F.self) row \(r): twin \(twin) vs dequantized product \(exact)")
                }
            }
        } } }
    }
}

/// A tiny deterministic generator for test data.
struct SplitMix {
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
