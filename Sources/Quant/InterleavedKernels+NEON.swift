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

/// The same 16 bytes as signed (a bit cast: the standard library's `truncatingIfNeeded:`
/// conversion between SIMD types can compile to an out-of-line call).
@inline(__always)
func signedBytes(_ v: SIMD16<UInt8>) -> SIMD16<Int8> { unsafeBitCast(v, to: SIMD16<Int8>.self) }

/// acc + w · (the 4 activation bytes in lane `lane` of x, broadcast), in groups of 4 bytes.
/// The lane broadcast folds into `sdot`'s by-element form.
@inline(__always)
func sdot(_ acc: SIMD4<Int32>, _ w: SIMD16<Int8>, _ x: SIMD4<Int32>, _ lane: Int) -> SIMD4<Int32> {
    vdotq_s32(acc, w, unsafeBitCast(SIMD4<Int32>(repeating: x[lane]), to: SIMD16<Int8>.self))
}

/// Half a tile's operands: the 8 registers of weights 16h..<16h+16 of the 8 rows, in memory
/// order (register i at 16·i in the half's bytes). The batch kernels unpack a tile half by half,
/// so that 8 operand registers, 8 integer sums (4 activation rows × 8 rows) and 8 float
/// accumulators fit NEON's 32 without spills.
///
/// Interleaved layout: register 2j is chunk j's rows 0–3 (`cj.lo`), 2j + 1 its rows 4–7
/// (`cj.hi`), 4 weights per row. Paired layout (SWIFTLET_NEON_I8MM, `InterleavedKernels+I8MM.swift`):
/// register 4P + p holds rows 2p and 2p + 1, weights 16h + 8P..<16h + 8P + 8 of each, so `c0`,
/// `c1` are group P = 0 (rows 0–1, 2–3, 4–5, 6–7) and `c2`, `c3` group 1. The unpacking (masks
/// and shifts) is the same for both; the kernels read the registers each their own way.
struct NEONHalf {
    var c0, c1, c2, c3: NEONChunk
}

#if !SWIFTLET_NEON_I8MM
extension NEONHalf {
    /// sums += Σ quant · activation byte over this half's 16 weights (activation bytes at x),
    /// rows 0–3 in `lo`, 4–7 in `hi`.
    @inline(__always)
    func accumulate(_ sums: inout NEONSums, _ x: UnsafeRawPointer) {
        let v = x.loadUnaligned(as: SIMD4<Int32>.self)
        sums.lo = sdot(sums.lo, c0.lo, v, 0); sums.hi = sdot(sums.hi, c0.hi, v, 0)
        sums.lo = sdot(sums.lo, c1.lo, v, 1); sums.hi = sdot(sums.hi, c1.hi, v, 1)
        sums.lo = sdot(sums.lo, c2.lo, v, 2); sums.hi = sdot(sums.hi, c2.hi, v, 2)
        sums.lo = sdot(sums.lo, c3.lo, v, 3); sums.hi = sdot(sums.hi, c3.hi, v, 3)
    }

    /// The same for four activation rows at once, each its own sums.
    @inline(__always)
    func accumulate4(_ sums: inout NEONSums4, _ x0: UnsafeRawPointer, _ x1: UnsafeRawPointer,
                     _ x2: UnsafeRawPointer, _ x3: UnsafeRawPointer) {
        accumulate(&sums.s0, x0); accumulate(&sums.s1, x1)
        accumulate(&sums.s2, x2); accumulate(&sums.s3, x3)
    }
}

/// Integer sums of the 8 rows of a tile for one activation row: rows 0–3, rows 4–7.
struct NEONSums {
    var lo = SIMD4<Int32>()
    var hi = SIMD4<Int32>()

    @inline(__always) init() {}
    var rows: SIMD8<Int32> { @inline(__always) get { SIMD8(lowHalf: lo, highHalf: hi) } }
}

