import Foundation
import LLMBase
import Quant
import Testing

/// Swiftlet's quantizers against llama.cpp's: byte for byte on the rows of
/// `Fixtures/kquant_quantize.json` (llama.cpp's `quantize_row_*_ref` output, written by
/// `scripts/make-kquant-fixtures`), and dequantize(quantize(x)) within a named error bound of x.
@Suite struct KQuantQuantizeTests {
    struct Row: Decodable {
        let name: String
        let count: Int
        let values: String
    }
    struct Fixture: Decodable {
        let rows: [Row]
        let types: [String: [String]]
    }

    static let fixture: Fixture? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/kquant_quantize.json")
        guard let data = try? Data(contentsOf: url) else { return nil }
        return try? JSONDecoder().decode(Fixture.self, from: data)
    }()

    static let quantized: [WeightEncoding] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q5_0, .q5_1]

    static func floats(_ base64: String) -> [Float] {
        let bytes = Data(base64Encoded: base64)!
        return bytes.withUnsafeBytes { raw in (0..<(bytes.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }

    static func quantize(_ x: [Float], _ e: WeightEncoding) -> [UInt8] {
        let format = e.format as! any QuantizableFormat.Type
        var out = [UInt8](repeating: 0xA5, count: e.rowBytes(columns: x.count))
        x.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { format.quantize(src.baseAddress!, into: $0.baseAddress!, count: x.count) } }
        return out
    }

    static func dequantize(_ bytes: [UInt8], _ e: WeightEncoding, count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Quant.dequantize(e, src.baseAddress!, into: $0.baseAddress!, count: count) } }
        return out
    }

    static func rmsError(_ a: [Float], _ b: [Float]) -> Double {
        (zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)).squareRoot()
    }

    @Test func fixtureCoversEveryQuantizer() throws {
        let fixture = try #require(Self.fixture, "Fixtures/kquant_quantize.json is missing or unreadable")
        #expect(fixture.rows.count >= 10)
        #expect(Set(fixture.types.keys) == Set(Self.quantized.map(\.description)))
    }

    /// Every fixture row, quantized by Swiftlet, equals llama.cpp's bytes. On a mismatch the
    /// message says how many bytes differ and compares the two reconstruction errors.
    @Test(arguments: quantized)
    func bytesEqualLlamaCpp(_ e: WeightEncoding) throws {
        let fixture = try #require(Self.fixture)
        let expected = try #require(fixture.types[e.description])
        try #require(expected.count == fixture.rows.count)
        for (row, reference) in zip(fixture.rows, expected) {
            let x = Self.floats(row.values)
            try #require(x.count == row.count)
            let want = [UInt8](Data(base64Encoded: reference)!)
            let got = Self.quantize(x, e)
            if got != want {
                let differing = zip(got, want).filter { $0 != $1 }.count
                let ours = Self.rmsError(Self.dequantize(got, e, count: x.count), x)
                let theirs = Self.rmsError(Self.dequantize(want, e, count: x.count), x)
                Issue.record("\(e) row '\(row.name)': \(differing) of \(want.count) bytes differ; RMS error \(ours) (Swiftlet) vs \(theirs) (llama.cpp)")
            }
        }
    }

    /// Largest RMS(dequantize(quantize(x)) − x) / RMS(x) over eight rows of 1024 N(0, 1) values:
    /// about 1.12 × what these seeded rows measure (Q2_K 0.302, Q3_K 0.156, Q4_K 0.0758,
    /// Q5_K 0.0374, Q6_K 0.0189, Q5_0 0.0453, Q5_1 0.0386), so a format made 13% worse fails
    /// here even where llama.cpp's looser bound below still holds.
    static let relativeErrorBound: [WeightEncoding: Double] = [
        .q2_K: 0.34, .q3_K: 0.175, .q4_K: 0.085, .q5_K: 0.042, .q6_K: 0.021, .q5_0: 0.051, .q5_1: 0.043,
    ]

    /// llama.cpp's own bound (tests/test-quantize-fns.cpp): on 4096 values 0.1 + 2·cos(i),
    /// √Σ(x̂ − x)² / n below 0.0075 for Q2_K, 0.004 for Q3_K and 0.002 for the others.
    static let llamaCppTotalErrorBound: [WeightEncoding: Double] = [
        .q2_K: 0.0075, .q3_K: 0.0040, .q4_K: 0.002, .q5_K: 0.002, .q6_K: 0.002, .q5_0: 0.002, .q5_1: 0.002,
    ]

    @Test(arguments: quantized)
    func roundTripErrorIsBounded(_ e: WeightEncoding) {
        var rng = SplitMix(0x5EED_0000 + UInt64(e.rawValue))
        var worst = 0.0
        for _ in 0..<8 {
            // Box–Muller normal values, 1024 per row (four super-blocks, 32 blocks of 32).
            let x: [Float] = (0..<512).flatMap { _ -> [Float] in
                let u = max(1e-7, rng.float(0, 1)), v = rng.float(0, 1)
                let r = (-2 * log(u)).squareRoot()
                return [r * cos(2 * .pi * v), r * sin(2 * .pi * v)]
            }
            let y = Self.dequantize(Self.quantize(x, e), e, count: x.count)
            let rms = (x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)).squareRoot()
            worst = max(worst, Self.rmsError(y, x) / rms)
        }
        #expect(worst <= Self.relativeErrorBound[e]!, "\(e): relative RMS error \(worst)")

        let n = 4096
        let x = (0..<n).map { 0.1 + 2 * cos(Float($0)) }
        let y = Self.dequantize(Self.quantize(x, e), e, count: n)
        let total = zip(x, y).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot() / Double(n)
        #expect(total < Self.llamaCppTotalErrorBound[e]!, "\(e): llama.cpp's total error \(total)")
    }

    /// A quantizer writes every byte of its blocks (the output buffer starts as 0xA5 filler, so a
    /// byte left unwritten would differ between two runs over differently filled buffers).
    @Test(arguments: quantized)
    func writesEveryByte(_ e: WeightEncoding) {
        var rng = SplitMix(7)
        let x = (0..<512).map { _ in rng.float(-1, 1) }
        let format = e.format as! any QuantizableFormat.Type
        var a = [UInt8](repeating: 0x00, count: e.rowBytes(columns: 512)), b = [UInt8](repeating: 0xFF, count: a.count)
        x.withUnsafeBufferPointer { src in
            a.withUnsafeMutableBytes { format.quantize(src.baseAddress!, into: $0.baseAddress!, count: 512) }
            b.withUnsafeMutableBytes { format.quantize(src.baseAddress!, into: $0.baseAddress!, count: 512) }
        }
        #expect(a == b)
    }
}
