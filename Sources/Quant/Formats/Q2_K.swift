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
public enum Q2_K: QuantizableFormat, ElementwiseFormat {
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
public enum Q3_K: QuantizableFormat, ElementwiseFormat {
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

/// Bits 2j…2j+1 of byte 32h + l hold level 128h + 32j + l (Q2_K's `qs`, Q3_K's low bits).
@inline(__always)
func packTwoBitLevels(_ L: UnsafePointer<UInt8>, into q: UnsafeMutablePointer<UInt8>) {
    for h in 0..<2 {
        for l in 0..<32 {
            let y = L + 128 * h + l
            q[32 * h + l] = y[0] | (y[32] << 2) | (y[64] << 4) | (y[96] << 6)
        }
    }
}

extension Q2_K {
    /// ggml's `quantize_row_q2_K_ref`. Each sub-block of 16 gets a scale and a minimum from
    /// `searchScaleMin` over 4 levels, weighted by |x| and fitted in absolute error (at 2 bits a
    /// squared fit lets a few large weights pull the scale). Scales and minimums are quantized to
    /// 4 bits against the largest of each (d = max/15, dmin = max/15) and share a byte, scale low;
    /// the levels are recomputed against the stored scales, and a sub-block whose stored scale is 0
    /// keeps the search's levels.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256 + 16) { bytes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
                let L = bytes.baseAddress!, aux = L + 256
                let scales = floats.baseAddress!, mins = scales + 16, w = scales + 32
                for b in 0..<(count / 256) {
                    let x = input + b * 256
                    let block = blocks + b * 84
                    var maxScale: Float = 0, maxMin: Float = 0
                    for s in 0..<16 {
                        for l in 0..<16 { w[l] = abs(x[16 * s + l]) }
                        (scales[s], mins[s]) = searchScaleMin(16, nmax: 3, x + 16 * s, weights: w, L + 16 * s, scratch: aux,
                                                              rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                        if scales[s] > maxScale { maxScale = scales[s] }
                        if mins[s] > maxMin { maxMin = mins[s] }
                    }
                    let sc = block.assumingMemoryBound(to: UInt8.self)
                    if maxScale > 0 {
                        let iscale = 15 / maxScale
                        for s in 0..<16 { sc[s] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[s])) }
                        block.storeBytes(of: halfBitsFromFloat(maxScale / 15), toByteOffset: 80, as: UInt16.self)
                    } else {
                        for s in 0..<16 { sc[s] = 0 }
                        block.storeBytes(of: halfBitsFromFloat(0), toByteOffset: 80, as: UInt16.self)
                    }
                    if maxMin > 0 {
                        let iscale = 15 / maxMin
                        for s in 0..<16 { sc[s] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[s]) << 4) }
                        block.storeBytes(of: halfBitsFromFloat(maxMin / 15), toByteOffset: 82, as: UInt16.self)
                    } else {
                        block.storeBytes(of: halfBitsFromFloat(0), toByteOffset: 82, as: UInt16.self)
                    }
                    let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
                    let dmin = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
                    for s in 0..<16 {
                        let ds = d * Float(sc[s] & 0x0F)
                        if ds == 0 { continue }
                        let dm = dmin * Float(sc[s] >> 4)
                        for i in 0..<16 {
                            L[16 * s + i] = UInt8(max(0, min(3, nearestInt((x[16 * s + i] + dm) / ds))))
                        }
                    }
                    packTwoBitLevels(L, into: (block + 16).assumingMemoryBound(to: UInt8.self))
                }
            }
        }
    }
}

extension Q3_K {
    /// ggml's `quantize_row_q3_K_ref`. Each sub-block of 16 gets a symmetric scale from
    /// `searchScaleQ3` (levels −4...3); the scales are quantized to 6 bits against the one of
    /// largest magnitude (that one maps to −32; stored offset by 32, low nibbles in bytes 0–7 of
    /// `scales`, top bit pairs in bytes 8–11), the levels are recomputed against the stored scales
    /// (a sub-block whose stored scale is 0 keeps the search's), and each level's third bit moves
    /// to `hmask`: bit k of hmask[l] for level 32k + l.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scaleBuffer in
                let L = levels.baseAddress!, scales = scaleBuffer.baseAddress!
                for b in 0..<(count / 256) {
                    let x = input + b * 256
                    let block = blocks + b * 110
                    for s in 0..<16 { scales[s] = searchScaleQ3(16, nmax: 4, x + 16 * s, L + 16 * s) }
                    let maxScale = largestMagnitude(scales, 16).value
                    let packed = (block + 96).assumingMemoryBound(to: UInt8.self)
                    packed.update(repeating: 0, count: 12)
                    if maxScale != 0 {
                        let iscale = -32 / maxScale
                        for s in 0..<16 {
                            let l = UInt8(max(-32, min(31, Int8(truncatingIfNeeded: nearestInt(iscale * scales[s])))) + 32)
                            if s < 8 { packed[s] = l & 0x0F } else { packed[s - 8] |= (l & 0x0F) << 4 }
                            packed[8 + s % 4] |= (l >> 4) << (2 * (s / 4))
                        }
                        block.storeBytes(of: halfBitsFromFloat(1 / iscale), toByteOffset: 108, as: UInt16.self)
                    } else {
                        block.storeBytes(of: halfBitsFromFloat(0), toByteOffset: 108, as: UInt16.self)
                    }
                    let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 108, as: UInt16.self))
                    for s in 0..<16 {
                        let ds = d * Float(Q3_K.scale(block, s) - 32)
                        if ds == 0 { continue }
                        for i in 0..<16 {
                            L[16 * s + i] = Int8(max(-4, min(3, nearestInt(x[16 * s + i] / ds))) + 4)
                        }
                    }
                    let hmask = block.assumingMemoryBound(to: UInt8.self)
                    hmask.update(repeating: 0, count: 32)
                    let u = UnsafeMutableRawPointer(L).assumingMemoryBound(to: UInt8.self)
                    for j in 0..<256 where u[j] > 3 {
                        hmask[j % 32] |= UInt8(1) << (j / 32)
                        u[j] -= 4
                    }
                    packTwoBitLevels(u, into: (block + 32).assumingMemoryBound(to: UInt8.self))
                }
            }
        }
    }
}
