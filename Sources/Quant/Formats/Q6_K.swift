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
public enum Q6_K: DotFormat, QuantizableFormat, ElementwiseFormat {
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

extension Q6_K {
    /// ggml's `quantize_row_q6_K_ref`. Each sub-block of 16 gets a symmetric scale from
    /// `searchScaleSymmetric` (levels −32...31); the sub-block scales are quantized to signed 8 bits
    /// against the one of largest magnitude (d = −max/128, so that one maps to −128), and the
    /// levels are recomputed against the stored, rounded scales. A super-block whose scales are all
    /// below `groupMaxEpsilon` is stored as zeros; a sub-block whose stored scale is 0 keeps the
    /// search's levels.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { levels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { scaleBuffer in
                let L = levels.baseAddress!, scales = scaleBuffer.baseAddress!
                for b in 0..<(count / 256) {
                    let x = input + b * 256
                    let block = blocks + b * 210
                    for s in 0..<16 { scales[s] = searchScaleSymmetric(16, nmax: 32, x + 16 * s, L + 16 * s) }
                    let (maxScale, maxAbsScale) = largestMagnitude(scales, 16)
                    if maxAbsScale < groupMaxEpsilon {
                        block.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                        continue
                    }
                    let iscale = -128 / maxScale
                    block.storeBytes(of: halfBitsFromFloat(1 / iscale), toByteOffset: 208, as: UInt16.self)
                    let sc = (block + 192).assumingMemoryBound(to: Int8.self)
                    for s in 0..<16 { sc[s] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[s]))) }
                    let d = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
                    for s in 0..<16 {
                        let ds = d * Float(sc[s])
                        if ds == 0 { continue }
                        for i in 0..<16 {
                            L[16 * s + i] = Int8(max(-32, min(31, nearestInt(x[16 * s + i] / ds))) + 32)
                        }
                    }
                    // Per half h: low nibbles of weights 128h + l and + 64 share ql[64h + l], those of
                    // + 32 and + 96 share ql[64h + 32 + l]; the four top-bit pairs fill qh[32h + l].
                    for h in 0..<2 {
                        let ql = (block + 64 * h).assumingMemoryBound(to: UInt8.self)
                        let qh = (block + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
                        let y = L + 128 * h
                        for l in 0..<32 {
                            let q1 = UInt8(y[l]), q2 = UInt8(y[l + 32]), q3 = UInt8(y[l + 64]), q4 = UInt8(y[l + 96])
                            ql[l] = (q1 & 0x0F) | ((q3 & 0x0F) << 4)
                            ql[l + 32] = (q2 & 0x0F) | ((q4 & 0x0F) << 4)
                            qh[l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
                        }
                    }
                }
            }
        }
    }
}
