import LLMBase

/// INT8 blocks: one half scale per 32 weights.
public enum Q8_0: QuantFormat {
    public typealias Block = BlockQ8_0

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

/// INT4 blocks, symmetric: one half scale per 32 weights, nibbles offset by 8.
public enum Q4_0: QuantFormat {
    public typealias Block = BlockQ4_0

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

/// INT4 blocks, asymmetric: half scale and half minimum per 32 weights.
public enum Q4_1: QuantFormat {
    public typealias Block = BlockQ4_1

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
