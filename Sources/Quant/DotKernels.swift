import LLMBase

// Dot products of quantized weight rows with a quantized activation row (see
// `QuantizedActivations`), block by block:
//
//   Q8_0 × Q8:  Σ_b dw·dx · Σ_i w_i·x_i
//   Q4_0 × Q8:  Σ_b dw·(dx·Σ_i q_i·x_i − 8·dx·Σ_i x_i)          (q_i − 8 is the weight)
//   Q4_1 × Q8:  Σ_b dw·dx · Σ_i q_i·x_i  +  mw·(dx·Σ_i x_i)
//
// dx·Σx per block is precomputed once per activation row (`sums`). The one-row kernels (decode)
// use Swift SIMD types as described below. `dot4` (prefill on the `simd` backend) runs four
// weight rows against one activation row as plain loops over a block's 16 byte pairs (i, i+16)
// with Int32 accumulation, which LLVM turns into vpmovzxbd/vpmovsxbd + vpmaddwd + vpdpwssd (VNNI)
// on zmm with a horizontal add per block; the activation loads are shared and the four chains
// overlap, 1.65× one row at a time when the rows are cache-resident. The scalar twins keep the
// obvious per-element form and the bit-exact software half conversion.

/// Pointers to one activation row: 8-bit values, per-block scales and scaled sums.
public struct ActivationRow {
    public let values: UnsafePointer<Int8>
    public let scales: UnsafePointer<Float>
    public let sums: UnsafePointer<Float>

    @inlinable @inline(__always)
    public init(values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>) {
        self.values = values
        self.scales = scales
        self.sums = sums
    }
}

public enum Dot {
    /// One weight row · one activation row, on the format's fast kernel.
    @inlinable
    public static func dot<F: DotFormat>(_: F.Type, _ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        F.dot(w, x, blocks: nb)
    }

    // The one-row kernels (decode) work on 256-bit vectors of Int16 lanes, each lane holding two
    // adjacent bytes: shifts split even and odd bytes (sign- or zero-extended) with same-width
    // operations only, products of pairs stay within Int16, a shift pair widens them to Int32,
    // and the magic-number trick (2²³ + 2²² added in the integer domain, subtracted as a float)
    // converts to Float without a conversion instruction, so every block ends in one FMA into an
    // 8-lane accumulator and there is a single horizontal sum per row. Only same-width SIMD
    // operations and bit casts are used: Swift's widening SIMD initializers compile to
    // out-of-line calls. Measured 1.6× (Q4) and 1.13× (Q8_0) the plain-loop form (BENCHMARKS.md).

    /// Sums adjacent Int16 pairs into Int32 lanes and converts them to Float (|sum| < 2²²).
    @inlinable @inline(__always)
    static func pairSumsToFloat(_ p: SIMD16<Int16>) -> SIMD8<Float> {
        let p32 = unsafeBitCast(p, to: SIMD8<Int32>.self)
        let s = ((p32 &<< 16) &>> 16) &+ (p32 &>> 16)
        // Constants spelled inline: a `static let` would be a lazily initialized global, checked
        // on every call.
        return unsafeBitCast(s &+ SIMD8<Int32>(repeating: 0x4B40_0000), to: SIMD8<Float>.self)
            - SIMD8<Float>(repeating: 12_582_912)
    }

