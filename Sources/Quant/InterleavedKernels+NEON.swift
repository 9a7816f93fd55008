#if SWIFTLET_NEON_DOTPROD
import _Builtin_intrinsics.arm.neon
import LLMBase

// The arm64 kernels behind `InterleavedKernels.multiply`, on the same interleaved tiles as the
// AVX-512 VNNI ones (`InterleavedLayout`): chunk c of a tile is 32 bytes, 4 per row, so its rows
// 0–3 fill one 128-bit register and rows 4–7 another, and one `sdot` (by element: the 4
// activation bytes of the chunk taken from lane c of the activation register) adds 4 products to
// each of 4 rows' Int32 lanes. Per tile and activation row: 16 `sdot`, two 16-byte activation
// loads, one conversion per 4 rows and one or two FMAs. No horizontal sums.
//
// `sdot` multiplies signed by signed bytes (VNNI's `vpdpbusd` is unsigned × signed): Q4 and Q5
// quants (0…31) are the same either way; Q8_0's tiles hold weight + 128 as unsigned bytes, which
// one `eor` with 0x80 per operand turns back into the signed weight, so Q8_0's block sum needs no
// offset correction here (−128·sx on VNNI).
//
// Swift imports `int8x16_t` as SIMD16<Int8>, `int32x4_t` as SIMD4<Int32>, `float32x4_t` as
// SIMD4<Float>, `float16x4_t` as SIMD4<Float16>: shifts, masks and loads are Swift SIMD operations
// (byte shifts exist on NEON); `vdotq_s32`, the conversions and `fcvtl` are intrinsics.
// Machine code: scripts/disassemble-kernels (BENCHMARKS.md, "arm64 machine code").

/// One chunk's operand: rows 0–3 (`lo`) and 4–7 (`hi`), 4 weights each.
struct NEONChunk {
    var lo: SIMD16<Int8>
    var hi: SIMD16<Int8>

    @inline(__always)
    init(lo: SIMD16<Int8>, hi: SIMD16<Int8>) { self.lo = lo; self.hi = hi }
}

/// acc + w · (the 4 activation bytes in lane `lane` of x, broadcast), in groups of 4 bytes.
/// The lane broadcast folds into `sdot`'s by-element form.
@inline(__always)
func sdot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD4<Int32>, _ lane: Int) -> SIMD4<Int32> {
    vdotq_s32(acc, w, unsafeBitCast(SIMD4<Int32>(repeating: x[lane]), to: SIMD16<Int8>.self))
}

/// The 8 chunk operands of one tile (8 rows × 32 weights).
struct NEONOperands {
    var c0, c1, c2, c3, c4, c5, c6, c7: NEONChunk

    /// Σ quant · activation byte over the block at x, per row: rows 0–3, rows 4–7. Four
    /// independent `sdot` chains of four.
    @inline(__always)
    func dot(_ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let (a, b) = dotHalves(x)
        return a &+ b
    }

    /// The same sums over weights 0…15 (chunks 0–3) and 16…31 (chunks 4–7) separately (Q6_K's two
    /// sub-blocks of 16).
    @inline(__always)
    func dotHalves(_ x: UnsafeRawPointer) -> (SIMD8<Int32>, SIMD8<Int32>) {
        let xa = x.loadUnaligned(as: SIMD4<Int32>.self), xb = x.loadUnaligned(fromByteOffset: 16, as: SIMD4<Int32>.self)
        var lo0 = SIMD4<Int32>(), hi0 = SIMD4<Int32>(), lo1 = SIMD4<Int32>(), hi1 = SIMD4<Int32>()
        lo0 = sdot(lo0, c0.lo, xa, 0); hi0 = sdot(hi0, c0.hi, xa, 0)
        lo1 = sdot(lo1, c4.lo, xb, 0); hi1 = sdot(hi1, c4.hi, xb, 0)
        lo0 = sdot(lo0, c1.lo, xa, 1); hi0 = sdot(hi0, c1.hi, xa, 1)
        lo1 = sdot(lo1, c5.lo, xb, 1); hi1 = sdot(hi1, c5.hi, xb, 1)
        lo0 = sdot(lo0, c2.lo, xa, 2); hi0 = sdot(hi0, c2.hi, xa, 2)
        lo1 = sdot(lo1, c6.lo, xb, 2); hi1 = sdot(hi1, c6.hi, xb, 2)
        lo0 = sdot(lo0, c3.lo, xa, 3); hi0 = sdot(hi0, c3.hi, xa, 3)
        lo1 = sdot(lo1, c7.lo, xb, 3); hi1 = sdot(hi1, c7.hi, xb, 3)
        return (SIMD8(lowHalf: lo0, highHalf: hi0), SIMD8(lowHalf: lo1, highHalf: hi1))
    }
}

