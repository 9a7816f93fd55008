import LLMBase

/// 6-bit K-quant: super-blocks of 256 weights in 16 sub-blocks of 16, each with a signed 8-bit
/// scale under the super-block's half scale `d`:
///
///   weight = d·sc[s]·(q − 32)        q: 6 bits (4 from `ql`, 2 from `qh`); sub-block s = i / 16
///
/// Per half h (128 weights) and l in 0..<32: ql[64h + l] holds weights 128h + l (low nibble) and
/// 128h + 64 + l (high); ql[64h + 32 + l] holds 128h + 32 + l and 128h + 96 + l; qh[32h + l]
/// holds the top two bits of those four weights in bits 0–1, 2–3, 4–5 and 6–7.
/// An activation block of 32 spans two sub-blocks, so the dot keeps two integer sums per block.
public enum Q6_K: DotFormat, ElementwiseFormat {
    public typealias Block = BlockQ6_K
    public static var encoding: WeightEncoding { .q6_K }
    public static var blockSize: Int { 256 }
    public static var blockBytes: Int { 210 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 256) {
            let block = blocks + b * 210
            let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
            for h in 0..<2 {
                let ql = (block + 64 * h).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                let sc = (block + 192 + 8 * h).assumingMemoryBound(to: Int8.self)
                let y = out + b * 256 + 128 * h
                for l in 0..<32 {
                    let s = l / 16
                    let q1 = Int32((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                    let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                    let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                    y[l] = d * Float(sc[s]) * Float(q1)
                    y[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                    y[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                    y[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                }
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let h = i / 128, k = (i % 128) / 32, l = i % 32
        let low = block.load(fromByteOffset: 64 * h + l + (k % 2 == 1 ? 32 : 0), as: UInt8.self)
        let nibble = k < 2 ? low & 0x0F : low >> 4
        let top = (block.load(fromByteOffset: 128 + 32 * h + l, as: UInt8.self) >> UInt8(2 * k)) & 3
        let sc = block.load(fromByteOffset: 192 + i / 16, as: Int8.self)
        return (Int32(nibble | top << 4) - 32, floatFromHalfBits(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self)) * Float(sc), 0)
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        elementwiseDot(w, x, blocks: nb)
    }

    @inlinable
    public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 210
            var scaled: Float = 0
            for h in 0..<2 {
                let ql = (block + 64 * h).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                let sc = (block + 192 + 8 * h).assumingMemoryBound(to: Int8.self)
                let a = b * 8 + 4 * h
                let x0 = x.values + a * 32
                // Four activation blocks (k = 0…3) × two sub-blocks of 16 each.
                var s00: Int32 = 0, s01: Int32 = 0, s10: Int32 = 0, s11: Int32 = 0
                var s20: Int32 = 0, s21: Int32 = 0, s30: Int32 = 0, s31: Int32 = 0
                for l in 0..<16 {
                    let q1 = Int32((ql[l] & 0x0F) | (qh[l] & 3) << 4) &- 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) &- 32
                    let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) &- 32
                    let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) &- 32
                    s00 &+= q1 &* Int32(x0[l]); s10 &+= q2 &* Int32(x0[32 + l])
                    s20 &+= q3 &* Int32(x0[64 + l]); s30 &+= q4 &* Int32(x0[96 + l])
                }
                for l in 16..<32 {
                    let q1 = Int32((ql[l] & 0x0F) | (qh[l] & 3) << 4) &- 32
                    let q2 = Int32((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) &- 32
                    let q3 = Int32((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) &- 32
                    let q4 = Int32((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) &- 32
                    s01 &+= q1 &* Int32(x0[l]); s11 &+= q2 &* Int32(x0[32 + l])
                    s21 &+= q3 &* Int32(x0[64 + l]); s31 &+= q4 &* Int32(x0[96 + l])
                }
                scaled += x.scales[a] * (Float(sc[0]) * Float(s00) + Float(sc[1]) * Float(s01))
                scaled += x.scales[a + 1] * (Float(sc[2]) * Float(s10) + Float(sc[3]) * Float(s11))
                scaled += x.scales[a + 2] * (Float(sc[4]) * Float(s20) + Float(sc[5]) * Float(s21))
                scaled += x.scales[a + 3] * (Float(sc[6]) * Float(s30) + Float(sc[7]) * Float(s31))
            }
            total += halfToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self)) * scaled
        }
        return total
    }
}
