import Testing
import Quant
import LLMBase

@Suite struct BlockLayoutTests {
    @Test func blockSizesMatchGGUF() {
        #expect(MemoryLayout<BlockQ8_0>.size == 34)
        #expect(MemoryLayout<BlockQ8_0>.stride == 34)
        #expect(MemoryLayout<BlockQ4_0>.size == 18)
        #expect(MemoryLayout<BlockQ4_0>.stride == 18)
        #expect(MemoryLayout<BlockQ4_1>.size == 20)
        #expect(MemoryLayout<BlockQ4_1>.stride == 20)
        #expect(Q8_0.blockBytes == 34 && Q4_0.blockBytes == 18 && Q4_1.blockBytes == 20)
    }

    /// Dequantizing hand-built bytes gives the values of GGUF's definitions.
    @Test func dequantizeKnownBlocks() {
        // Q4_1: d = 0.5 (0x3800), m = -1.0 (0xBC00), nibble j in low half, 15-j in high half.
        var q41: [UInt8] = [0x00, 0x38, 0x00, 0xBC]
        for j in 0..<16 { q41.append(UInt8(j) | UInt8(15 - j) << 4) }
        var out = [Float](repeating: 0, count: 32)
        q41.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Q4_1.dequantize(src.baseAddress!, into: $0.baseAddress!, count: 32) } }
        for j in 0..<16 {
            #expect(out[j] == 0.5 * Float(j) - 1)
            #expect(out[j + 16] == 0.5 * Float(15 - j) - 1)
        }
        // Q4_0: d = 2.0 (0x4000), nibble 8 → 0, nibble 0 → -16.
        var q40: [UInt8] = [0x00, 0x40]
        for _ in 0..<16 { q40.append(0x08) }
        q40.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Q4_0.dequantize(src.baseAddress!, into: $0.baseAddress!, count: 32) } }
        #expect(out[0...15].allSatisfy { $0 == 0 })
        #expect(out[16...31].allSatisfy { $0 == -16 })
        // Q8_0: d = 0.25 (0x3400), qs = -16...15.
        var q80: [UInt8] = [0x00, 0x34]
        for i in 0..<32 { q80.append(UInt8(bitPattern: Int8(i - 16))) }
        q80.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Q8_0.dequantize(src.baseAddress!, into: $0.baseAddress!, count: 32) } }
        for i in 0..<32 { #expect(out[i] == 0.25 * Float(i - 16)) }
    }

    /// Round trip error of the reference quantizers stays within half a quantization step.
    @Test(arguments: [WeightEncoding.q8_0, .q4_0, .q4_1])
    func quantizeRoundTrip(_ encoding: WeightEncoding) {
        var rng = SystemRandomNumberGenerator()
        let n = 256
        let x = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
        var blocks = [UInt8](repeating: 0, count: n / 32 * encoding.blockBytes)
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in
            blocks.withUnsafeMutableBytes { bp in
                switch encoding {
                case .q8_0: Q8_0.quantize(xp.baseAddress!, into: bp.baseAddress!, count: n)
                case .q4_0: Q4_0.quantize(xp.baseAddress!, into: bp.baseAddress!, count: n)
                default: Q4_1.quantize(xp.baseAddress!, into: bp.baseAddress!, count: n)
                }
            }
        }
        blocks.withUnsafeBytes { bp in y.withUnsafeMutableBufferPointer { dequantize(encoding, bp.baseAddress!, into: $0.baseAddress!, count: n) } }
        // Error budget per format, in quantization steps over values in [-3, 3]: round to nearest is
        // half a step; Q4_0 maps the largest magnitude to -8, so the other sign's extreme can be
        // clamped at +7 and lose up to a whole step.
        let budget: Float
        switch encoding {
        case .q8_0: budget = 0.5 * 3.0 / 127
        case .q4_0: budget = 1.0 * 3.0 / 8
        default: budget = 0.5 * 6.0 / 15
        }
        for i in 0..<n { #expect(abs(x[i] - y[i]) <= budget * 1.01 + 1e-3, "element \(i)") }
    }

    @Test func halfConversionRoundTrips() {
        for bits: UInt16 in [0x0000, 0x8000, 0x3C00, 0xBC00, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x7C00, 0x3555] {
            #expect(halfBitsFromFloat(floatFromHalfBits(bits)) == bits)
        }
        #expect(floatFromHalfBits(0x3C00) == 1)
        #expect(floatFromHalfBits(0x0001) == Float(1) / 16_777_216)
        #expect(halfBitsFromFloat(65520) == 0x7C00)
    }
}
