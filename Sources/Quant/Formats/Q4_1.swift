import LLMBase

/// INT4 blocks, asymmetric: half scale and half minimum per 32 weights.
public enum Q4_1: DotFormat, QuantizableFormat {
    public typealias Block = BlockQ4_1
    public static var blockSize: Int { 32 }
    public static var blockBytes: Int { MemoryLayout<Block>.stride }
    public static var encoding: WeightEncoding { .q4_1 }

    @inlinable public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float { Dot.q4_1(w, x, blocks: nb) }
    @inlinable
    public static func dot4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int, into out: UnsafeMutablePointer<Float>) {
        Dot.q4_1x4(w, rowStride: rowStride, x, blocks: nb, into: out)
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 20
            var isum: Int32 = 0
            for i in 0..<32 {
                let byte = block.load(fromByteOffset: 4 + i % 16, as: UInt8.self)
                isum += Int32(i < 16 ? byte & 0x0F : byte >> 4) * Int32(x.values[b * 32 + i])
            }
            total += floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * x.scales[b] * Float(isum)
                + floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]
        }
        return total
    }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 32) {
            let block = blocks + b * 20
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let m = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 32
            for j in 0..<16 {
                y[j] = d * Float(qs[j] & 0x0F) + m
                y[j + 16] = d * Float(qs[j] >> 4) + m
            }
        }
    }

    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<(count / 32) {
            let x = input + b * 32
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for i in 0..<32 { lo = min(lo, x[i]); hi = max(hi, x[i]) }
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            let block = blocks + b * 20
            block.storeBytes(of: halfBitsFromFloat(d), toByteOffset: 0, as: UInt16.self)
            block.storeBytes(of: halfBitsFromFloat(lo), toByteOffset: 2, as: UInt16.self)
            for j in 0..<16 {
                let q0 = min(15, UInt8(truncatingIfNeeded: Int((x[j] - lo) * id + 0.5)))
                let q1 = min(15, UInt8(truncatingIfNeeded: Int((x[j + 16] - lo) * id + 0.5)))
                block.storeBytes(of: q0 | (q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    }
}
