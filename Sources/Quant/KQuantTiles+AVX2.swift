#if SWIFTLET_AVX2
import _Builtin_intrinsics.intel
import LLMBase

// The AVX2 kernels behind `InterleavedKernels.multiply` for K-quant tiles (`KQuantTiles`), as the
// VNNI ones with `vpmaddubsw` + `vpmaddwd` for `vpdpbusd` (InterleavedKernels+AVX2.swift says
// how many chunks share the 16-bit sums: Q4_K all 8, Q6_K 2). Per 32-weight block the unpacked
// operands and the 8 rows' scales are shared by up to four activation rows.

extension AVX2 {
    /// Byte `index` of each 32-bit lane, as 8 floats.
    @inline(__always)
    static func laneByte(_ v: SIMD8<UInt32>, _ index: Int) -> SIMD8<Float> {
        _mm256_cvtepi32_ps(unsafeBitCast((v &>> UInt32(8 * index)) & 0xFF, to: SIMD4<Int64>.self))
    }

    /// 8 signed bytes at p as 8 floats.
    @inline(__always)
    static func signedBytes(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(SIMD2<Int64>(Int64(bitPattern: p.loadUnaligned(as: UInt64.self)), 0)))
    }

    /// Q6_K operands: the nibble operands with the top two bits of chunk c moved to bits 4–5.
    @inline(__always)
    static func sixBitOperands(_ q: UnsafeRawPointer) -> AVX2Operands {
        var o = nibbleOperands(q)
        let h0 = q.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int64>.self)
        let h1 = q.loadUnaligned(fromByteOffset: 160, as: SIMD4<Int64>.self)
        let top = unsafeBitCast(SIMD32<UInt8>(repeating: 0x30), to: SIMD4<Int64>.self)
        o.c0 |= (h0 &<< 4) & top; o.c1 |= (h0 &<< 2) & top; o.c2 |= h0 & top; o.c3 |= (h0 &>> 2) & top
        o.c4 |= (h1 &<< 4) & top; o.c5 |= (h1 &<< 2) & top; o.c6 |= h1 & top; o.c7 |= (h1 &>> 2) & top
        return o
    }

    /// Σ six-bit quant · activation byte over weights 0…15 and 16…31, per row: two chunks per
    /// widening.
    @inline(__always)
    static func sixBitDotHalves(_ o: AVX2Operands, _ x: UnsafeRawPointer) -> (SIMD8<Int32>, SIMD8<Int32>) {
        let lo = widen(products(o.c0, x) &+ products(o.c1, x + 4)) &+ widen(products(o.c2, x + 8) &+ products(o.c3, x + 12))
        let hi = widen(products(o.c4, x + 16) &+ products(o.c5, x + 20)) &+ widen(products(o.c6, x + 24) &+ products(o.c7, x + 28))
        return (lo, hi)
    }
}