/// Integer sums of the 8 rows of a tile for four activation rows.
struct NEONSums4 {
    var s0 = NEONSums(), s1 = NEONSums(), s2 = NEONSums(), s3 = NEONSums()

    @inline(__always) init() {}
    var rows: (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>) {
        @inline(__always) get { (s0.rows, s1.rows, s2.rows, s3.rows) }
    }
}
#endif

/// The 8 chunk operands of one tile (8 rows × 32 weights), as two halves.
struct NEONOperands {
    var first, second: NEONHalf

    /// Σ quant · activation byte over the block at x, per row. Four independent `sdot` chains
    /// (one activation row has no other work to overlap with): two sums of two registers on
    /// interleaved tiles, one sum of four on paired tiles.
    @inline(__always)
    func dot(_ x: UnsafeRawPointer) -> SIMD8<Int32> {
        #if SWIFTLET_NEON_I8MM
        var s = NEONSums()
        first.accumulate(&s, x)
        second.accumulate(&s, x + 16)
        return s.rows
        #else
        let (a, b) = dotHalves(x)
        return a &+ b
        #endif
    }

    /// The same sums over weights 0…15 and 16…31 separately (Q6_K's two sub-blocks of 16).
    @inline(__always)
    func dotHalves(_ x: UnsafeRawPointer) -> (SIMD8<Int32>, SIMD8<Int32>) {
        var a = NEONSums(), b = NEONSums()
        first.accumulate(&a, x)
        second.accumulate(&b, x + 16)
        return (a.rows, b.rows)
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
    /// Chunks 4h..<4h+4 of the tile at t, unpacked.
    static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf
    /// acc += this block's contribution, given the tile, isum, dx and sx.
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float)
}

extension NEONTile {
    @inline(__always)
    static func operands(_ t: UnsafeRawPointer) -> NEONOperands { NEONOperands(first: half(t, 0), second: half(t, 1)) }

    /// Q4 nibble vectors at q: vector p holds chunk p in its low nibbles and chunk p + 4 in its
    /// high nibbles, so half 0 is the four vectors' low nibbles and half 1 their high nibbles.
    @inline(__always)
    static func nibbleHalf(_ q: UnsafeRawPointer, _ h: Int) -> NEONHalf {
        let mask = SIMD16<UInt8>(repeating: 0x0F)
        @inline(__always) func chunk(_ offset: Int) -> NEONChunk {
            let l = q.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            let u = q.loadUnaligned(fromByteOffset: offset + 16, as: SIMD16<UInt8>.self)
            return h == 0 ? NEONChunk(lo: signedBytes(l & mask), hi: signedBytes(u & mask))
                          : NEONChunk(lo: signedBytes(l &>> 4), hi: signedBytes(u &>> 4))
        }
        return NEONHalf(c0: chunk(0), c1: chunk(32), c2: chunk(64), c3: chunk(96))
    }

    /// Five-bit tiles: the nibble half with each register's fifth bits moved to bit 4 (the bit
    /// planes: rows 0–3 at 128, rows 4–7 at 144 in the interleaved layout; row pairs 0–1 and 2–3,
    /// 4–5 and 6–7 there in the paired one, `InterleavedLayout.fifthBit`).
    @inline(__always)
    static func fiveBitHalf(_ q: UnsafeRawPointer, _ h: Int) -> NEONHalf {
        var o = nibbleHalf(q, h)
        let bits = q.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt8>.self)
        let bitsHigh = q.loadUnaligned(fromByteOffset: 144, as: SIMD16<UInt8>.self)
        let bit4 = SIMD16<UInt8>(repeating: 0x10)
        @inline(__always) func toBit4(_ v: SIMD16<UInt8>, _ bit: Int) -> SIMD16<Int8> {
            signedBytes((bit <= 4 ? v &<< UInt8(4 - bit) : v &>> UInt8(bit - 4)) & bit4)
        }
        @inline(__always) func add(_ c: inout NEONChunk, _ j: Int) {
            #if SWIFTLET_NEON_I8MM
            // Registers 2j and 2j + 1: group P = j/2, row pairs 2(j%2) and 2(j%2) + 1, both in
            // plane j%2, at bits 2h + P and 4 + 2h + P.
            let plane = j % 2 == 0 ? bits : bitsHigh
            c.lo |= toBit4(plane, 2 * h + j / 2)
            c.hi |= toBit4(plane, 4 + 2 * h + j / 2)
            #else
            // Chunk 4h + j: its bit in both planes.
            c.lo |= toBit4(bits, 4 * h + j)
            c.hi |= toBit4(bitsHigh, 4 * h + j)
            #endif
        }
        add(&o.c0, 0); add(&o.c1, 1); add(&o.c2, 2); add(&o.c3, 3)
        return o
    }
}

