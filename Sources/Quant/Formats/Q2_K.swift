import LLMBase

// The 2- and 3-bit K-quants load but have no integer dot kernels yet: a matrix stored this way is
// dequantized to F32 at load (8–16× its file size in memory) and multiplied in F32, far slower
// than the formats with kernels. Both are rare in the small models Swiftlet serves.

/// 2-bit K-quant: 16 sub-blocks of 16, each with a 4-bit scale and a 4-bit minimum:
///
///   weight = d·(sc[s] & 15)·q − dmin·(sc[s] >> 4)        q: 2 bits; sub-block s = i / 16
///
/// Per half h (128 weights), shift j (0…3) and l in 0..<32: bits 2j…2j+1 of qs[32h + l] hold
/// weight 128h + 32j + l.
public enum Q2_K: ElementwiseFormat {
    public typealias Block = BlockQ2_K
    public static var encoding: WeightEncoding { .q2_K }
    public static var blockSize: Int { 256 }
    public static var blockBytes: Int { 84 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 256) {
            let block = blocks + b * 84
            let sc = block.assumingMemoryBound(to: UInt8.self)
            let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
            let dmin = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
            var s = 0
            for h in 0..<2 {
                let q = (block + 16 + 32 * h).assumingMemoryBound(to: UInt8.self)
                for j in 0..<4 {
                    let shift = UInt8(2 * j)
                    for half in 0..<2 {
                        let dl = d * Float(sc[s] & 0x0F), ml = dmin * Float(sc[s] >> 4)
                        for l in 0..<16 {
                            out[b * 256 + 128 * h + 32 * j + 16 * half + l] = dl * Float((q[16 * half + l] >> shift) & 3) - ml
                        }
                        s += 1
                    }
                }
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let h = i / 128, j = (i % 128) / 32, l = i % 32
        let q = (block.load(fromByteOffset: 16 + 32 * h + l, as: UInt8.self) >> UInt8(2 * j)) & 3
        let sc = block.load(fromByteOffset: i / 16, as: UInt8.self)
        return (Int32(q), floatFromHalfBits(block.loadUnaligned(fromByteOffset: 80, as: UInt16.self)) * Float(sc & 0x0F),
                floatFromHalfBits(block.loadUnaligned(fromByteOffset: 82, as: UInt16.self)) * Float(sc >> 4))
    }
}

/// 3-bit K-quant: 16 sub-blocks of 16, each with a 6-bit scale offset by 32:
///
///   weight = d·(sc[s] − 32)·(q − 4·(1 − hbit))        q: 2 low bits from qs, hbit from hmask
///
/// Low bits as in Q2_K; bit (4h + j) of hmask[l] is the high bit of weight 128h + 32j + l. The 12
/// scale bytes pack 16 six-bit scales: low nibbles from bytes 0–7, top two bits from bytes 8–11.
public enum Q3_K: ElementwiseFormat {
    public typealias Block = BlockQ3_K
    public static var encoding: WeightEncoding { .q3_K }
    public static var blockSize: Int { 256 }
    public static var blockBytes: Int { 110 }

    /// Sub-block s's scale, 0…63 (ggml's kmask unpacking, one scale at a time).
    static func scale(_ block: UnsafeRawPointer, _ s: Int) -> Int32 {
        let b = (block + 96).assumingMemoryBound(to: UInt8.self)
        let low = s < 8 ? b[s] & 0x0F : b[s - 8] >> 4
        let high = (b[8 + s % 4] >> UInt8(2 * (s / 4))) & 3
        return Int32(low | high << 4)
    }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 256) {
            let block = blocks + b * 110
            let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 108, as: UInt16.self))
            let hm = block.assumingMemoryBound(to: UInt8.self)
            var s = 0
            var m: UInt8 = 1
            for h in 0..<2 {
                let q = (block + 32 + 32 * h).assumingMemoryBound(to: UInt8.self)
                for j in 0..<4 {
                    let shift = UInt8(2 * j)
                    for half in 0..<2 {
                        let dl = d * Float(scale(block, s) - 32)
                        for l in 0..<16 {
                            let k = 16 * half + l
                            let v = Int32((q[k] >> shift) & 3) - (hm[k] & m != 0 ? 0 : 4)
                            out[b * 256 + 128 * h + 32 * j + k] = dl * Float(v)
                        }
                        s += 1
                    }
                    m <<= 1
                }
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let h = i / 128, j = (i % 128) / 32, l = i % 32
        let low = Int32((block.load(fromByteOffset: 32 + 32 * h + l, as: UInt8.self) >> UInt8(2 * j)) & 3)
        let high = (block.load(fromByteOffset: l, as: UInt8.self) >> UInt8(4 * h + j)) & 1
        let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 108, as: UInt16.self))
        return (low - (high != 0 ? 0 : 4), d * Float(scale(block, i / 16) - 32), 0)
    }
}
