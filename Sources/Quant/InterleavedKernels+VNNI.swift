#if SWIFTLET_AVX512_VNNI
import _Builtin_intrinsics.intel
import LLMBase

// The AVX-512 VNNI kernels behind `InterleavedKernels.multiply`. One group's 8 rows fill a 256-bit
// vector (AVX-512VL gives `vpdpbusd` on ymm with an embedded broadcast of the 4 activation bytes
// from memory); batches of 8 or more activation rows take two groups at once in 512-bit vectors
// (`PairOperands`), which on this machine measured 8–15% more batch throughput than ymm alone.
// Swift imports `__m256i` as SIMD4<Int64>, `__m512i` as SIMD8<Int64> and `__m256`/`__m512` as
// SIMD8/SIMD16<Float>: loads, masks and shifts are Swift SIMD operations; only `vpdpbusd`,
// `vcvtdq2ps` and `vcvtph2ps` are intrinsics.
//
// Per tile (8 rows × 32 weights) and activation row: 8 `vpdpbusd`, one conversion, one or two
// FMAs. The weight operands are unpacked once per tile and shared by up to 8 activation rows.
// Machine code checked with objdump (BENCHMARKS.md, "Machine code of the hot kernels").

/// `TileOperands` (TileOperands+x86.swift) on `vpdpbusd`.
extension TileOperands {
    /// Σ over the block of quant · activation byte, per row (activation block at `x`).
    @inline(__always)
    func dot(_ x: UnsafeRawPointer) -> SIMD8<Int32> {
        var s = SIMD4<Int64>()
        s = dpbusd(s, c0, x)
        s = dpbusd(s, c1, x + 4)
        s = dpbusd(s, c2, x + 8)
        s = dpbusd(s, c3, x + 12)
        s = dpbusd(s, c4, x + 16)
        s = dpbusd(s, c5, x + 20)
        s = dpbusd(s, c6, x + 24)
        s = dpbusd(s, c7, x + 28)
        return unsafeBitCast(s, to: SIMD8<Int32>.self)
    }
}

/// acc + (unsigned bytes of w) · (the 4 signed bytes at x, broadcast), summed in groups of 4.
@inline(__always)
func dpbusd(_ acc: SIMD4<Int64>, _ w: SIMD4<Int64>, _ x: UnsafeRawPointer) -> SIMD4<Int64> {
    let broadcast = unsafeBitCast(SIMD8<Int32>(repeating: x.loadUnaligned(as: Int32.self)), to: SIMD4<Int64>.self)
    // The unmasked form is a macro in clang's header, which Swift cannot import; an all-ones mask
    // compiles to the plain instruction.
    return _mm256_mask_dpbusd_epi32(acc, 0xFF, w, broadcast)
}

protocol VNNITile {
    static var tileBytes: Int { get }
    static func operands(_ t: UnsafeRawPointer) -> TileOperands
    /// acc += this block's contribution, given the tile, isum, dx and sx.
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float)
    /// The operands of two groups' tiles side by side: lanes 0–7 rows of t0, lanes 8–15 of t1.
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands
    /// The two groups' per-row block scale (and Q4_1's minimum), 16 lanes, read once per block.
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>)
    /// acc += the block's contribution to 16 rows, given their scales, isum, dx and sx.
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float)
}

/// `TileOperands` of two groups (16 rows) in 512-bit vectors: one `vpdpbusd` on zmm does the work
/// of two on ymm. Measured on this machine (Intel, two 512-bit ports): 3.8 G zmm against 3.1 G ymm
/// `vpdpbusd`/s, so 2.5× the multiply-adds per second; on Zen 4 a zmm operation is two ymm halves,
/// no loss.
struct PairOperands {
    var c0, c1, c2, c3, c4, c5, c6, c7: SIMD8<Int64>

    @inline(__always)
    func dot(_ x: UnsafeRawPointer) -> SIMD16<Int32> {
        var s = SIMD8<Int64>()
        s = dpbusd(s, c0, x)
        s = dpbusd(s, c1, x + 4)
        s = dpbusd(s, c2, x + 8)
        s = dpbusd(s, c3, x + 12)
        s = dpbusd(s, c4, x + 16)
        s = dpbusd(s, c5, x + 20)
        s = dpbusd(s, c6, x + 24)
        s = dpbusd(s, c7, x + 28)
        return unsafeBitCast(s, to: SIMD16<Int32>.self)
    }
}