@inline(__always)
func neonToFloat(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    SIMD8(lowHalf: vcvtq_f32_s32(v.lowHalf), highHalf: vcvtq_f32_s32(v.highHalf))
}

/// 8 half floats at p, widened (two `fcvtl`).
@inline(__always)
func neonHalves(_ p: UnsafeRawPointer) -> SIMD8<Float> {
    SIMD8(lowHalf: vcvt_f32_f16(p.loadUnaligned(as: SIMD4<Float16>.self)),
          highHalf: vcvt_f32_f16(p.loadUnaligned(fromByteOffset: 8, as: SIMD4<Float16>.self)))
}

protocol NEONTile {
    static var tileBytes: Int { get }
    static func operands(_ t: UnsafeRawPointer) -> NEONOperands
    /// acc += this block's contribution, given the tile, isum, dx and sx.
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float)
}

extension NEONTile {
    /// Q4 nibble vectors at q: vector p gives chunk p (low nibbles) and chunk p + 4 (high).
    @inline(__always)
    static func nibbleOperands(_ q: UnsafeRawPointer) -> NEONOperands {
        let mask = SIMD16<UInt8>(repeating: 0x0F)
        @inline(__always) func low(_ v: SIMD16<UInt8>) -> SIMD16<Int8> { SIMD16<Int8>(truncatingIfNeeded: v & mask) }
        @inline(__always) func high(_ v: SIMD16<UInt8>) -> SIMD16<Int8> { SIMD16<Int8>(truncatingIfNeeded: v &>> 4) }
        let v0l = q.loadUnaligned(as: SIMD16<UInt8>.self), v0h = q.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self)
        let v1l = q.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt8>.self), v1h = q.loadUnaligned(fromByteOffset: 48, as: SIMD16<UInt8>.self)
        let v2l = q.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt8>.self), v2h = q.loadUnaligned(fromByteOffset: 80, as: SIMD16<UInt8>.self)
        let v3l = q.loadUnaligned(fromByteOffset: 96, as: SIMD16<UInt8>.self), v3h = q.loadUnaligned(fromByteOffset: 112, as: SIMD16<UInt8>.self)
        return NEONOperands(c0: NEONChunk(lo: low(v0l), hi: low(v0h)), c1: NEONChunk(lo: low(v1l), hi: low(v1h)),
                            c2: NEONChunk(lo: low(v2l), hi: low(v2h)), c3: NEONChunk(lo: low(v3l), hi: low(v3h)),
                            c4: NEONChunk(lo: high(v0l), hi: high(v0h)), c5: NEONChunk(lo: high(v1l), hi: high(v1h)),
                            c6: NEONChunk(lo: high(v2l), hi: high(v2h)), c7: NEONChunk(lo: high(v3l), hi: high(v3h)))
    }

    /// Five-bit tiles: the nibble operands with chunk c's fifth bits, (h >> c) & 1, moved to bit 4.
    @inline(__always)
    static func fiveBitOperands(_ q: UnsafeRawPointer) -> NEONOperands {
        var o = nibbleOperands(q)
        let hl = q.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt8>.self)
        let hh = q.loadUnaligned(fromByteOffset: 144, as: SIMD16<UInt8>.self)
        let bit4 = SIMD16<UInt8>(repeating: 0x10)
        @inline(__always) func add(_ c: inout NEONChunk, _ l: SIMD16<UInt8>, _ h: SIMD16<UInt8>) {
            c.lo |= SIMD16<Int8>(truncatingIfNeeded: l & bit4)
            c.hi |= SIMD16<Int8>(truncatingIfNeeded: h & bit4)
        }
        add(&o.c0, hl &<< 4, hh &<< 4); add(&o.c1, hl &<< 3, hh &<< 3)
        add(&o.c2, hl &<< 2, hh &<< 2); add(&o.c3, hl &<< 1, hh &<< 1)
        add(&o.c4, hl, hh); add(&o.c5, hl &>> 1, hh &>> 1)
        add(&o.c6, hl &>> 2, hh &>> 2); add(&o.c7, hl &>> 3, hh &>> 3)
        return o
    }
}

