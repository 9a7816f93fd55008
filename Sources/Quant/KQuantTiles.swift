import LLMBase

// K-quant weights re-laid-out at load for the tile kernels (VNNI, AVX2, NEON), as `InterleavedLayout` does for the
// 32-weight formats: 8 rows per tile, one tile per super-block of 256 weights, the quants of each
// 32-weight block arranged as Q4_0's interleaved nibble vectors (vector p: bytes 4r..4r+3 hold row
// r's weights 4p..4p+3 in their low nibbles and 16+4p..16+4p+3 in their high nibbles), so one
// `vpdpbusd` multiplies 4 weights of each of 8 rows by 4 broadcast activation bytes. The small
// integer scales are stored row-minor, so the 8 rows' scales of a sub-block are read together.
// Exact: the same integers and half scales as the file, and the same size.
//
//   Q4_K (1152 bytes): | d: 8 × f16 | dmin: 8 × f16 | the 12 packed scale bytes of each row as three
//                      32-bit words, word w of row r at 32 + 32w + 4r | 8 × 128 bytes: nibbles |
//   Q6_K (1680 bytes): | d: 8 × f16 | sc[16 sub-blocks of 16][8 rows] i8 |
//                      | 8 × 192 bytes: each 32-block's low nibbles (128) and top two bits (64) |
//
// Q6_K's top bits: byte 4r + j of the first 32 bytes holds, in bits 2c…2c+1, the top bits of row
// r's weight 4c + j for chunks c = 0…3 (weights 0…15); the second 32 bytes do the same for chunks
// 4…7 (weights 16…31). Quants are stored unsigned (0…63), the weight being q − 32.
//
// Paired rows (`InterleavedLayout.pairedRows`, for `smmla`): the nibble vectors in row pairs as
// there (`InterleavedLayout.operandOffset`), and Q6_K's 64 bytes of top bits as one 16-byte
// register per row pair: row r's weight i in byte 16·(r/2) + 8·(r%2) + i%8, bits 2f…2f+1 with
// f = 2·(i/16) + (i%16)/8 (`topBits`).
//
// Q4_K's 6-bit scales stay packed as in the file (`get_scale_min_k4`'s layout), unpacked for 8
// rows at once with 32-bit lane shifts and masks. Q6_K's 8-bit scales are one byte per row.
public enum KQuantTiles {
    public static func tileBytes(_ e: WeightEncoding) -> Int? {
        switch e {
        case .q4_K: return 1152
        case .q6_K: return 1680
        default: return nil
        }
    }

    /// Re-lays out GGUF rows (`rowBytes` apart) of row groups `groups` into `dst` (the whole matrix).
    /// Where Q6_K's top two bits of row r's weight i (0..<32) are, in the 64 bytes after a
    /// 32-block's nibbles.
    @inlinable
    public static func topBits(row r: Int, weight i: Int, paired: Bool) -> (offset: Int, shift: Int) {
        let k = i % 16
        guard paired else { return (32 * (i / 16) + 4 * r + k % 4, 2 * (k / 4)) }
        return (16 * (r / 2) + 8 * (r % 2) + k % 8, 2 * (2 * (i / 16) + k / 8))
    }