    @inlinable
    public static func q8_0(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var acc = SIMD8<Float>()
        for b in 0..<nb {
            let block = w + b * 34
            let wv = (block + 2).loadUnaligned(as: SIMD16<Int16>.self)
            let xw = UnsafeRawPointer(x.values + b * 32).loadUnaligned(as: SIMD16<Int16>.self)
            // |w·x| ≤ 128·127, so a pair sum stays below 2¹⁵. Typed steps, same operations in the
            // same order: as one expression it is too much for Swift 6.2's type checker.
            let wEven: SIMD16<Int16> = (wv &<< 8) &>> 8, xEven: SIMD16<Int16> = (xw &<< 8) &>> 8
            let evenProducts: SIMD16<Int16> = wEven &* xEven
            let p: SIMD16<Int16> = evenProducts &+ (wv &>> 8) &* (xw &>> 8)
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self)) * x.scales[b]
            acc.addProduct(pairSumsToFloat(p), SIMD8<Float>(repeating: d))
        }
        return acc.sum()
    }

    /// Σ over two Q4 blocks' nibbles × activations, as 8 Float lanes (4 per block). `q0`, `q1`:
    /// the 16 quant bytes of each block; `xp`: the two blocks' 64 activation bytes.
    @inlinable @inline(__always)
    static func nibblePairProducts(_ q0: UnsafeRawPointer, _ q1: UnsafeRawPointer, _ xp: UnsafeRawPointer) -> SIMD8<Float> {
        let nibble = SIMD16<Int16>(repeating: 0x0F)
        let q = SIMD16<Int16>(lowHalf: q0.loadUnaligned(as: SIMD8<Int16>.self), highHalf: q1.loadUnaligned(as: SIMD8<Int16>.self))
        // Activations 0..<16 of a block meet the low nibbles, 16..<32 the high ones.
        let xlo = SIMD16<Int16>(lowHalf: xp.loadUnaligned(as: SIMD8<Int16>.self), highHalf: xp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Int16>.self))
        let xhi = SIMD16<Int16>(lowHalf: xp.loadUnaligned(fromByteOffset: 16, as: SIMD8<Int16>.self), highHalf: xp.loadUnaligned(fromByteOffset: 48, as: SIMD8<Int16>.self))
        let loE = q & nibble, loO = (q &>> 8) & nibble, hiE = (q &>> 4) & nibble, hiO = (q &>> 12) & nibble
        // Four products of ≤ 15·127 each: below 2¹⁵. Typed steps, same operations in the same
        // order: as one expression it is too much for Swift 6.2's type checker.
        let xloEven: SIMD16<Int16> = (xlo &<< 8) &>> 8, xloOdd: SIMD16<Int16> = xlo &>> 8
        let xhiEven: SIMD16<Int16> = (xhi &<< 8) &>> 8, xhiOdd: SIMD16<Int16> = xhi &>> 8
        let lows: SIMD16<Int16> = loE &* xloEven &+ loO &* xloOdd
        let lowsAndHighEven: SIMD16<Int16> = lows &+ hiE &* xhiEven
        let p: SIMD16<Int16> = lowsAndHighEven &+ hiO &* xhiOdd
        return pairSumsToFloat(p)
    }

    @inlinable
    public static func q4_0(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var acc = SIMD8<Float>()
        var offsets: Float = 0
        var b = 0
        while b + 2 <= nb {
            let b0 = w + b * 18, b1 = b0 + 18
            let f = nibblePairProducts(b0 + 2, b1 + 2, UnsafeRawPointer(x.values + b * 32))
            let d0 = halfToFloat(b0.loadUnaligned(as: UInt16.self)), d1 = halfToFloat(b1.loadUnaligned(as: UInt16.self))
            acc.addProduct(f, SIMD8<Float>(lowHalf: SIMD4(repeating: d0 * x.scales[b]), highHalf: SIMD4(repeating: d1 * x.scales[b + 1])))
            // dw·dx·Σ (q − 8)·x = dw·dx·Σ q·x − 8·dw·(dx·Σ x)
            offsets += d0 * x.sums[b] + d1 * x.sums[b + 1]
            b += 2
        }
        var total = acc.sum() - 8 * offsets
        if b < nb {
            let block = w + b * 18
            let q = (block + 2).assumingMemoryBound(to: UInt8.self)
            let xv = x.values + b * 32
            var isum: Int32 = 0
            for j in 0..<16 { isum &+= Int32(q[j] & 0x0F) &* Int32(xv[j]) &+ Int32(q[j] >> 4) &* Int32(xv[j + 16]) }
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * (x.scales[b] * Float(isum) - 8 * x.sums[b])
        }
        return total
    }

    @inlinable
    public static func q4_1(_ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        var acc = SIMD8<Float>()
        var minimums: Float = 0
        var b = 0
        while b + 2 <= nb {
            let b0 = w + b * 20, b1 = b0 + 20
            let f = nibblePairProducts(b0 + 4, b1 + 4, UnsafeRawPointer(x.values + b * 32))
            let d0 = halfToFloat(b0.loadUnaligned(as: UInt16.self)) * x.scales[b]
            let d1 = halfToFloat(b1.loadUnaligned(as: UInt16.self)) * x.scales[b + 1]
            acc.addProduct(f, SIMD8<Float>(lowHalf: SIMD4(repeating: d0), highHalf: SIMD4(repeating: d1)))
            minimums += halfToFloat(b0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]
                + halfToFloat(b1.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b + 1]
            b += 2
        }
        var total = acc.sum() + minimums
        if b < nb {
            let block = w + b * 20
            let q = (block + 4).assumingMemoryBound(to: UInt8.self)
            let xv = x.values + b * 32
            var isum: Int32 = 0
            for j in 0..<16 { isum &+= Int32(q[j] & 0x0F) &* Int32(xv[j]) &+ Int32(q[j] >> 4) &* Int32(xv[j + 16]) }
            total += halfToFloat(block.loadUnaligned(as: UInt16.self)) * x.scales[b] * Float(isum)
                + halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]
        }
        return total
    }

    /// Four weight rows (`rowStride` bytes apart) · one activation row, into out[0..<4].
    /// Written out per format (`q4_1x4`, …): a generic form (one `pairProducts` requirement called
    /// for four rows) was vectorized differently by LLVM and ran at half the speed.
    @inlinable
    public static func dot4<F: DotFormat>(_: F.Type, _ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow,
                                          blocks nb: Int, into out: UnsafeMutablePointer<Float>) {
        F.dot4(w, rowStride: rowStride, x, blocks: nb, into: out)
    }

    @inlinable
    public static func q4_1x4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int,
                               into out: UnsafeMutablePointer<Float>) {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var m0: Float = 0, m1: Float = 0, m2: Float = 0, m3: Float = 0
        for b in 0..<nb {
            let b0 = w + b * 20, b1 = b0 + rowStride, b2 = b1 + rowStride, b3 = b2 + rowStride
            let q0 = (b0 + 4).assumingMemoryBound(to: UInt8.self), q1 = (b1 + 4).assumingMemoryBound(to: UInt8.self)
            let q2 = (b2 + 4).assumingMemoryBound(to: UInt8.self), q3 = (b3 + 4).assumingMemoryBound(to: UInt8.self)
            let xv = x.values + b * 32
            var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
            for j in 0..<16 {
                let xl = Int32(xv[j]), xh = Int32(xv[j + 16])
                s0 &+= Int32(q0[j] & 0x0F) &* xl &+ Int32(q0[j] >> 4) &* xh
                s1 &+= Int32(q1[j] & 0x0F) &* xl &+ Int32(q1[j] >> 4) &* xh
                s2 &+= Int32(q2[j] & 0x0F) &* xl &+ Int32(q2[j] >> 4) &* xh
                s3 &+= Int32(q3[j] & 0x0F) &* xl &+ Int32(q3[j] >> 4) &* xh
            }
            let dx = x.scales[b], sx = x.sums[b]
            a0 += halfToFloat(b0.loadUnaligned(as: UInt16.self)) * dx * Float(s0)
            a1 += halfToFloat(b1.loadUnaligned(as: UInt16.self)) * dx * Float(s1)
            a2 += halfToFloat(b2.loadUnaligned(as: UInt16.self)) * dx * Float(s2)
            a3 += halfToFloat(b3.loadUnaligned(as: UInt16.self)) * dx * Float(s3)
            m0 += halfToFloat(b0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * sx
            m1 += halfToFloat(b1.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * sx
            m2 += halfToFloat(b2.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * sx
            m3 += halfToFloat(b3.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * sx
        }
        out[0] = a0 + m0
        out[1] = a1 + m1
        out[2] = a2 + m2
        out[3] = a3 + m3
    }

    @inlinable
    public static func q4_0x4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int,
                               into out: UnsafeMutablePointer<Float>) {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        for b in 0..<nb {
            let b0 = w + b * 18, b1 = b0 + rowStride, b2 = b1 + rowStride, b3 = b2 + rowStride
            let q0 = (b0 + 2).assumingMemoryBound(to: UInt8.self), q1 = (b1 + 2).assumingMemoryBound(to: UInt8.self)
            let q2 = (b2 + 2).assumingMemoryBound(to: UInt8.self), q3 = (b3 + 2).assumingMemoryBound(to: UInt8.self)
            let xv = x.values + b * 32
            var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
            for j in 0..<16 {
                let xl = Int32(xv[j]), xh = Int32(xv[j + 16])
                s0 &+= Int32(q0[j] & 0x0F) &* xl &+ Int32(q0[j] >> 4) &* xh
                s1 &+= Int32(q1[j] & 0x0F) &* xl &+ Int32(q1[j] >> 4) &* xh
                s2 &+= Int32(q2[j] & 0x0F) &* xl &+ Int32(q2[j] >> 4) &* xh
                s3 &+= Int32(q3[j] & 0x0F) &* xl &+ Int32(q3[j] >> 4) &* xh
            }
            let dx = x.scales[b], sx = x.sums[b]
            a0 += halfToFloat(b0.loadUnaligned(as: UInt16.self)) * (dx * Float(s0) - 8 * sx)
            a1 += halfToFloat(b1.loadUnaligned(as: UInt16.self)) * (dx * Float(s1) - 8 * sx)
            a2 += halfToFloat(b2.loadUnaligned(as: UInt16.self)) * (dx * Float(s2) - 8 * sx)
            a3 += halfToFloat(b3.loadUnaligned(as: UInt16.self)) * (dx * Float(s3) - 8 * sx)
        }
        out[0] = a0
        out[1] = a1
        out[2] = a2
        out[3] = a3
    }

    @inlinable
    public static func q8_0x4(_ w: UnsafeRawPointer, rowStride: Int, _ x: ActivationRow, blocks nb: Int,
                               into out: UnsafeMutablePointer<Float>) {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        for b in 0..<nb {
            let b0 = w + b * 34, b1 = b0 + rowStride, b2 = b1 + rowStride, b3 = b2 + rowStride
            let q0 = (b0 + 2).assumingMemoryBound(to: Int8.self), q1 = (b1 + 2).assumingMemoryBound(to: Int8.self)
            let q2 = (b2 + 2).assumingMemoryBound(to: Int8.self), q3 = (b3 + 2).assumingMemoryBound(to: Int8.self)
            let xv = x.values + b * 32
            var s0: Int32 = 0, s1: Int32 = 0, s2: Int32 = 0, s3: Int32 = 0
            for j in 0..<16 {
                let xl = Int32(xv[j]), xh = Int32(xv[j + 16])
                s0 &+= Int32(q0[j]) &* xl &+ Int32(q0[j + 16]) &* xh
                s1 &+= Int32(q1[j]) &* xl &+ Int32(q1[j + 16]) &* xh
                s2 &+= Int32(q2[j]) &* xl &+ Int32(q2[j + 16]) &* xh
                s3 &+= Int32(q3[j]) &* xl &+ Int32(q3[j + 16]) &* xh
            }
            let dx = x.scales[b]
            a0 += halfToFloat(b0.loadUnaligned(as: UInt16.self)) * dx * Float(s0)
            a1 += halfToFloat(b1.loadUnaligned(as: UInt16.self)) * dx * Float(s1)
            a2 += halfToFloat(b2.loadUnaligned(as: UInt16.self)) * dx * Float(s2)
            a3 += halfToFloat(b3.loadUnaligned(as: UInt16.self)) * dx * Float(s3)
        }
        out[0] = a0
        out[1] = a1
        out[2] = a2
        out[3] = a3
    }

    /// Scalar twin of `dot` and `dot4`: element by element, software half conversion.
    public static func dotScalar<F: DotFormat>(_: F.Type, _ w: UnsafeRawPointer, _ x: ActivationRow, blocks nb: Int) -> Float {
        F.dotReference(w, x, blocks: nb)
    }

    // MARK: F32

    /// F32 weights against F32 activations (files converted from F16/F32, attention scores).
    /// 16 independent partial sums let the loop vectorize (float addition is not reassociated).
    @inlinable
    public static func f32(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            acc.addProduct(UnsafeRawPointer(w + i).loadUnaligned(as: SIMD16<Float>.self),
                           UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
            i += 16
        }
        var tail: Float = 0
        while i < n { tail += w[i] * x[i]; i += 1 }
        return acc.sum() + tail
    }

    public static func f32Scalar(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        var total: Float = 0
        for i in 0..<n { total += w[i] * x[i] }
        return total
    }
}
