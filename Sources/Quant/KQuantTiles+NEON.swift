#if SWIFTLET_NEON_DOTPROD
import _Builtin_intrinsics.arm.neon
import LLMBase

// The arm64 kernels behind `InterleavedKernels.multiply` for K-quant tiles (`KQuantTiles`), as
// the VNNI ones in `KQuantTiles+VNNI.swift`: per 32-weight block and activation row, 16 `sdot` on
// the block's unpacked operands (Q6_K: in two sums, one per 16-weight sub-block), then the 8 rows'
// block scales — super-block half × sub-block integer — and one or two FMAs. The operands and
// scales of a block are shared by up to four activation rows.

/// Byte `index` of each 32-bit lane, as 8 floats.
@inline(__always)
func neonLaneByte(_ v: SIMD8<UInt32>, _ index: Int) -> SIMD8<Float> {
    let bytes = (v &>> UInt32(8 * index)) & 0xFF
    return SIMD8(lowHalf: vcvtq_f32_u32(bytes.lowHalf), highHalf: vcvtq_f32_u32(bytes.highHalf))
}

/// 8 signed bytes at p as 8 floats (`sxtl` twice, then `scvtf`).
@inline(__always)
func neonSignedBytes(_ p: UnsafeRawPointer) -> SIMD8<Float> {
    let wide = vmovl_s8(p.loadUnaligned(as: SIMD8<Int8>.self))
    return SIMD8(lowHalf: vcvtq_f32_s32(vmovl_s16(wide.lowHalf)), highHalf: vcvtq_f32_s32(vmovl_s16(wide.highHalf)))
}

