#if SWIFTLET_AVX2
import _Builtin_intrinsics.intel
import LLMBase

// The AVX2 kernels behind `InterleavedKernels.multiply`, for x86_64 hosts without AVX-512 VNNI
// (AMD Zen 2 and 3, Intel before Ice Lake): the same tiles as the VNNI kernels
// (`InterleavedLayout`), one 256-bit vector per chunk of 4 weights × 8 rows.
//
// Without `vpdpbusd`, a chunk is `vpmaddubsw` (unsigned weight bytes × the 4 broadcast signed
// activation bytes, adjacent products summed into 16-bit lanes: two per row), and `vpmaddwd` by
// ones then adds each row's two lanes into its 32-bit lane. `vpmaddubsw` saturates at ±32,767,
// so the 16-bit sums of several chunks can be added before widening only while they cannot
// overflow. Activations are within ±127 (`quantizeActivations`), so a chunk's lane is at most
// 2·127·qmax:
//
//   Q4_0, Q4_1, Q4_K (nibbles, qmax 15):  3,810  → all 8 chunks of a block in 16 bits (30,480)
//   Q5_0, Q5_1 (qmax 31):                 7,874  → 4 chunks (31,496), two widenings per block
//   Q6_K (qmax 63):                      16,002  → 2 chunks (32,004)
//   Q8_0: the stored bytes (weight + 128) would overflow at once (2·255·127). The kernel takes
//         the signed weight (byte ^ 0x80) instead: its magnitude is the unsigned operand and the
//         activation takes the weight's sign (`vpsignb`). 2·128·127 = 32,512: one chunk per
//         widening, and no −128·sx correction.
//
// AVX2 has 16 vector registers, not 32: batches go four activation rows at a time (8 operands,
// 4 accumulators and the widening constant), not eight as with VNNI.
// Machine code checked with objdump (BENCHMARKS.md, "AVX2 kernels").

/// The instruction-level helpers; the operands' unpacking and the conversions are shared with the
/// VNNI kernels (TileOperands+x86.swift).
enum AVX2 {
    /// The 4 bytes at x in every 32-bit lane (`vpbroadcastd`).
    @inline(__always)
    static func broadcast(_ x: UnsafeRawPointer) -> SIMD4<Int64> {
        unsafeBitCast(SIMD8<Int32>(repeating: x.loadUnaligned(as: Int32.self)), to: SIMD4<Int64>.self)
    }

    /// Unsigned bytes of w × signed bytes of x, adjacent pairs summed into 16-bit lanes.
    @inline(__always)
    static func products(_ w: SIMD4<Int64>, _ x: SIMD4<Int64>) -> SIMD16<Int16> {
        unsafeBitCast(_mm256_maddubs_epi16(w, x), to: SIMD16<Int16>.self)
    }

    /// Unsigned bytes of w × the 4 signed bytes at x, broadcast: row r in lanes 2r and 2r + 1.
    @inline(__always)
    static func products(_ w: SIMD4<Int64>, _ x: UnsafeRawPointer) -> SIMD16<Int16> { products(w, broadcast(x)) }

    /// Each row's two 16-bit lanes added into its 32-bit lane (`vpmaddwd` by ones).
    @inline(__always)
    static func widen(_ s: SIMD16<Int16>) -> SIMD8<Int32> {
        let ones = unsafeBitCast(SIMD16<Int16>(repeating: 1), to: SIMD4<Int64>.self)
        return unsafeBitCast(_mm256_madd_epi16(unsafeBitCast(s, to: SIMD4<Int64>.self), ones), to: SIMD8<Int32>.self)
    }

    /// Σ signed weight · activation over one chunk, per row; `stored` holds weight + 128 (Q8_0).
    @inline(__always)
    static func signedChunk(_ stored: SIMD4<Int64>, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let signed = stored ^ SIMD4<Int64>(repeating: Int64(bitPattern: 0x8080_8080_8080_8080))
        return widen(products(_mm256_abs_epi8(signed), _mm256_sign_epi8(broadcast(x), signed)))
    }

    /// Σ over a block of nibble · activation byte, per row: all 8 chunks summed in 16 bits.
    @inline(__always)
    static func nibbleDot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let s = (products(o.c0, x) &+ products(o.c1, x + 4)) &+ (products(o.c2, x + 8) &+ products(o.c3, x + 12))
        let t = (products(o.c4, x + 16) &+ products(o.c5, x + 20)) &+ (products(o.c6, x + 24) &+ products(o.c7, x + 28))
        return widen(s &+ t)
    }

    /// The same for five-bit quants: 4 chunks per widening.
    @inline(__always)
    static func fiveBitDot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let s = (products(o.c0, x) &+ products(o.c1, x + 4)) &+ (products(o.c2, x + 8) &+ products(o.c3, x + 12))
        let t = (products(o.c4, x + 16) &+ products(o.c5, x + 20)) &+ (products(o.c6, x + 24) &+ products(o.c7, x + 28))
        return widen(s) &+ widen(t)
    }
}

protocol AVX2Tile {
    static var tileBytes: Int { get }
    static func operands(_ t: UnsafeRawPointer) -> TileOperands
    /// Σ over the block of the kernel's quant · activation byte, per row (activation block at x).
    static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32>
    /// acc += this block's contribution, given the tile, isum, dx and sx.
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float)
}

enum AVX2Q4_0: AVX2Tile {
    static var tileBytes: Int { 144 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .nibbles(t + 16) }
    @inline(__always) static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> { AVX2.nibbleDot(o, x) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateOffsetBlock(&acc, t, isum, dx: dx, sx: sx, offset: 8)
    }
}

