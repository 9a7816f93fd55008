import LLMBase

/// 4-bit K-quant: super-blocks of 256 weights in 8 sub-blocks of 32, each with a 6-bit scale and a
/// 6-bit minimum under the super-block's half scale `d` and half `dmin`:
///
///   weight = d·sc[s]·q − dmin·m[s]        q: 4 bits; sub-block s = i / 32
///
/// `qs` holds 64 weights per 32 bytes: byte l of chunk c has weight 64c + l in its low nibble and
/// 64c + 32 + l in its high nibble. A sub-block is exactly one activation block of 32, so the dot
/// is Σ_s d·sc[s]·dx_s·Σq·x − dmin·m[s]·(dx_s·Σx), the second sum precomputed per activation block.
public enum Q4_K: DotFormat, ElementwiseFormat {
    public typealias Block = BlockQ4_K
    public static var encoding: WeightEncoding { .q4_K }
    public static var blockSize: Int { 256 }
    public static var blockBytes: Int { 144 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 256) {
            let block = blocks + b * 144
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let dmin = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let q = (block + 16).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 256
            for c in 0..<4 {
                let (sc0, m0) = scaleMinK4(2 * c, block + 4), (sc1, m1) = scaleMinK4(2 * c + 1, block + 4)
                for l in 0..<32 {
                    y[64 * c + l] = d * Float(sc0) * Float(q[32 * c + l] & 0x0F) - dmin * Float(m0)
                    y[64 * c + 32 + l] = d * Float(sc1) * Float(q[32 * c + l] >> 4) - dmin * Float(m1)
                }
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let (sc, m) = scaleMinK4(i / 32, block + 4)
        let c = i / 64, l = i % 32
        let byte = block.load(fromByteOffset: 16 + 32 * c + l, as: UInt8.self)
        let q = Int32((i % 64) < 32 ? byte & 0x0F : byte >> 4)
        return (q, floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * Float(sc),
                floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * Float(m))
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        elementwiseDot(w, x, blocks: nb)
    }

    @inlinable
    public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 144
            let q = (block + 16).assumingMemoryBound(to: UInt8.self)
            var scaled: Float = 0, minimums: Float = 0
            for c in 0..<4 {
                let a = b * 8 + 2 * c
                let xa = x.values + a * 32, xb = xa + 32
                let qc = q + 32 * c
                var s0: Int32 = 0, s1: Int32 = 0
                for l in 0..<32 {
                    s0 &+= Int32(qc[l] & 0x0F) &* Int32(xa[l])
                    s1 &+= Int32(qc[l] >> 4) &* Int32(xb[l])
                }
                let (sc0, m0) = scaleMinK4(2 * c, block + 4), (sc1, m1) = scaleMinK4(2 * c + 1, block + 4)
                scaled += Float(sc0) * x.scales[a] * Float(s0) + Float(sc1) * x.scales[a + 1] * Float(s1)
                minimums += Float(m0) * x.sums[a] + Float(m1) * x.sums[a + 1]
            }
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * scaled
                - halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * minimums
        }
        return total
    }
}

/// 5-bit K-quant: Q4_K with a fifth bit per weight. `qh` byte l holds, in bit 2c, the fifth bit of
/// weight 64c + l and, in bit 2c + 1, that of weight 64c + 32 + l.
public enum Q5_K: DotFormat, ElementwiseFormat {
    public typealias Block = BlockQ5_K
    public static var encoding: WeightEncoding { .q5_K }
    public static var blockSize: Int { 256 }
    public static var blockBytes: Int { 176 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 256) {
            let block = blocks + b * 176
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let dmin = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            let q = (block + 48).assumingMemoryBound(to: UInt8.self)
            let y = out + b * 256
            for c in 0..<4 {
                let (sc0, m0) = scaleMinK4(2 * c, block + 4), (sc1, m1) = scaleMinK4(2 * c + 1, block + 4)
                let u1 = UInt8(1) << (2 * c), u2 = UInt8(2) << (2 * c)
                for l in 0..<32 {
                    let lo = (q[32 * c + l] & 0x0F) + (qh[l] & u1 != 0 ? 16 : 0)
                    let hi = (q[32 * c + l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)
                    y[64 * c + l] = d * Float(sc0) * Float(lo) - dmin * Float(m0)
                    y[64 * c + 32 + l] = d * Float(sc1) * Float(hi) - dmin * Float(m1)
                }
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let (sc, m) = scaleMinK4(i / 32, block + 4)
        let c = i / 64, l = i % 32, high = (i % 64) >= 32
        let byte = block.load(fromByteOffset: 48 + 32 * c + l, as: UInt8.self)
        let bit = (block.load(fromByteOffset: 16 + l, as: UInt8.self) >> UInt8(2 * c + (high ? 1 : 0))) & 1
        let q = Int32(high ? byte >> 4 : byte & 0x0F) | Int32(bit) << 4
        return (q, floatFromHalfBits(block.loadUnaligned(as: UInt16.self)) * Float(sc),
                floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * Float(m))
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        elementwiseDot(w, x, blocks: nb)
    }

    @inlinable
    public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 176
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            let q = (block + 48).assumingMemoryBound(to: UInt8.self)
            var scaled: Float = 0, minimums: Float = 0
            for c in 0..<4 {
                let a = b * 8 + 2 * c
                let xa = x.values + a * 32, xb = xa + 32
                let qc = q + 32 * c
                let shift = UInt8(2 * c)
                var s0: Int32 = 0, s1: Int32 = 0
                for l in 0..<32 {
                    let h = qh[l] >> shift
                    s0 &+= Int32((qc[l] & 0x0F) | ((h & 1) << 4)) &* Int32(xa[l])
                    s1 &+= Int32((qc[l] >> 4) | ((h & 2) << 3)) &* Int32(xb[l])
                }
                let (sc0, m0) = scaleMinK4(2 * c, block + 4), (sc1, m1) = scaleMinK4(2 * c + 1, block + 4)
                scaled += Float(sc0) * x.scales[a] * Float(s0) + Float(sc1) * x.scales[a + 1] * Float(s1)
                minimums += Float(m0) * x.sums[a] + Float(m1) * x.sums[a + 1]
            }
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * scaled
                - halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * minimums
        }
        return total
    }
}
