import LLMBase

/// INT4 blocks, symmetric: one half scale per 32 weights, nibbles offset by 8.
public enum Q4_0: DotFormat, QuantizableFormat {
    public typealias Block = BlockQ4_0
    public static var blockSize: Int { 32 }
    public static var blockBytes: Int { MemoryLayout<Block>.stride }
    public static var encoding: WeightEncoding { .q4_0 }

    @inlinable public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float { Dot.q4_0(w, x, blocks: nb) }
    @inlinable
    public static func dot4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int, into out: UnsafeMutablePointer<Float>) {
        Dot.q4_0x4(w, rowStride: rowStride, x, blocks: nb, into: out)
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 18
            var isum: Int32 = 0
            for i in 0..<32 {
                let byte = block.load(fromByteOffset: 2 + i % 16, as: UInt8.self)
                isum += (Int32(i < 16 ? byte & 0x0F : byte >> 4) - 8) * Int32(x.values[b * 32 + i])
            }
            total += floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * x.scales[b] * Float(isum)
        }
        return total
    }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 32) {
            let block = blocks + b * 18
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 32
            for j in 0..<16 {
                y[j] = d * Float(Int(qs[j] & 0x0F) - 8)
                y[j + 16] = d * Float(Int(qs[j] >> 4) - 8)
            }
        }
    }

    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<(count / 32) {
            let x = input + b * 32
            // The value of largest magnitude maps to -8 (ggml's quantize_row_q4_0_ref).
            var amax: Float = 0, maxv: Float = 0
            for i in 0..<32 where abs(x[i]) > amax { amax = abs(x[i]); maxv = x[i] }
            let d = maxv / -8
            let id: Float = d != 0 ? 1 / d : 0
            let block = blocks + b * 18
            block.storeBytes(of: halfBitsFromFloat(d), toByteOffset: 0, as: UInt16.self)
            for j in 0..<16 {
                let lo = min(15, Int8(truncatingIfNeeded: Int(x[j] * id + 8.5)))
                let hi = min(15, Int8(truncatingIfNeeded: Int(x[j + 16] * id + 8.5)))
                block.storeBytes(of: UInt8(lo) | (UInt8(hi) << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }
}