enum AVX2Q4_1: AVX2Tile {
    static var tileBytes: Int { 160 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .nibbles(t + 32) }
    @inline(__always) static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> { AVX2.nibbleDot(o, x) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateMinimumBlock(&acc, t, isum, dx: dx, sx: sx)
    }
}

/// Q8_0: the operands are the stored bytes (weight + 128); `dot` gives Σ weight · x itself.
enum AVX2Q8_0: AVX2Tile {
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
    static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let s = (AVX2.signedChunk(o.c0, x) &+ AVX2.signedChunk(o.c1, x + 4)) &+ (AVX2.signedChunk(o.c2, x + 8) &+ AVX2.signedChunk(o.c3, x + 12))
        let t = (AVX2.signedChunk(o.c4, x + 16) &+ AVX2.signedChunk(o.c5, x + 20)) &+ (AVX2.signedChunk(o.c6, x + 24) &+ AVX2.signedChunk(o.c7, x + 28))
        return s &+ t
    }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        acc.addProduct(halves(t), toFloat(isum) * dx)
    }
}

enum AVX2Q5_0: AVX2Tile {
    static var tileBytes: Int { 176 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .fiveBits(t + 16) }
    @inline(__always) static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> { AVX2.fiveBitDot(o, x) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateOffsetBlock(&acc, t, isum, dx: dx, sx: sx, offset: 16)
    }
}

enum AVX2Q5_1: AVX2Tile {
    static var tileBytes: Int { 192 }
    @inline(__always) static func operands(_ t: UnsafeRawPointer) -> TileOperands { .fiveBits(t + 32) }
    @inline(__always) static func dot(_ o: TileOperands, _ x: UnsafeRawPointer) -> SIMD8<Int32> { AVX2.fiveBitDot(o, x) }
    @inline(__always)
    static func accumulate(_ acc: inout SIMD8<Float>, _ t: UnsafeRawPointer, _ isum: SIMD8<Int32>, dx: Float, sx: Float) {
        accumulateMinimumBlock(&acc, t, isum, dx: dx, sx: sx)
    }
}

enum AVX2Kernels {
    static func multiply(_ encoding: WeightEncoding, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                         values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                         halfSums: UnsafePointer<Float>?, rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        switch encoding {
        case .q4_K: AVX2KQuant.multiplyQ4K(w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        case .q6_K:
            guard let halfSums else { preconditionFailure("Q6_K tiles need the activations' half sums") }
            AVX2KQuant.multiplyQ6K(w, groups: groups, columns: k, values: values, scales: scales, halfSums: halfSums, rows: n, into: y, ldy: ldy)
        case .q4_0: multiply(AVX2Q4_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        case .q4_1: multiply(AVX2Q4_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        case .q8_0: multiply(AVX2Q8_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        case .q5_0: multiply(AVX2Q5_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        case .q5_1: multiply(AVX2Q5_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
        default: break
        }
    }

    static func multiply<T: AVX2Tile>(_: T.Type, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                      rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        let nb = k / 32
        for g in groups {
            let tiles = w + g * nb * T.tileBytes
            var i = 0
            while i + 4 <= n {
                rows4(T.self, 4, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8, ldy: ldy)
                i += 4
            }
            // The last 2 or 3 rows in one pass that unpacks each tile once (a 3-row speculative
            // check cost three 1-row passes before); a last single row takes the decode kernel.
            if n - i >= 2 {
                rows4(T.self, n - i, tiles, blocks: nb, k: k, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8, ldy: ldy)
            } else if i < n {
                row1(T.self, tiles, blocks: nb, values + i * k, scales + i * nb, sums + i * nb, y + i * ldy + g * 8)
            }
        }
    }

    /// One group's 8 rows · one activation row (decode).
    @inline(__always)
    static func row1<T: AVX2Tile>(_: T.Type, _ tiles: UnsafeRawPointer, blocks nb: Int, _ x: UnsafePointer<Int8>,
                                  _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        var acc = SIMD8<Float>()
        var t = tiles
        for b in 0..<nb {
            T.accumulate(&acc, t, T.dot(T.operands(t), UnsafeRawPointer(x + b * 32)), dx: dx[b], sx: sx[b])
            t += T.tileBytes
        }
        UnsafeMutableRawPointer(y).storeBytes(of: acc, as: SIMD8<Float>.self)
    }

    /// One group's 8 rows · `count` (2–4) activation rows (`k` bytes apart): the operands are
    /// unpacked once per tile and shared.
    @inline(__always)
    static func rows4<T: AVX2Tile>(_: T.Type, _ count: Int, _ tiles: UnsafeRawPointer, blocks nb: Int, k: Int, _ x: UnsafePointer<Int8>,
                                   _ dx: UnsafePointer<Float>, _ sx: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
        var t = tiles
        let x0 = UnsafeRawPointer(x), x1 = x0 + k, x2 = x1 + k, x3 = x2 + k
        for b in 0..<nb {
            let ops = T.operands(t)
            let o = b * 32
            T.accumulate(&a0, t, T.dot(ops, x0 + o), dx: dx[b], sx: sx[b])
            T.accumulate(&a1, t, T.dot(ops, x1 + o), dx: dx[b + nb], sx: sx[b + nb])
            // Folded away where count is a literal 4; predictable branches in the remainder's copy.
            if count > 2 { T.accumulate(&a2, t, T.dot(ops, x2 + o), dx: dx[b + 2 * nb], sx: sx[b + 2 * nb]) }
            if count > 3 { T.accumulate(&a3, t, T.dot(ops, x3 + o), dx: dx[b + 3 * nb], sx: sx[b + 3 * nb]) }
            t += T.tileBytes
        }
        KQuantTiles.storeRows(a0, a1, a2, a3, count, y, ldy)
    }
}
#endif