enum AVX2KQuant {
    static func multiplyQ4K(_ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int, values: UnsafePointer<Int8>,
                            scales: UnsafePointer<Float>, sums: UnsafePointer<Float>, rows n: Int,
                            into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 256, n32 = k / 32
        for g in groups {
            let tiles = w + g * nb * 1152
            var i = 0
            while i + 4 <= n {
                q4kRows(4, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, sums + i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 4
            }
            while i < n {
                q4kRows(1, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, sums + i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 1
            }
        }
    }

    /// One group's 8 rows · `count` (1 or 4) activation rows `k` bytes apart.
    @inline(__always)
    static func q4kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let t = tiles + b * 1152
            let d = AVX2.halves(t), dmin = AVX2.halves(t + 16)
            // The 8 rows' packed 6-bit scales and minimums (get_scale_min_k4), a row per lane:
            // sub-blocks 0–3 in the bytes of scLo/mLo, 4–7 in those of scHi/mHi.
            let w0 = t.loadUnaligned(fromByteOffset: 32, as: SIMD8<UInt32>.self)
            let w1 = t.loadUnaligned(fromByteOffset: 64, as: SIMD8<UInt32>.self)
            let w2 = t.loadUnaligned(fromByteOffset: 96, as: SIMD8<UInt32>.self)
            let low6 = SIMD8<UInt32>(repeating: 0x3F3F_3F3F), low4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
            let top2 = SIMD8<UInt32>(repeating: 0x0303_0303)
            let scLo = w0 & low6, mLo = w1 & low6
            let scHi = (w2 & low4) | (((w0 &>> 6) & top2) &<< 4)
            let mHi = ((w2 &>> 4) & low4) | (((w1 &>> 6) & top2) &<< 4)
            for s in 0..<8 {
                let ops = AVX2.nibbleOperands(t + 128 + 128 * s)
                let scale = d * AVX2.laneByte(s < 4 ? scLo : scHi, s % 4)
                let minimum = dmin * AVX2.laneByte(s < 4 ? mLo : mHi, s % 4)
                let blk = b * 8 + s, o = blk * 32
                a0.addProduct(scale, AVX2.toFloat(AVX2.nibbleDot(ops, x0 + o)) * dx[blk])
                a0.addProduct(minimum, SIMD8(repeating: -sx[blk]))
                if count == 4 {
                    a1.addProduct(scale, AVX2.toFloat(AVX2.nibbleDot(ops, x1 + o)) * dx[blk + n32])
                    a1.addProduct(minimum, SIMD8(repeating: -sx[blk + n32]))
                    a2.addProduct(scale, AVX2.toFloat(AVX2.nibbleDot(ops, x2 + o)) * dx[blk + 2 * n32])
                    a2.addProduct(minimum, SIMD8(repeating: -sx[blk + 2 * n32]))
                    a3.addProduct(scale, AVX2.toFloat(AVX2.nibbleDot(ops, x3 + o)) * dx[blk + 3 * n32])
                    a3.addProduct(minimum, SIMD8(repeating: -sx[blk + 3 * n32]))
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
    }

    static func multiplyQ6K(_ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int, values: UnsafePointer<Int8>,
                            scales: UnsafePointer<Float>, halfSums: UnsafePointer<Float>, rows n: Int,
                            into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 256, n32 = k / 32
        for g in groups {
            let tiles = w + g * nb * 1680
            var i = 0
            while i + 4 <= n {
                q6kRows(4, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, halfSums + 2 * i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 4
            }
            while i < n {
                q6kRows(1, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, halfSums + 2 * i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 1
            }
        }
    }

    /// acc += s0·(dx·lo − 32·h0) + s1·(dx·hi − 32·h1) for one activation row's block.
    @inline(__always)
    static func q6kAccumulate(_ acc: inout SIMD8<Float>, _ s0: SIMD8<Float>, _ s1: SIMD8<Float>,
                              _ sums: (SIMD8<Int32>, SIMD8<Int32>), dx: Float, h0: Float, h1: Float) {
        acc.addProduct(s0, SIMD8<Float>(repeating: -32 * h0).addingProduct(AVX2.toFloat(sums.0), dx))
        acc.addProduct(s1, SIMD8<Float>(repeating: -32 * h1).addingProduct(AVX2.toFloat(sums.1), dx))
    }

    @inline(__always)
    static func q6kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ hs: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let t = tiles + b * 1680
            let d = AVX2.halves(t)
            for a in 0..<8 {
                let ops = AVX2.sixBitOperands(t + 144 + 192 * a)
                let s0 = d * AVX2.signedBytes(t + 16 + 16 * a), s1 = d * AVX2.signedBytes(t + 24 + 16 * a)
                let blk = b * 8 + a, o = blk * 32
                q6kAccumulate(&a0, s0, s1, AVX2.sixBitDotHalves(ops, x0 + o), dx: dx[blk], h0: hs[2 * blk], h1: hs[2 * blk + 1])
                if count == 4 {
                    q6kAccumulate(&a1, s0, s1, AVX2.sixBitDotHalves(ops, x1 + o), dx: dx[blk + n32],
                                  h0: hs[2 * (blk + n32)], h1: hs[2 * (blk + n32) + 1])
                    q6kAccumulate(&a2, s0, s1, AVX2.sixBitDotHalves(ops, x2 + o), dx: dx[blk + 2 * n32],
                                  h0: hs[2 * (blk + 2 * n32)], h1: hs[2 * (blk + 2 * n32) + 1])
                    q6kAccumulate(&a3, s0, s1, AVX2.sixBitDotHalves(ops, x3 + o), dx: dx[blk + 3 * n32],
                                  h0: hs[2 * (blk + 3 * n32)], h1: hs[2 * (blk + 3 * n32) + 1])
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
    }
}
#endif