enum NEONQ4_0: NEONTile {
    static var tileBytes: Int { 144 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> NEONOperands { nibbleOperands(t + 16) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        let inner = SIMD8<Float>(repeating: -8 * sx).addingProduct(neonToFloat(isum), dx)
        acc.addProduct(neonHalves(t), inner)
    }
}

enum NEONQ4_1: NEONTile {
    static var tileBytes: Int { 160 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> NEONOperands { nibbleOperands(t + 32) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(neonHalves(t), neonToFloat(isum) * dx)
        acc.addProduct(neonHalves(t + 16), SIMD8<Float>(repeating: sx))
    }
}

enum NEONQ8_0: NEONTile {
    static var tileBytes: Int { 272 }
    @inline(__always)
    static func operands(_ t: UnsafeRawPointer) -> NEONOperands {
        let q = t + 16
        let flip = SIMD16<Int8>(repeating: -128)
        @inline(__always) func signed(_ offset: Int) -> NEONChunk {
            NEONChunk(lo: q.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self) ^ flip,
                      hi: q.loadUnaligned(fromByteOffset: offset + 16, as: SIMD16<Int8>.self) ^ flip)
        }
        return NEONOperands(c0: signed(0), c1: signed(32), c2: signed(64), c3: signed(96),
                            c4: signed(128), c5: signed(160), c6: signed(192), c7: signed(224))
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(neonHalves(t), neonToFloat(isum) * dx)
    }
}

enum NEONQ5_0: NEONTile {
    static var tileBytes: Int { 176 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> NEONOperands { fiveBitOperands(t + 16) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        let inner = SIMD8<Float>(repeating: -16 * sx).addingProduct(neonToFloat(isum), dx)
        acc.addProduct(neonHalves(t), inner)
    }
}

enum NEONQ5_1: NEONTile {
    static var tileBytes: Int { 192 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> NEONOperands { fiveBitOperands(t + 32) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(neonHalves(t), neonToFloat(isum) * dx)
        acc.addProduct(neonHalves(t + 16), SIMD8<Float>(repeating: sx))
    }
}

enum NEONKernels {
    /// Groups `groups` (8 rows each) · activation rows 0..<n: per group, four activation rows at
    /// a time share the tile's unpacked operands, then one at a time.
    static func multiply<T: NEONTile>(_: T.Type, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                      rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 32
        for g in groups {
            let tiles = w + g * nb * T.tileBytes
            var i = 0
            while i + 4 <= n {
                rows4(T.self, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8, ldy: ldy)
                i += 4
            }
            while i < n {
                row1(T.self, tiles, blocks: nb, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8)
                i += 1
            }
        }
    }

    /// One group's 8 rows · one activation row (decode).
    @inline(__always)
    static func row1<T: NEONTile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, _ x: UnsafePointer<Int8>,
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

    /// One group's 8 rows · four activation rows (`k` bytes apart): 16 operand registers, 8
    /// accumulators and the working set of one row fit NEON's 32.
    @inline(__always)
    static func rows4<T: NEONTile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                   _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var t = tiles
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let ops = T.operands(t)
            let o = b * 32
            T.accumulate(&a0, t, ops.dot(x0 + o), dx: dx[b], sx: sx[b])
            T.accumulate(&a1, t, ops.dot(x1 + o), dx: dx[b + nb], sx: sx[b + nb])
            T.accumulate(&a2, t, ops.dot(x2 + o), dx: dx[b + 2 * nb], sx: sx[b + 2 * nb])
            T.accumulate(&a3, t, ops.dot(x3 + o), dx: dx[b + 3 * nb], sx: sx[b + 3 * nb])
            t += T.tileBytes
        }
        let out = UnsafeMutableRawPointer(y)
        out.storeBytes(of: a0, as: SIMD8<Float>.self)
        (out + 4 * ldy).storeBytes(of: a1, as: SIMD8<Float>.self)
        (out + 8 * ldy).storeBytes(of: a2, as: SIMD8<Float>.self)
        (out + 12 * ldy).storeBytes(of: a3, as: SIMD8<Float>.self)
    }
}
#endif