@inline(__always)
func dpbusd(_ acc: SIMD8<Int64>, _ w: SIMD8<Int64>, _ x: UnsafeRawPointer) -> SIMD8<Int64> {
    let broadcast = unsafeBitCast(SIMD16<Int32>(repeating: x.loadUnaligned(as: Int32.self)), to: SIMD8<Int64>.self)
    return _mm512_mask_dpbusd_epi32(acc, 0xFFFF, w, broadcast)
}

@inline(__always)
func toFloat(_ v: SIMD16<Int32>) -> SIMD16<Float> { _mm512_cvtepi32_ps(unsafeBitCast(v, to: SIMD8<Int64>.self)) }

/// 8 half floats at p and 8 at q, converted: lanes 0–7 from p.
@inline(__always)
func halves(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer) -> SIMD16<Float> {
    let pair = SIMD4<Int64>(lowHalf: p.loadUnaligned(as: SIMD2<Int64>.self), highHalf: q.loadUnaligned(as: SIMD2<Int64>.self))
    return _mm512_cvtph_ps(pair)
}

/// 32 bytes at p (lanes 0–3) and at q (lanes 4–7).
@inline(__always)
func pair(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer, _ offset: Int) -> SIMD8<Int64> {
    SIMD8<Int64>(lowHalf: p.loadUnaligned(fromByteOffset: offset, as: SIMD4<Int64>.self),
                 highHalf: q.loadUnaligned(fromByteOffset: offset, as: SIMD4<Int64>.self))
}

extension VNNITile {
    /// Two groups' Q4 nibble vectors at `p` and `q`, as `TileOperands.nibbles`.
    @inline(__always)
    static func nibbleOperands(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer) -> PairOperands {
        let mask = unsafeBitCast(SIMD64<UInt8>(repeating: 0x0F), to: SIMD8<Int64>.self)
        let v0 = pair(p, q, 0), v1 = pair(p, q, 32), v2 = pair(p, q, 64), v3 = pair(p, q, 96)
        return PairOperands(c0: v0 & mask, c1: v1 & mask, c2: v2 & mask, c3: v3 & mask,
                            c4: (v0 &>> 4) & mask, c5: (v1 &>> 4) & mask, c6: (v2 &>> 4) & mask, c7: (v3 &>> 4) & mask)
    }
}

enum VNNIQ4_0: VNNITile {
    static var tileBytes: Int { 144 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .nibbles(t + 16) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateOffsetBlock(&acc, t, isum, dx: dx, sx: sx, offset: 8)
    }
    @inline(__always)
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands { nibbleOperands(t0 + 16, t1 + 16) }
    @inline(__always)
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>) { (halves(t0, t1), SIMD16()) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float) {
        let inner = SIMD16<Float>(repeating: -8 * sx).addingProduct(toFloat(isum), dx)
        acc.addProduct(w.d, inner)
    }
}

enum VNNIQ4_1: VNNITile {
    static var tileBytes: Int { 160 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .nibbles(t + 32) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateMinimumBlock(&acc, t, isum, dx: dx, sx: sx)
    }
    @inline(__always)
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands { nibbleOperands(t0 + 32, t1 + 32) }
    @inline(__always)
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>) {
        (halves(t0, t1), halves(t0 + 16, t1 + 16))
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float) {
        acc.addProduct(w.d, toFloat(isum) * dx)
        acc.addProduct(w.m, SIMD16<Float>(repeating: sx))
    }
}

