#if SWIFTLET_AVX512_VNNI
import _Builtin_intrinsics.intel
import LLMBase

// The AVX-512 VNNI kernels behind `InterleavedKernels.multiply` for K-quant tiles
// (`KQuantTiles`). Per 32-weight block and activation row: 8 `vpdpbusd` on the block's unpacked
// operands (Q6_K: in two chains, one per 16-weight sub-block), then the 8 rows' block scales —
// super-block half × sub-block integer, widened from 8 consecutive bytes — and one or two FMAs.
// The operands and scales of a block are shared by the activation rows of a tile (up to 8).

extension TileOperands {
    /// Σ quant · activation byte over weights 0…15 (chunks 0–3) and 16…31 (chunks 4–7), per row.
    @inline(__always)
    func dotHalves(_ x: UnsafeRawPointer) -> (SIMD8<Int32>, SIMD8<Int32>) {
        var lo = SIMD4<Int64>(), hi = SIMD4<Int64>()
        lo = dpbusd(lo, c0, x)
        hi = dpbusd(hi, c4, x + 16)
        lo = dpbusd(lo, c1, x + 4)
        hi = dpbusd(hi, c5, x + 20)
        lo = dpbusd(lo, c2, x + 8)
        hi = dpbusd(hi, c6, x + 24)
        lo = dpbusd(lo, c3, x + 12)
        hi = dpbusd(hi, c7, x + 28)
        return (unsafeBitCast(lo, to: SIMD8<Int32>.self), unsafeBitCast(hi, to: SIMD8<Int32>.self))
    }
}