    public static func repack(_ e: WeightEncoding, _ src: UnsafeRawPointer, rowBytes: Int, groups: Range<Int>,
                              columns: Int, into dst: UnsafeMutableRawPointer, paired: Bool = InterleavedLayout.pairedRows) {
        guard let tile = tileBytes(e) else { return }
        let nb = columns / 256
        var q = [UInt8](repeating: 0, count: 256)
        for g in groups {
            for b in 0..<nb {
                let t = dst + (g * nb + b) * tile
                for r in 0..<8 {
                    let block = src + (g * 8 + r) * rowBytes + b * e.blockBytes
                    switch e {
                    case .q4_K:
                        t.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
                        t.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * r, as: UInt16.self)
                        for w in 0..<3 {
                            t.storeBytes(of: block.loadUnaligned(fromByteOffset: 4 + 4 * w, as: UInt32.self), toByteOffset: 32 + 32 * w + 4 * r, as: UInt32.self)
                        }
                        for i in 0..<256 { q[i] = UInt8(Q4_K.element(block, i).q) }
                        for s in 0..<8 { storeNibbles(q, from: 32 * s, row: r, into: t + 128 + 128 * s, paired: paired) }
                    default:   // Q6_K
                        t.storeBytes(of: block.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
                        for s in 0..<16 {
                            t.storeBytes(of: block.load(fromByteOffset: 192 + s, as: UInt8.self), toByteOffset: 16 + 8 * s + r, as: UInt8.self)
                        }
                        for i in 0..<256 { q[i] = UInt8(Q6_K.element(block, i).q + 32) }
                        for a in 0..<8 {
                            let sub = t + 144 + 192 * a
                            storeNibbles(q, from: 32 * a, row: r, into: sub, paired: paired)
                            // The top-bit bytes are shared by rows: cleared before the tile's first row.
                            if r == 0 { (sub + 128).initializeMemory(as: UInt8.self, repeating: 0, count: 64) }
                            for i in 0..<32 {
                                let (offset, shift) = topBits(row: r, weight: i, paired: paired)
                                let byte = sub + 128 + offset
                                byte.storeBytes(of: byte.load(as: UInt8.self) | (q[32 * a + i] >> 4) << UInt8(shift), as: UInt8.self)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stores a tile's 8 outputs for `count` activation rows (1–4; 4 for more), `ldy` floats
    /// apart: the end of every ISA's tile kernels.
    @inline(__always)
    static func storeRows(_ a0: SIMD8<Float>, _ a1: SIMD8<Float>, _ a2: SIMD8<Float>, _ a3: SIMD8<Float>, _ count: Int,
                          _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let out = UnsafeMutableRawPointer(y)
        out.storeBytes(of: a0, as: SIMD8<Float>.self)
        guard count >= 2 else { return }
        (out + 4 * ldy).storeBytes(of: a1, as: SIMD8<Float>.self)
        guard count >= 3 else { return }
        (out + 8 * ldy).storeBytes(of: a2, as: SIMD8<Float>.self)
        guard count >= 4 else { return }
        (out + 12 * ldy).storeBytes(of: a3, as: SIMD8<Float>.self)
    }

    /// Row r's 32 quants q[from..<from+32] (low 4 bits) as Q4_0's interleaved nibble vectors.
    static func storeNibbles(_ q: [UInt8], from: Int, row r: Int, into v: UnsafeMutableRawPointer, paired: Bool) {
        for k in 0..<16 {
            let byte = (q[from + k] & 0x0F) | (q[from + 16 + k] & 0x0F) << 4
            v.storeBytes(of: byte, toByteOffset: InterleavedLayout.operandOffset(row: r, byte: k, paired: paired), as: UInt8.self)
        }
    }

    /// The quant of weight i (0..<32) of 32-block `a` of row r, read back from a tile (unsigned:
    /// Q4_K 0…15, Q6_K 0…63).
    @inlinable
    public static func quant(_ e: WeightEncoding, tile t: UnsafeRawPointer, block a: Int, row r: Int, index i: Int,
                             paired: Bool = InterleavedLayout.pairedRows) -> Int32 {
        let base = e == .q4_K ? 128 + 128 * a : 144 + 192 * a
        let low = i < 16, k = low ? i : i - 16
        let byte = t.load(fromByteOffset: base + InterleavedLayout.operandOffset(row: r, byte: k, paired: paired), as: UInt8.self)
        let nibble = Int32(low ? byte & 0x0F : byte >> 4)
        guard e == .q6_K else { return nibble }
        let (offset, shift) = topBits(row: r, weight: i, paired: paired)
        let top = t.load(fromByteOffset: base + 128 + offset, as: UInt8.self)
        return nibble | Int32((top >> UInt8(shift)) & 3) << 4
    }

    /// Row r's scale and minimum of sub-block s in a Q4_K tile.
    static func q4kScaleMin(_ t: UnsafeRawPointer, row r: Int, subBlock s: Int) -> (scale: UInt8, min: UInt8) {
        var packed = (t.loadUnaligned(fromByteOffset: 32 + 4 * r, as: UInt32.self),
                      t.loadUnaligned(fromByteOffset: 64 + 4 * r, as: UInt32.self),
                      t.loadUnaligned(fromByteOffset: 96 + 4 * r, as: UInt32.self))
        return withUnsafeBytes(of: &packed) { scaleMinK4(s, $0.baseAddress!) }
    }

    /// Row `row` of a tiled matrix, dequantized (`columns` floats).
    public static func dequantizeRow(_ e: WeightEncoding, _ matrix: UnsafeRawPointer, row: Int, columns: Int,
                                     into out: UnsafeMutablePointer<Float>, paired: Bool = InterleavedLayout.pairedRows) {
        guard let tile = tileBytes(e) else { return }
        let nb = columns / 256, g = row / 8, r = row % 8
        for b in 0..<nb {
            let t = matrix + (g * nb + b) * tile
            let d = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 2 * r, as: UInt16.self))
            for a in 0..<8 {
                for i in 0..<32 {
                    let q = Float(quant(e, tile: t, block: a, row: r, index: i, paired: paired))
                    let y: Float
                    if e == .q4_K {
                        let dmin = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 16 + 2 * r, as: UInt16.self))
                        let (sc, m) = q4kScaleMin(t, row: r, subBlock: a)
                        y = d * Float(sc) * q - dmin * Float(m)
                    } else {
                        let sc = Float(t.load(fromByteOffset: 16 + 8 * (2 * a + i / 16) + r, as: Int8.self))
                        y = d * sc * (q - 32)
                    }
                    out[b * 256 + 32 * a + i] = y
                }
            }
        }
    }

    /// The scalar twin of the VNNI kernels: y[i·ldy + 8g + r] = row 8g + r · activation row i, with
    /// activations scaled per 256 (`quantizeActivationsK`; `halfSums` are dx·Σx per 16, needed by
    /// Q6_K's offset of 32), element by element.
    public static func multiplyScalar(_ e: WeightEncoding, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                      halfSums: UnsafePointer<Float>, rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard let tile = tileBytes(e) else { return }
        let nb = k / 256, n32 = k / 32
        for i in 0..<n {
            for g in groups {
                for r in 0..<8 {
                    var total: Float = 0
                    for b in 0..<nb {
                        let t = w + (g * nb + b) * tile
                        let d = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 2 * r, as: UInt16.self))
                        for a in 0..<8 {
                            let blk = b * 8 + a
                            let dx = scales[i * n32 + blk]
                            var lo: Int32 = 0, hi: Int32 = 0
                            for j in 0..<32 {
                                let p = quant(e, tile: t, block: a, row: r, index: j) * Int32(values[i * k + blk * 32 + j])
                                if j < 16 { lo += p } else { hi += p }
                            }
                            if e == .q4_K {
                                let dmin = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 16 + 2 * r, as: UInt16.self))
                                let (sc, m) = q4kScaleMin(t, row: r, subBlock: a)
                                total += d * Float(sc) * dx * Float(lo + hi) - dmin * Float(m) * sums[i * n32 + blk]
                            } else {
                                let s0 = Float(t.load(fromByteOffset: 16 + 8 * (2 * a) + r, as: Int8.self))
                                let s1 = Float(t.load(fromByteOffset: 16 + 8 * (2 * a + 1) + r, as: Int8.self))
                                let h0 = halfSums[i * 2 * n32 + 2 * blk], h1 = halfSums[i * 2 * n32 + 2 * blk + 1]
                                total += d * (s0 * (dx * Float(lo) - 32 * h0) + s1 * (dx * Float(hi) - 32 * h1))
                            }
                        }
                    }
                    y[i * ldy + g * 8 + r] = total
                }
            }
        }
    }
}
