#if SWIFTLET_AVX2
import _Builtin_intrinsics.intel
import LLMBase

// The AVX2 kernels behind `InterleavedKernels.multiply` for K-quant tiles (`KQuantTiles`), as the
// VNNI ones with `vpmaddubsw` + `vpmaddwd` for `vpdpbusd` (InterleavedKernels+AVX2.swift says
// how many chunks share the 16-bit sums: Q4_K all 8, Q6_K 2). Per 32-weight block the unpacked
// operands and the 8 rows' scales are shared by up to four activation rows.

extension AVX2 {
    /// Σ six-bit quant · activation byte over weights 0…15 and 16…31, per row: two chunks per
    /// widening.
    @inline(__always)
    static func sixBitDotHalves(_ o: TileOperands, _ x: UnsafeRawPointer) -> (SIMD8<Int32>, SIMD8<Int32>) {
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
            // The last 2 or 3 rows in one pass that unpacks each tile once (a 3-row speculative
            // check cost three 1-row passes before); a single row (decode) keeps its own copy.
            if n - i == 1 {
                q4kRows(1, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, sums + i * n32, y + i * ldy + g * 8, ldy: ldy)
            } else if n - i > 1 {
                q4kRows(n - i, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, sums + i * n32, y + i * ldy + g * 8, ldy: ldy)
            }
        }
    }

    /// One group's 8 rows · `count` (1–4) activation rows `k` bytes apart.
    @inline(__always)
    static func q4kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let t = tiles + b * 1152
            let d = halves(t), dmin = halves(t + 16)
            let (scLo, mLo, scHi, mHi) = q4kScalesAndMinimums(t)
            for s in 0..<8 {
                let ops = TileOperands.nibbles(t + 128 + 128 * s)
                let scale = d * laneByte(s < 4 ? scLo : scHi, s % 4)
                let minimum = dmin * laneByte(s < 4 ? mLo : mHi, s % 4)
                let blk = b * 8 + s, o = blk * 32
                a0.addProduct(scale, toFloat(AVX2.nibbleDot(ops, x0 + o)) * dx[blk])
                a0.addProduct(minimum, SIMD8(repeating: -sx[blk]))
                // Folded away where count is a literal 1 or 4; predictable in the remainder's copy.
                if count > 1 {
                    a1.addProduct(scale, toFloat(AVX2.nibbleDot(ops, x1 + o)) * dx[blk + n32])
                    a1.addProduct(minimum, SIMD8(repeating: -sx[blk + n32]))
                }
                if count > 2 {
                    a2.addProduct(scale, toFloat(AVX2.nibbleDot(ops, x2 + o)) * dx[blk + 2 * n32])
                    a2.addProduct(minimum, SIMD8(repeating: -sx[blk + 2 * n32]))
                }
                if count > 3 {
                    a3.addProduct(scale, toFloat(AVX2.nibbleDot(ops, x3 + o)) * dx[blk + 3 * n32])
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
            // The last 2 or 3 rows in one pass that unpacks each tile once (a 3-row speculative
            // check cost three 1-row passes before); a single row (decode) keeps its own copy.
            if n - i == 1 {
                q6kRows(1, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, halfSums + 2 * i * n32, y + i * ldy + g * 8, ldy: ldy)
            } else if n - i > 1 {
                q6kRows(n - i, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, halfSums + 2 * i * n32, y + i * ldy + g * 8, ldy: ldy)
            }
        }
    }

    @inline(__always)
    static func q6kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ hs: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let t = tiles + b * 1680
            let d = halves(t)
            for a in 0..<8 {
                let ops = TileOperands.sixBits(t + 144 + 192 * a)
                let s0 = d * signedBytes(t + 16 + 16 * a), s1 = d * signedBytes(t + 24 + 16 * a)
                let blk = b * 8 + a, o = blk * 32
                accumulateQ6KBlock(&a0, s0, s1, AVX2.sixBitDotHalves(ops, x0 + o), dx: dx[blk], h0: hs[2 * blk], h1: hs[2 * blk + 1])
                if count > 1 {
                    accumulateQ6KBlock(&a1, s0, s1, AVX2.sixBitDotHalves(ops, x1 + o), dx: dx[blk + n32],
                                  h0: hs[2 * (blk + n32)], h1: hs[2 * (blk + n32) + 1])
                }
                if count > 2 {
                    accumulateQ6KBlock(&a2, s0, s1, AVX2.sixBitDotHalves(ops, x2 + o), dx: dx[blk + 2 * n32],
                                  h0: hs[2 * (blk + 2 * n32)], h1: hs[2 * (blk + 2 * n32) + 1])
                }
                if count > 3 {
                    accumulateQ6KBlock(&a3, s0, s1, AVX2.sixBitDotHalves(ops, x3 + o), dx: dx[blk + 3 * n32],
                                  h0: hs[2 * (blk + 3 * n32)], h1: hs[2 * (blk + 3 * n32) + 1])
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
    }
}
#endif