enum VNNIKQuant {
    static func multiplyQ4K(_ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int, values: UnsafePointer<Int8>,
                            scales: UnsafePointer<Float>, sums: UnsafePointer<Float>, rows n: Int,
                            into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 256, n32 = k / 32
        for g in groups {
            let tiles = w + g * nb * 1152
            var i = 0
            while i + 8 <= n {
                q4kRows(8, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, sums + i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 8
            }
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

    /// One group's 8 rows · `count` (1, 4 or 8) activation rows `k` bytes apart: eight independent
    /// `vpdpbusd` chains at 8 rows, the unpacked block and its scales shared by all.
    @inline(__always)
    static func q4kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        let x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k
        for b in 0..<nb {
            let t = tiles + b * 1152
            let d = halves(t), dmin = halves(t + 16)
            let (scLo, mLo, scHi, mHi) = q4kScalesAndMinimums(t)
            for s in 0..<8 {
                let ops = TileOperands.nibbles(t + 128 + 128 * s)
                let scale = d * laneByte(s < 4 ? scLo : scHi, s % 4), minimum = dmin * laneByte(s < 4 ? mLo : mHi, s % 4)
                let blk = b * 8 + s, o = blk * 32
                a0.addProduct(scale, toFloat(ops.dot(x0 + o)) * dx[blk])
                a0.addProduct(minimum, SIMD8(repeating: -sx[blk]))
                if count >= 4 {
                    a1.addProduct(scale, toFloat(ops.dot(x1 + o)) * dx[blk + n32])
                    a1.addProduct(minimum, SIMD8(repeating: -sx[blk + n32]))
                    a2.addProduct(scale, toFloat(ops.dot(x2 + o)) * dx[blk + 2 * n32])
                    a2.addProduct(minimum, SIMD8(repeating: -sx[blk + 2 * n32]))
                    a3.addProduct(scale, toFloat(ops.dot(x3 + o)) * dx[blk + 3 * n32])
                    a3.addProduct(minimum, SIMD8(repeating: -sx[blk + 3 * n32]))
                }
                if count == 8 {
                    a4.addProduct(scale, toFloat(ops.dot(x4 + o)) * dx[blk + 4 * n32])
                    a4.addProduct(minimum, SIMD8(repeating: -sx[blk + 4 * n32]))
                    a5.addProduct(scale, toFloat(ops.dot(x5 + o)) * dx[blk + 5 * n32])
                    a5.addProduct(minimum, SIMD8(repeating: -sx[blk + 5 * n32]))
                    a6.addProduct(scale, toFloat(ops.dot(x6 + o)) * dx[blk + 6 * n32])
                    a6.addProduct(minimum, SIMD8(repeating: -sx[blk + 6 * n32]))
                    a7.addProduct(scale, toFloat(ops.dot(x7 + o)) * dx[blk + 7 * n32])
                    a7.addProduct(minimum, SIMD8(repeating: -sx[blk + 7 * n32]))
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
        if count == 8 { KQuantTiles.storeRows(a4, a5, a6, a7, 4, y + 4 * ldy, ldy) }
    }

    static func multiplyQ6K(_ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int, values: UnsafePointer<Int8>,
                            scales: UnsafePointer<Float>, halfSums: UnsafePointer<Float>, rows n: Int,
                            into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 256, n32 = k / 32
        for g in groups {
            let tiles = w + g * nb * 1680
            var i = 0
            while i + 8 <= n {
                q6kRows(8, tiles, blocks: nb, k: k, values + i * k, scales + i * n32, halfSums + 2 * i * n32, y + i * ldy + g * 8, ldy: ldy)
                i += 8
            }
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

    @inline(__always)
    static func q6kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ hs: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        let x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k
        for b in 0..<nb {
            let t = tiles + b * 1680
            let d = halves(t)
            for a in 0..<8 {
                let ops = TileOperands.sixBits(t + 144 + 192 * a)
                let s0 = d * signedBytes(t + 16 + 16 * a), s1 = d * signedBytes(t + 24 + 16 * a)
                let blk = b * 8 + a, o = blk * 32
                accumulateQ6KBlock(&a0, s0, s1, ops.dotHalves(x0 + o), dx: dx[blk], h0: hs[2 * blk], h1: hs[2 * blk + 1])
                if count >= 4 {
                    accumulateQ6KBlock(&a1, s0, s1, ops.dotHalves(x1 + o), dx: dx[blk + n32], h0: hs[2 * (blk + n32)], h1: hs[2 * (blk + n32) + 1])
                    accumulateQ6KBlock(&a2, s0, s1, ops.dotHalves(x2 + o), dx: dx[blk + 2 * n32], h0: hs[2 * (blk + 2 * n32)], h1: hs[2 * (blk + 2 * n32) + 1])
                    accumulateQ6KBlock(&a3, s0, s1, ops.dotHalves(x3 + o), dx: dx[blk + 3 * n32], h0: hs[2 * (blk + 3 * n32)], h1: hs[2 * (blk + 3 * n32) + 1])
                }
                if count == 8 {
                    accumulateQ6KBlock(&a4, s0, s1, ops.dotHalves(x4 + o), dx: dx[blk + 4 * n32], h0: hs[2 * (blk + 4 * n32)], h1: hs[2 * (blk + 4 * n32) + 1])
                    accumulateQ6KBlock(&a5, s0, s1, ops.dotHalves(x5 + o), dx: dx[blk + 5 * n32], h0: hs[2 * (blk + 5 * n32)], h1: hs[2 * (blk + 5 * n32) + 1])
                    accumulateQ6KBlock(&a6, s0, s1, ops.dotHalves(x6 + o), dx: dx[blk + 6 * n32], h0: hs[2 * (blk + 6 * n32)], h1: hs[2 * (blk + 6 * n32) + 1])
                    accumulateQ6KBlock(&a7, s0, s1, ops.dotHalves(x7 + o), dx: dx[blk + 7 * n32], h0: hs[2 * (blk + 7 * n32)], h1: hs[2 * (blk + 7 * n32) + 1])
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
        if count == 8 { KQuantTiles.storeRows(a4, a5, a6, a7, 4, y + 4 * ldy, ldy) }
    }
}
#endif
