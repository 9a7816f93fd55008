import LLMBase

/// 4-bit K-quant: super-blocks of 256 weights in 8 sub-blocks of 32, each with a 6-bit scale and a
/// 6-bit minimum under the super-block's half scale `d` and half `dmin`:
///
///   weight = d·sc[s]·q − dmin·m[s]        q: 4 bits; sub-block s = i / 32
///
/// `qs` holds 64 weights per 32 bytes: byte l of chunk c has weight 64c + l in its low nibble and
/// 64c + 32 + l in its high nibble. A sub-block is exactly one activation block of 32, so the dot
/// is Σ_s d·sc[s]·dx_s·Σq·x − dmin·m[s]·(dx_s·Σx), the second sum precomputed per activation block.
public enum Q4_K: DotFormat, QuantizableFormat, ElementwiseFormat {
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
public enum Q5_K: DotFormat, QuantizableFormat, ElementwiseFormat {
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

/// The scales of a Q4_K or Q5_K super-block and its levels before bit packing (ggml's
/// `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` up to the packing, which is all they differ in
/// besides the level count and the search's parameters).
///
/// Each sub-block of 32 gets a scale and a minimum from `searchScaleMin`, weighted by
/// rms(x) + |x| so large weights count more without the smallest counting for nothing. Scales and
/// minimums are then quantized to 6 bits against the largest of each (d = largest scale/63,
/// dmin = largest minimum/63, stored as halves) and packed into the 12 bytes `scaleMinK4` reads. The levels are
/// recomputed against the stored, rounded scales, since those are what dequantization uses; a
/// sub-block whose stored scale is 0 keeps the search's levels (they then decode to −dmin·m).
///
/// `block` receives d, dmin and the 12 scale bytes (offsets 0, 2, 4); `L` the 256 levels, 0...nmax.
func quantizeScaleMinSuperBlock(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer, levels L: UnsafeMutablePointer<UInt8>,
                                nmax: Int32, rmin: Float, nstep: Int) {
    var maxScale: Float = 0, maxMin: Float = 0
    // Stack scratch: 8 scales, 8 minimums, 32 weights; 32 bytes of levels for the search.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { aux in
            let sc = floats.baseAddress!, mn = sc + 8, w = sc + 16
            for j in 0..<8 {
                let xs = x + 32 * j
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += xs[l] * xs[l] }
                let rms = (sumX2 / 32).squareRoot()
                for l in 0..<32 { w[l] = rms + abs(xs[l]) }
                (sc[j], mn[j]) = searchScaleMin(32, nmax: nmax, xs, weights: w, L + 32 * j, scratch: aux.baseAddress!,
                                                 rmin: rmin, rdelta: 0.1, nstep: nstep, useMAD: false)
                if sc[j] > maxScale { maxScale = sc[j] }
                if mn[j] > maxMin { maxMin = mn[j] }
            }
            let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
            let packed = (block + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<8 {
                let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * sc[j])))
                let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mn[j])))
                if j < 4 {
                    packed[j] = ls
                    packed[j + 4] = lm
                } else {
                    // Sub-blocks 4–7: low nibbles in bytes 8–11, top two bits in the top bits of bytes 0–7.
                    packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4)
                    packed[j - 4] |= (ls >> 4) << 6
                    packed[j] |= (lm >> 4) << 6
                }
            }
        }
    }
    block.storeBytes(of: halfBitsFromFloat(maxScale / 63), toByteOffset: 0, as: UInt16.self)
    block.storeBytes(of: halfBitsFromFloat(maxMin / 63), toByteOffset: 2, as: UInt16.self)
    let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
    let dmin = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    for j in 0..<8 {
        let (sc, m) = scaleMinK4(j, block + 4)
        let ds = d * Float(sc)
        if ds == 0 { continue }
        let dm = dmin * Float(m)
        for i in 0..<32 {
            L[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((x[32 * j + i] + dm) / ds))))
        }
    }
}

extension Q4_K {
    /// ggml's `quantize_row_q4_K_ref`: the scale search with 21 candidates (rmin −1, step 0.1),
    /// then 64 weights per 32 bytes, weight 64c + l in the low nibble of byte 32c + l and
    /// 64c + 32 + l in its high nibble.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        var levels = [UInt8](repeating: 0, count: 256)
        levels.withUnsafeMutableBufferPointer { L in
            for b in 0..<(count / 256) {
                let block = blocks + b * 144
                quantizeScaleMinSuperBlock(input + b * 256, into: block, levels: L.baseAddress!, nmax: 15, rmin: -1, nstep: 20)
                let q = (block + 16).assumingMemoryBound(to: UInt8.self)
                for c in 0..<4 {
                    for l in 0..<32 { q[32 * c + l] = L[64 * c + l] | (L[64 * c + 32 + l] << 4) }
                }
            }
        }
    }
}

extension Q5_K {
    /// ggml's `quantize_row_q5_K_ref`: the scale search with 16 candidates (rmin −0.5, step 0.1)
    /// over 32 levels, then Q4_K's nibble layout for the low four bits and the fifth bit of
    /// weights 64c + l and 64c + 32 + l in bits 2c and 2c + 1 of `qh` byte l.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        var levels = [UInt8](repeating: 0, count: 256)
        levels.withUnsafeMutableBufferPointer { L in
            for b in 0..<(count / 256) {
                let block = blocks + b * 176
                quantizeScaleMinSuperBlock(input + b * 256, into: block, levels: L.baseAddress!, nmax: 31, rmin: -0.5, nstep: 15)
                let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
                let q = (block + 48).assumingMemoryBound(to: UInt8.self)
                qh.update(repeating: 0, count: 32)
                for c in 0..<4 {
                    let lowBit = UInt8(1) << (2 * c), highBit = UInt8(2) << (2 * c)
                    for l in 0..<32 {
                        var lo = L[64 * c + l], hi = L[64 * c + 32 + l]
                        if lo > 15 { lo -= 16; qh[l] |= lowBit }
                        if hi > 15 { hi -= 16; qh[l] |= highBit }
                        q[32 * c + l] = lo | (hi << 4)
                    }
                }
            }
        }
    }
}
