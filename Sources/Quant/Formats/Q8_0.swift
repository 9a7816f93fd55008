import LLMBase

/// INT8 blocks: one half scale per 32 weights.
public enum Q8_0: DotFormat, QuantizableFormat {
    public typealias Block = BlockQ8_0
    public static var blockSize: Int { 32 }
    public static var blockBytes: Int { MemoryLayout<Block>.stride }
    public static var encoding: WeightEncoding { .q8_0 }

    @inlinable public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float { Dot.q8_0(w, x, blocks: nb) }
    @inlinable
    public static func dot4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int, into out: UnsafeMutablePointer<Float>) {
        Dot.q8_0x4(w, rowStride: rowStride, x, blocks: nb, into: out)
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 34
            var isum: Int32 = 0
            for i in 0..<32 { isum += Int32(block.load(fromByteOffset: 2 + i, as: Int8.self)) * Int32(x.values[b * 32 + i]) }
            total += floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * x.scales[b] * Float(isum)
        }
        return total
    }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        let n = count / 32
        for b in 0..<n {
            let block = blocks + b * 34
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            for i in 0..<32 { out[b * 32 + i] = d * Float(qs[i]) }
        }
    }

    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<(count / 32) {
            let x = input + b * 32
            var amax: Float = 0
            for i in 0..<32 { amax = max(amax, abs(x[i])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            let block = blocks + b * 34
            block.storeBytes(of: halfBitsFromFloat(d), toByteOffset: 0, as: UInt16.self)
            for i in 0..<32 {
                block.storeBytes(of: Int8((x[i] * id).rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + i, as: Int8.self)
            }
        }
    }
}