enum VNNIQ8_0: VNNITile {
    static var tileBytes: Int { 272 }
    @inline(__always)
    static func operands(_ t: UnsafeRawPointer) -> TileOperands {
        let q = t + 16
        return TileOperands(c0: q.loadUnaligned(as: SIMD4<Int64>.self), c1: q.loadUnaligned(fromByteOffset: 32, as: SIMD4<Int64>.self),
                            c2: q.loadUnaligned(fromByteOffset: 64, as: SIMD4<Int64>.self), c3: q.loadUnaligned(fromByteOffset: 96, as: SIMD4<Int64>.self),
                            c4: q.loadUnaligned(fromByteOffset: 128, as: SIMD4<Int64>.self), c5: q.loadUnaligned(fromByteOffset: 160, as: SIMD4<Int64>.self),
                            c6: q.loadUnaligned(fromByteOffset: 192, as: SIMD4<Int64>.self), c7: q.loadUnaligned(fromByteOffset: 224, as: SIMD4<Int64>.self))
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateOffsetBlock(&acc, t, isum, dx: dx, sx: sx, offset: 128)
    }
    @inline(__always)
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands {
        let p = t0 + 16, q = t1 + 16
        return PairOperands(c0: pair(p, q, 0), c1: pair(p, q, 32), c2: pair(p, q, 64), c3: pair(p, q, 96),
                            c4: pair(p, q, 128), c5: pair(p, q, 160), c6: pair(p, q, 192), c7: pair(p, q, 224))
    }
    @inline(__always)
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>) { (halves(t0, t1), SIMD16()) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float) {
        let inner = SIMD16<Float>(repeating: -128 * sx).addingProduct(toFloat(isum), dx)
        acc.addProduct(w.d, inner)
    }
}

/// Five-bit tiles: Q4's nibble operands with chunk c's fifth bits, (h >> c) & 1, moved to bit 4.
extension VNNITile {
    @inline(__always)
    static func fiveBitOperands(_ p: UnsafeRawPointer, _ q: UnsafeRawPointer) -> PairOperands {
        var o = nibbleOperands(p, q)
        let h = pair(p, q, 128)
        let bit4 = unsafeBitCast(SIMD64<UInt8>(repeating: 0x10), to: SIMD8<Int64>.self)
        o.c0 |= (h &<< 4) & bit4; o.c1 |= (h &<< 3) & bit4; o.c2 |= (h &<< 2) & bit4; o.c3 |= (h &<< 1) & bit4
        o.c4 |= h & bit4; o.c5 |= (h &>> 1) & bit4; o.c6 |= (h &>> 2) & bit4; o.c7 |= (h &>> 3) & bit4
        return o
    }
}

enum VNNIQ5_0: VNNITile {
    static var tileBytes: Int { 176 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .fiveBits(t + 16) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateOffsetBlock(&acc, t, isum, dx: dx, sx: sx, offset: 16)
    }
    @inline(__always)
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands { fiveBitOperands(t0 + 16, t1 + 16) }
    @inline(__always)
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>) { (halves(t0, t1), SIMD16()) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float) {
        let inner = SIMD16<Float>(repeating: -16 * sx).addingProduct(toFloat(isum), dx)
        acc.addProduct(w.d, inner)
    }
}

enum VNNIQ5_1: VNNITile {
    static var tileBytes: Int { 192 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .fiveBits(t + 32) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateMinimumBlock(&acc, t, isum, dx: dx, sx: sx)
    }
    @inline(__always)
    static func operands(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> PairOperands { fiveBitOperands(t0 + 32, t1 + 32) }
    @inline(__always)
    static func rowScales(_ t0: UnsafeRawPointer, _ t1: UnsafeRawPointer) -> (d: SIMD16<Float>, m: SIMD16<Float>) {
        (halves(t0, t1), halves(t0 + 16, t1 + 16))
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD16<Float>, _ w: (d: SIMD16<Float>, m: SIMD16<Float>), _ isum: SIMD16<Int32>, dx: Float, sx: Float) {
        acc.addProduct(w.d, toFloat(isum) * dx)
        acc.addProduct(w.m, SIMD16<Float>(repeating: sx))
    }
}

enum VNNIKernels {
    static func multiply<T: VNNITile>(_: T.Type, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                      rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 32
        var g = groups.lowerBound
        // Pairs of groups: 16 weight rows × 8 activation rows per tile in zmm; the rows left over
        // (fewer than 8) and an odd last group take the 8-row paths below.
        while n >= 8 && g + 2 <= groups.upperBound {
            let tiles = w + g * nb * T.tileBytes
            var i = 0
            while i + 8 <= n {
                pairRows8(T.self, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8, ldy: ldy)
                i += 8
            }
            for h in g..<(g + 2) {
                rest(T.self, w + h * nb * T.tileBytes, from: i, blocks: nb, k: k, values: values, scales: scales, sums: sums,
                     rows: n, into: y + h * 8, ldy: ldy)
            }
            g += 2
        }
        while g < groups.upperBound {
            rest(T.self, w + g * nb * T.tileBytes, from: 0, blocks: nb, k: k, values: values, scales: scales, sums: sums,
                 rows: n, into: y + g * 8, ldy: ldy)
            g += 1
        }
    }

