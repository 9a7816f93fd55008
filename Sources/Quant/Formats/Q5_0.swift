import LLMBase

/// 5-bit blocks, symmetric: Q4_0's nibbles with a fifth bit per weight from `qh`, offset by 16.
///
///   x[j] = d·((lo(qs[j]) | bit j of qh << 4) − 16),  x[j+16] = d·((hi(qs[j]) | bit j+16 of qh << 4) − 16)
public enum Q5_0: DotFormat, QuantizableFormat, ElementwiseFormat {
    public typealias Block = BlockQ5_0
    public static var encoding: WeightEncoding { .q5_0 }
    public static var blockSize: Int { 32 }
    public static var blockBytes: Int { 22 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 32) {
            let block = blocks + b * 22
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let qh = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = ((qh >> UInt32(j)) << 4) & 0x10, h1 = (qh >> UInt32(j + 12)) & 0x10
                out[b * 32 + j] = d * Float(Int32(UInt32(qs[j] & 0x0F) | h0) - 16)
                out[b * 32 + j + 16] = d * Float(Int32(UInt32(qs[j] >> 4) | h1) - 16)
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let qh = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let byte = block.load(fromByteOffset: 6 + i % 16, as: UInt8.self)
        let nibble = Int32(i < 16 ? byte & 0x0F : byte >> 4)
        return (nibble | Int32((qh >> UInt32(i)) & 1) << 4 - 16, floatFromHalfBits(block.loadUnaligned(as: UInt16.self)), 0)
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        elementwiseDot(w, x, blocks: nb)
    }

    /// Per block: the 32 five-bit quants (0…31) unpacked into a stack vector, one integer dot,
    /// and the offset of 16 taken from the activation block's precomputed sum.
    @inlinable
    public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 22
            let isum = fiveBitDot(qh: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self), qs: block + 6, x.values + b * 32)
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * (x.scales[b] * Float(isum) - 16 * x.sums[b])
        }
        return total
    }
}

/// 5-bit blocks, asymmetric: Q4_1's nibbles with a fifth bit per weight from `qh`.
///
///   x[j] = d·(lo(qs[j]) | bit j of qh << 4) + m,  x[j+16] = d·(hi(qs[j]) | bit j+16 of qh << 4) + m
public enum Q5_1: DotFormat, QuantizableFormat, ElementwiseFormat {
    public typealias Block = BlockQ5_1
    public static var encoding: WeightEncoding { .q5_1 }
    public static var blockSize: Int { 32 }
    public static var blockBytes: Int { 24 }

    public static func dequantize(_ blocks: UnsafeRawPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        for b in 0..<(count / 32) {
            let block = blocks + b * 24
            let d = floatFromHalfBits(block.loadUnaligned(as: UInt16.self))
            let m = floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let qh = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = ((qh >> UInt32(j)) << 4) & 0x10, h1 = (qh >> UInt32(j + 12)) & 0x10
                out[b * 32 + j] = d * Float(UInt32(qs[j] & 0x0F) | h0) + m
                out[b * 32 + j + 16] = d * Float(UInt32(qs[j] >> 4) | h1) + m
            }
        }
    }

    public static func element(_ block: UnsafeRawPointer, _ i: Int) -> (q: Int32, scale: Float, minimum: Float) {
        let qh = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let byte = block.load(fromByteOffset: 8 + i % 16, as: UInt8.self)
        let nibble = Int32(i < 16 ? byte & 0x0F : byte >> 4)
        return (nibble | Int32((qh >> UInt32(i)) & 1) << 4, floatFromHalfBits(block.loadUnaligned(as: UInt16.self)),
                -floatFromHalfBits(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
    }

    public static func dotReference(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        elementwiseDot(w, x, blocks: nb)
    }

    @inlinable
    public static func dot(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var total: Float = 0
        for b in 0..<nb {
            let block = w + b * 24
            let isum = fiveBitDot(qh: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self), qs: block + 8, x.values + b * 32)
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * x.scales[b] * Float(isum)
                + halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]
        }
        return total
    }
}

/// Σ q·x over one 5-bit block: q[j] = lo(qs[j]) | bit j of qh << 4, q[j+16] = hi(qs[j]) | bit j+16 << 4.
/// Plain loops over 16 lanes, which LLVM vectorizes (variable shifts, widening multiply-adds).
@inlinable @inline(__always)
func fiveBitDot(qh: UInt32, qs: UnsafeRawPointer, _ x: UnsafePointer<Int8>) -> Int32 {
    let q = qs.assumingMemoryBound(to: UInt8.self)
    var s: Int32 = 0
    for j in 0..<16 {
        let lo = Int32(q[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
        let hi = Int32(q[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
        s &+= lo &* Int32(x[j]) &+ hi &* Int32(x[j + 16])
    }
    return s
}

extension Q5_0 {
    /// ggml's `quantize_row_q5_0_ref`, Q4_0's rule with 32 levels: the value of largest magnitude
    /// maps to −16 (d = max/−16), each weight to ⌊x/d + 16.5⌋ capped at 31; the fifth bits gather
    /// into `qh` (bit j for weight j, bit j + 16 for weight j + 16).
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<(count / 32) {
            let x = input + b * 32
            var amax: Float = 0, peak: Float = 0
            for i in 0..<32 where abs(x[i]) > amax { amax = abs(x[i]); peak = x[i] }
            let d = peak / -16
            let id: Float = d != 0 ? 1 / d : 0
            let block = blocks + b * 22
            block.storeBytes(of: halfBitsFromFloat(d), toByteOffset: 0, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let lo = UInt8(truncatingIfNeeded: min(31, Int8(truncatingIfNeeded: Int(x[j] * id + 16.5))))
                let hi = UInt8(truncatingIfNeeded: min(31, Int8(truncatingIfNeeded: Int(x[j + 16] * id + 16.5))))
                block.storeBytes(of: (lo & 0x0F) | ((hi & 0x0F) << 4), toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32(lo >> 4) << UInt32(j) | UInt32(hi >> 4) << UInt32(j + 16)
            }
            block.storeBytes(of: qh, toByteOffset: 2, as: UInt32.self)
        }
    }
}

extension Q5_1 {
    /// ggml's `quantize_row_q5_1_ref`, Q4_1's rule with 32 levels: d = (max − min)/31, the minimum
    /// stored as is, each weight to ⌊(x − min)/d + 0.5⌋; fifth bits into `qh` as in Q5_0.
    public static func quantize(_ input: UnsafePointer<Float>, into blocks: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<(count / 32) {
            let x = input + b * 32
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for i in 0..<32 {
                if x[i] < lo { lo = x[i] }
                if x[i] > hi { hi = x[i] }
            }
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            let block = blocks + b * 24
            block.storeBytes(of: halfBitsFromFloat(d), toByteOffset: 0, as: UInt16.self)
            block.storeBytes(of: halfBitsFromFloat(lo), toByteOffset: 2, as: UInt16.self)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = UInt8(truncatingIfNeeded: Int((x[j] - lo) * id + 0.5))
                let q1 = UInt8(truncatingIfNeeded: Int((x[j + 16] - lo) * id + 0.5))
                block.storeBytes(of: (q0 & 0x0F) | ((q1 & 0x0F) << 4), toByteOffset: 8 + j, as: UInt8.self)
                qh |= UInt32((q0 >> 4) & 1) << UInt32(j) | UInt32((q1 >> 4) & 1) << UInt32(j + 16)
            }
            block.storeBytes(of: qh, toByteOffset: 4, as: UInt32.self)
        }
    }
}