enum NEONKQuant {
    /// Q6_K operands, half h: the nibble half with each register's top two bits moved to bits
    /// 4–5. Interleaved layout: the top bits of chunks 0–3 are in the first 32 bytes after the
    /// nibbles, of 4–7 in the next 32, at bits 2j…2j+1. Paired layout: one 16-byte plane per row
    /// pair, group P of half h at bits 2f…2f+1, f = 2h + P (`KQuantTiles.topBits`).
    @inline(__always)
    static func sixBitHalf(_ q: UnsafeRawPointer, _ h: Int) -> NEONHalf {
        var o = NEONQ4_0.nibbleHalf(q, h)
        let top = SIMD16<UInt8>(repeating: 0x30)
        @inline(__always) func toBits4(_ v: SIMD16<UInt8>, _ shift: Int) -> SIMD16<Int8> {
            signedBytes((shift <= 4 ? v &<< UInt8(4 - shift) : v &>> UInt8(shift - 4)) & top)
        }
        #if SWIFTLET_NEON_I8MM
        let planes = (q.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt8>.self),
                      q.loadUnaligned(fromByteOffset: 144, as: SIMD16<UInt8>.self),
                      q.loadUnaligned(fromByteOffset: 160, as: SIMD16<UInt8>.self),
                      q.loadUnaligned(fromByteOffset: 176, as: SIMD16<UInt8>.self))
        // Registers 2j and 2j + 1: group P = j/2, row pairs 2(j%2) and 2(j%2) + 1.
        @inline(__always) func add(_ c: inout NEONChunk, _ j: Int) {
            let shift = 2 * (2 * h + j / 2)
            c.lo |= toBits4(j % 2 == 0 ? planes.0 : planes.2, shift)
            c.hi |= toBits4(j % 2 == 0 ? planes.1 : planes.3, shift)
        }
        #else
        let bits = q.loadUnaligned(fromByteOffset: 128 + 32 * h, as: SIMD16<UInt8>.self)
        let bitsHigh = q.loadUnaligned(fromByteOffset: 144 + 32 * h, as: SIMD16<UInt8>.self)
        @inline(__always) func add(_ c: inout NEONChunk, _ j: Int) {
            c.lo |= toBits4(bits, 2 * j)
            c.hi |= toBits4(bitsHigh, 2 * j)
        }
        #endif
        add(&o.c0, 0); add(&o.c1, 1); add(&o.c2, 2); add(&o.c3, 3)
        return o
    }

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
            let d = neonHalves(t), dmin = neonHalves(t + 16)
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
                let q = t + 128 + 128 * s
                let scale = d * neonLaneByte(s < 4 ? scLo : scHi, s % 4), minimum = dmin * neonLaneByte(s < 4 ? mLo : mHi, s % 4)
                let blk = b * 8 + s, o = blk * 32
                if count == 1 {
                    let ops = NEONOperands(first: NEONQ4_0.nibbleHalf(q, 0), second: NEONQ4_0.nibbleHalf(q, 1))
                    a0.addProduct(scale, neonToFloat(ops.dot(x0 + o)) * dx[blk])
                    a0.addProduct(minimum, SIMD8(repeating: -sx[blk]))
                    continue
                }
                // Four rows: half by half, as `NEONKernels.rows4`.
                var sums = NEONSums4()
                for h in 0..<2 {
                    let oh = o + 16 * h
                    NEONQ4_0.nibbleHalf(q, h).accumulate4(&sums, x0 + oh, x1 + oh, x2 + oh, x3 + oh)
                }
                let (r0, r1, r2, r3) = sums.rows
                a0.addProduct(scale, neonToFloat(r0) * dx[blk])
                a0.addProduct(minimum, SIMD8(repeating: -sx[blk]))
                a1.addProduct(scale, neonToFloat(r1) * dx[blk + n32])
                a1.addProduct(minimum, SIMD8(repeating: -sx[blk + n32]))
                a2.addProduct(scale, neonToFloat(r2) * dx[blk + 2 * n32])
                a2.addProduct(minimum, SIMD8(repeating: -sx[blk + 2 * n32]))
                a3.addProduct(scale, neonToFloat(r3) * dx[blk + 3 * n32])
                a3.addProduct(minimum, SIMD8(repeating: -sx[blk + 3 * n32]))
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
        acc.addProduct(s0, SIMD8<Float>(repeating: -32 * h0).addingProduct(neonToFloat(sums.0), dx))
        acc.addProduct(s1, SIMD8<Float>(repeating: -32 * h1).addingProduct(neonToFloat(sums.1), dx))
    }

    /// acc += scale·(dx·sum − 32·hs) for one 16-weight sub-block of one activation row.
    @inline(__always)
    static func q6kAccumulateHalf(_ acc: inout SIMD8<Float>, _ scale: SIMD8<Float>, _ sums: SIMD8<Int32>, dx: Float, hs: Float) {
        acc.addProduct(scale, SIMD8<Float>(repeating: -32 * hs).addingProduct(neonToFloat(sums), dx))
    }

    @inline(__always)
    static func q6kRows(_ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                        _ dx: UnsafePointer<Float>, _ hs: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        let n32 = k / 32
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let t = tiles + b * 1680
            let d = neonHalves(t)
            for a in 0..<8 {
                let q = t + 144 + 192 * a
                let blk = b * 8 + a, o = blk * 32
                if count == 1 {
                    let ops = NEONOperands(first: sixBitHalf(q, 0), second: sixBitHalf(q, 1))
                    let s0 = d * neonSignedBytes(t + 16 + 16 * a), s1 = d * neonSignedBytes(t + 24 + 16 * a)
                    q6kAccumulate(&a0, s0, s1, ops.dotHalves(x0 + o), dx: dx[blk], h0: hs[2 * blk], h1: hs[2 * blk + 1])
                    continue
                }
                // Four rows, half by half: each half is one 16-weight sub-block with its own scale.
                for h in 0..<2 {
                    let oh = o + 16 * h
                    var sums = NEONSums4()
                    sixBitHalf(q, h).accumulate4(&sums, x0 + oh, x1 + oh, x2 + oh, x3 + oh)
                    let (r0, r1, r2, r3) = sums.rows
                    let scale = d * neonSignedBytes(t + 16 + 16 * a + 8 * h)
                    q6kAccumulateHalf(&a0, scale, r0, dx: dx[blk], hs: hs[2 * blk + h])
                    q6kAccumulateHalf(&a1, scale, r1, dx: dx[blk + n32], hs: hs[2 * (blk + n32) + h])
                    q6kAccumulateHalf(&a2, scale, r2, dx: dx[blk + 2 * n32], hs: hs[2 * (blk + 2 * n32) + h])
                    q6kAccumulateHalf(&a3, scale, r3, dx: dx[blk + 3 * n32], hs: hs[2 * (blk + 3 * n32) + h])
                }
            }
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
    }
}
#endif