    /// One group's 8 rows · activation rows `i0 ..< n`, 8, 4 and 1 at a time.
    @inline(__always)
    static func rest<T: VNNITile>(_: T.Type, _ tiles: UnsafeRawPointer, from i0: Int, blocks nb: Int, k: Int,
                                  values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                  rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        do {
            var i = i0
            while i + 8 <= n {
                rows8(T.self, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy, ldy: ldy)
                i += 8
            }
            while i + 4 <= n {
                rows4(T.self, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy, ldy: ldy)
                i += 4
            }
            while i < n {
                row1(T.self, tiles, blocks: nb, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy)
                i += 1
            }
        }
    }

    /// Two groups' 16 rows (tiles of the second `nb` tiles after the first's) · eight activation
    /// rows, in 512-bit vectors: 8 operands, 8 sums, 8 accumulators and the 2 scale vectors fit
    /// the 32 registers. Output rows are contiguous (16 floats per activation row).
    @inline(__always)
    static func pairRows8<T: VNNITile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                       _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var t = tiles
        let second = nb * T.tileBytes
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        let x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k
        for b in 0..<nb {
            let ops = T.operands(t, t + second)
            let w = T.rowScales(t, t + second)
            let o = b * 32
            let s0 = ops.dot(x0 + o), s1 = ops.dot(x1 + o), s2 = ops.dot(x2 + o), s3 = ops.dot(x3 + o)
            let s4 = ops.dot(x4 + o), s5 = ops.dot(x5 + o), s6 = ops.dot(x6 + o), s7 = ops.dot(x7 + o)
            T.accumulate(&a0, w, s0, dx: dx[b], sx: sx[b])
            T.accumulate(&a1, w, s1, dx: dx[b + nb], sx: sx[b + nb])
            T.accumulate(&a2, w, s2, dx: dx[b + 2 * nb], sx: sx[b + 2 * nb])
            T.accumulate(&a3, w, s3, dx: dx[b + 3 * nb], sx: sx[b + 3 * nb])
            T.accumulate(&a4, w, s4, dx: dx[b + 4 * nb], sx: sx[b + 4 * nb])
            T.accumulate(&a5, w, s5, dx: dx[b + 5 * nb], sx: sx[b + 5 * nb])
            T.accumulate(&a6, w, s6, dx: dx[b + 6 * nb], sx: sx[b + 6 * nb])
            T.accumulate(&a7, w, s7, dx: dx[b + 7 * nb], sx: sx[b + 7 * nb])
            t += T.tileBytes
        }
        let out = UnsafeMutableRawPointer(y), stride = 4 * ldy
        out.storeBytes(of: a0, as: SIMD16<Float>.self)
        (out + stride).storeBytes(of: a1, as: SIMD16<Float>.self)
        (out + 2 * stride).storeBytes(of: a2, as: SIMD16<Float>.self)
        (out + 3 * stride).storeBytes(of: a3, as: SIMD16<Float>.self)
        (out + 4 * stride).storeBytes(of: a4, as: SIMD16<Float>.self)
        (out + 5 * stride).storeBytes(of: a5, as: SIMD16<Float>.self)
        (out + 6 * stride).storeBytes(of: a6, as: SIMD16<Float>.self)
        (out + 7 * stride).storeBytes(of: a7, as: SIMD16<Float>.self)
    }

