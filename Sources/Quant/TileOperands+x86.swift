#if SWIFTLET_AVX512_VNNI || SWIFTLET_AVX2
import _Builtin_intrinsics.intel
import LLMBase

// What the AVX-512 VNNI and the AVX2 kernels share: the unpacking of a tile's operands, which is
// plain Swift SIMD, and the 256-bit conversions (AVX, F16C). Each set multiplies the operands its
// own way (`vpdpbusd`; `vpmaddubsw` + `vpmaddwd`).

/// The 8 chunk operands of one tile: chunk c holds weights 4c..<4c+4 of each of the 8 rows.
struct TileOperands {
    var c0, c1, c2, c3, c4, c5, c6, c7: SIMD4<Int64>

    /// Q4 nibble vectors at `q`: vector p gives chunk p (low nibbles) and chunk p + 4 (high).
    @inline(__always)
    static func nibbles(_ q: UnsafeRawPointer) -> TileOperands {
        let mask = unsafeBitCast(SIMD32<UInt8>(repeating: 0x0F), to: SIMD4<Int64>.self)
        let v0 = q.loadUnaligned(as: SIMD4<Int64>.self), v1 = q.loadUnaligned(fromByteOffset: 32, as: SIMD4<Int64>.self)
        let v2 = q.loadUnaligned(fromByteOffset: 64, as: SIMD4<Int64>.self), v3 = q.loadUnaligned(fromByteOffset: 96, as: SIMD4<Int64>.self)
        return TileOperands(c0: v0 & mask, c1: v1 & mask, c2: v2 & mask, c3: v3 & mask,
                            c4: (v0 &>> 4) & mask, c5: (v1 &>> 4) & mask, c6: (v2 &>> 4) & mask, c7: (v3 &>> 4) & mask)
    }

    /// Five-bit tiles: the nibble operands with chunk c's fifth bits, (h >> c) & 1, moved to bit 4.
    @inline(__always)
    static func fiveBits(_ q: UnsafeRawPointer) -> TileOperands {
        var o = nibbles(q)
        let h = q.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int64>.self)
        let bit4 = unsafeBitCast(SIMD32<UInt8>(repeating: 0x10), to: SIMD4<Int64>.self)
        o.c0 |= (h &<< 4) & bit4; o.c1 |= (h &<< 3) & bit4; o.c2 |= (h &<< 2) & bit4; o.c3 |= (h &<< 1) & bit4
        o.c4 |= h & bit4; o.c5 |= (h &>> 1) & bit4; o.c6 |= (h &>> 2) & bit4; o.c7 |= (h &>> 3) & bit4
        return o
    }

    /// Q6_K operands: the nibble operands with the top two bits of chunk c moved to bits 4–5.
    @inline(__always)
    static func sixBits(_ q: UnsafeRawPointer) -> TileOperands {
        var o = nibbles(q)
        let h0 = q.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int64>.self)
        let h1 = q.loadUnaligned(fromByteOffset: 160, as: SIMD4<Int64>.self)
        let top = unsafeBitCast(SIMD32<UInt8>(repeating: 0x30), to: SIMD4<Int64>.self)
        o.c0 |= (h0 &<< 4) & top; o.c1 |= (h0 &<< 2) & top; o.c2 |= h0 & top; o.c3 |= (h0 &>> 2) & top
        o.c4 |= (h1 &<< 4) & top; o.c5 |= (h1 &<< 2) & top; o.c6 |= h1 & top; o.c7 |= (h1 &>> 2) & top
        return o
    }
}

@inline(__always)
func toFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> { _mm256_cvtepi32_ps(unsafeBitCast(v, to: SIMD4<Int64>.self)) }

/// 8 half floats at p, converted (`vcvtph2ps`).
@inline(__always)
func halves(_ p: UnsafeRawPointer) -> SIMD8<Float> { _mm256_cvtph_ps(p.loadUnaligned(as: SIMD2<Int64>.self)) }

/// Byte `index` of each 32-bit lane, as 8 floats.
@inline(__always)
func laneByte(_ v: SIMD8<UInt32>, _ index: Int) -> SIMD8<Float> {
    _mm256_cvtepi32_ps(unsafeBitCast((v &>> UInt32(8 * index)) & 0xFF, to: SIMD4<Int64>.self))
}

/// 8 signed bytes at p as 8 floats.
@inline(__always)
func signedBytes(_ p: UnsafeRawPointer) -> SIMD8<Float> {
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(SIMD2<Int64>(Int64(bitPattern: p.loadUnaligned(as: UInt64.self)), 0)))
}

/// One block's contribution to 8 rows: acc += dw·(dx·isum − offset·sx), the formats whose weight
/// is the quant less an offset (Q4_0 8, Q5_0 16, Q8_0 128 on VNNI).
@inline(__always)
func accumulateOffsetBlock(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float, offset: Float) {
    acc.addProduct(halves(t), SIMD8<Float>(repeating: -offset * sx).addingProduct(toFloat(isum), dx))
}

/// One block's contribution to 8 rows with a minimum (Q4_1, Q5_1): acc += dw·dx·isum + mw·sx.
@inline(__always)
func accumulateMinimumBlock(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
    acc.addProduct(halves(t), toFloat(isum) * dx)
    acc.addProduct(halves(t + 16), SIMD8<Float>(repeating: sx))
}

/// Q6_K, one activation row's 32-block: acc += s0·(dx·lo − 32·h0) + s1·(dx·hi − 32·h1).
@inline(__always)
func accumulateQ6KBlock(_ acc: inout SIMD8<Float>, _ s0: SIMD8<Float>, _ s1: SIMD8<Float>,
                        _ sums: (SIMD8<Int32>, SIMD8<Int32>), dx: Float, h0: Float, h1: Float) {
    acc.addProduct(s0, SIMD8<Float>(repeating: -32 * h0).addingProduct(toFloat(sums.0), dx))
    acc.addProduct(s1, SIMD8<Float>(repeating: -32 * h1).addingProduct(toFloat(sums.1), dx))
}

/// A Q4_K tile's 8 rows' packed 6-bit scales and minimums (get_scale_min_k4), a row per lane:
/// sub-blocks 0–3 in the bytes of `scLo`/`mLo`, 4–7 in those of `scHi`/`mHi`.
@inline(__always)
func q4kScalesAndMinimums(_ t: UnsafeRawPointer) -> (scLo: SIMD8<UInt32>, mLo: SIMD8<UInt32>, scHi: SIMD8<UInt32>, mHi: SIMD8<UInt32>) {
    let w0 = t.loadUnaligned(fromByteOffset: 32, as: SIMD8<UInt32>.self)
    let w1 = t.loadUnaligned(fromByteOffset: 64, as: SIMD8<UInt32>.self)
    let w2 = t.loadUnaligned(fromByteOffset: 96, as: SIMD8<UInt32>.self)
    let low6 = SIMD8<UInt32>(repeating: 0x3F3F_3F3F), low4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
    let top2 = SIMD8<UInt32>(repeating: 0x0303_0303)
    return (w0 & low6, w1 & low6, (w2 & low4) | (((w0 &>> 6) & top2) &<< 4), ((w2 &>> 4) & low4) | (((w1 &>> 6) & top2) &<< 4))
}
#endif