enum NEONQ4_0: NEONTile {
    static var tileBytes: Int { 144 }
    @inline(__always) static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf { nibbleHalf(t + 16, h) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        let inner = SIMD8<Float>(repeating: -8 * sx).addingProduct(neonToFloat(isum), dx)
        acc.addProduct(neonHalves(t), inner)
    }
}

enum NEONQ4_1: NEONTile {
    static var tileBytes: Int { 160 }
    @inline(__always) static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf { nibbleHalf(t + 32, h) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(neonHalves(t), neonToFloat(isum) * dx)
        acc.addProduct(neonHalves(t + 16), SIMD8<Float>(repeating: sx))
    }
}

enum NEONQ8_0: NEONTile {
    static var tileBytes: Int { 272 }
    @inline(__always)
    static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf {
        let q = t + 16 + 128 * h
        let flip = SIMD16<Int8>(repeating: -128)
        @inline(__always) func signed(_ offset: Int) -> NEONChunk {
            NEONChunk(lo: q.loadUnaligned(fromByteOffset: offset, as: SIMD16<Int8>.self) ^ flip,
                      hi: q.loadUnaligned(fromByteOffset: offset + 16, as: SIMD16<Int8>.self) ^ flip)
        }
        return NEONHalf(c0: signed(0), c1: signed(32), c2: signed(64), c3: signed(96))
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(neonHalves(t), neonToFloat(isum) * dx)
    }
}

enum NEONQ5_0: NEONTile {
    static var tileBytes: Int { 176 }
    @inline(__always) static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf { fiveBitHalf(t + 16, h) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        let inner = SIMD8<Float>(repeating: -16 * sx).addingProduct(neonToFloat(isum), dx)
        acc.addProduct(neonHalves(t), inner)
    }
}

enum NEONQ5_1: NEONTile {
    static var tileBytes: Int { 192 }
    @inline(__always) static func half(_ t: UnsafeRawPointer, _ h: Int) -> NEONHalf { fiveBitHalf(t + 32, h) }
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

    /// One group's 8 rows · four activation rows (`k` bytes apart): the tile is unpacked half by
    /// half, each half's 4 operands shared by the four rows' integer sums.
    @inline(__always)
    static func rows4<T: NEONTile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                   _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var t = tiles
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let o = b * 32
            var s = NEONSums4()
            for h in 0..<2 {
                let oh = o + 16 * h
                T.half(t, h).accumulate4(&s, x0 + oh, x1 + oh, x2 + oh, x3 + oh)
            }
            let (r0, r1, r2, r3) = s.rows
            T.accumulate(&a0, t, r0, dx: dx[b], sx: sx[b])
            T.accumulate(&a1, t, r1, dx: dx[b + nb], sx: sx[b + nb])
            T.accumulate(&a2, t, r2, dx: dx[b + 2 * nb], sx: sx[b + 2 * nb])
            T.accumulate(&a3, t, r3, dx: dx[b + 3 * nb], sx: sx[b + 3 * nb])
            t += T.tileBytes
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, 4, y, ldy)
    }
}
#endif