    /// One group's 8 rows · one activation row (decode).
    @inline(__always)
    static func row1<T: VNNITile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, _ x: UnsafePointer<Int8>,
                                  _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        var acc = SIMD8<Float>()
        var t = tiles
        for b in 0..<nb {
            let isum = T.operands(t).dot(UnsafeRawPointer(x + b * 32))
            T.accumulate(&acc, t, isum, dx: dx[b], sx: sx[b])
            t += T.tileBytes
        }
        UnsafeMutableRawPointer(y).storeBytes(of: acc, as: SIMD8<Float>.self)
    }

    /// One group's 8 rows · eight activation rows: eight independent `vpdpbusd` chains per block
    /// (a chain's latency no longer limits it) and the unpacking shared by eight. 8 operands,
    /// 8 sums and 8 accumulators fit the 32 vector registers of AVX-512.
    @inline(__always)
    static func rows8<T: VNNITile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                   _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
        var t = tiles
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        let x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k
        for b in 0..<nb {
            let ops = T.operands(t)
            let o = b * 32
            let s0 = ops.dot(x0 + o), s1 = ops.dot(x1 + o), s2 = ops.dot(x2 + o), s3 = ops.dot(x3 + o)
            let s4 = ops.dot(x4 + o), s5 = ops.dot(x5 + o), s6 = ops.dot(x6 + o), s7 = ops.dot(x7 + o)
            T.accumulate(&a0, t, s0, dx: dx[b], sx: sx[b])
            T.accumulate(&a1, t, s1, dx: dx[b + nb], sx: sx[b + nb])
            T.accumulate(&a2, t, s2, dx: dx[b + 2 * nb], sx: sx[b + 2 * nb])
            T.accumulate(&a3, t, s3, dx: dx[b + 3 * nb], sx: sx[b + 3 * nb])
            T.accumulate(&a4, t, s4, dx: dx[b + 4 * nb], sx: sx[b + 4 * nb])
            T.accumulate(&a5, t, s5, dx: dx[b + 5 * nb], sx: sx[b + 5 * nb])
            T.accumulate(&a6, t, s6, dx: dx[b + 6 * nb], sx: sx[b + 6 * nb])
            T.accumulate(&a7, t, s7, dx: dx[b + 7 * nb], sx: sx[b + 7 * nb])
            t += T.tileBytes
        }
        let out = UnsafeMutableRawPointer(y), stride = 4 * ldy
        out.storeBytes(of: a0, as: SIMD8<Float>.self)
        (out + stride).storeBytes(of: a1, as: SIMD8<Float>.self)
        (out + 2 * stride).storeBytes(of: a2, as: SIMD8<Float>.self)
        (out + 3 * stride).storeBytes(of: a3, as: SIMD8<Float>.self)
        (out + 4 * stride).storeBytes(of: a4, as: SIMD8<Float>.self)
        (out + 5 * stride).storeBytes(of: a5, as: SIMD8<Float>.self)
        (out + 6 * stride).storeBytes(of: a6, as: SIMD8<Float>.self)
        (out + 7 * stride).storeBytes(of: a7, as: SIMD8<Float>.self)
    }

    /// One group's 8 rows · four activation rows (`k` bytes apart): the unpacked weights are
    /// shared by the four.
    @inline(__always)
    static func rows4<T: VNNITile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                   _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var t = tiles
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let ops = T.operands(t)
            let o = b * 32
            let s0 = ops.dot(x0 + o), s1 = ops.dot(x1 + o), s2 = ops.dot(x2 + o), s3 = ops.dot(x3 + o)
            T.accumulate(&a0, t, s0, dx: dx[b], sx: sx[b])
            T.accumulate(&a1, t, s1, dx: dx[b + nb], sx: sx[b + nb])
            T.accumulate(&a2, t, s2, dx: dx[b + 2 * nb], sx: sx[b + 2 * nb])
            T.accumulate(&a3, t, s3, dx: dx[b + 3 * nb], sx: sx[b + 3 * nb])
            t += T.tileBytes
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, 4, y, ldy)
    }
}
#endif
