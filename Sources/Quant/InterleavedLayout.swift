import LLMBase

// Weights re-laid-out at load time for the tile kernels (`InterleavedKernels`: VNNI, AVX2, NEON). 8 consecutive
// rows are interleaved block by block, so that one 256-bit `vpdpbusd` multiplies 4 weights of
// each of the 8 rows by the same 4 activation bytes (broadcast), its 8 Int32 lanes are the 8
// rows' partial sums, and a block ends with one conversion and one or two FMAs into 8 row
// outputs — no horizontal sums. (ggml's "repacked" Q4_0 8×8 layout works on the same idea.)
//
// One tile = 8 rows × 1 block of 32 weights. Chunk c (0..<8) covers weights 4c..<4c+4 of a block;
// its operand is 32 bytes, 4 per row: byte 4r + j holds row r's weight 4c + j.
//
//   Q4_0 (144 bytes): | d: 8 × f16 | 4 × 32 bytes of nibbles |
//   Q4_1 (160 bytes): | d: 8 × f16 | m: 8 × f16 | 4 × 32 bytes of nibbles |
//   Q8_0 (272 bytes): | d: 8 × f16 | 8 × 32 bytes: weight + 128 as u8 |
//   Q5_0 (176 bytes): | d: 8 × f16 | 4 × 32 bytes of nibbles | h: 32 bytes of fifth bits |
//   Q5_1 (192 bytes): | d: 8 × f16 | m: 8 × f16 | 4 × 32 bytes of nibbles | h: 32 bytes |
//
// Q4 nibble vectors: vector p (0..<4) holds chunk p in its low nibbles and chunk p + 4 in its
// high nibbles. In GGUF's Q4 block, byte i holds weight i (low) and weight i + 16 (high), so
// vector p's bytes 4r..<4r+4 are exactly row r's quant bytes 4p..<4p+4: the repack moves 4-byte
// groups and touches no nibble. Q8_0 weights are stored offset by 128 (u8), because `vpdpbusd`
// multiplies unsigned by signed bytes: Σ(w + 128)·x = Σw·x + 128·Σx, and dx·Σx is the
// activation block's precomputed sum, so the correction costs one FMA per block like Q4_0's −8.
//
// Q5 fifth bits: byte 4r + j of `h` holds, in bit c, the fifth bit of row r's weight 4c + j —
// the weight that byte 4r + j of chunk c's operand carries — so chunk c's operand is its nibbles
// | ((h >> c) & 1) << 4, two shifts and a mask per chunk.
//
// The same bytes, tiles, sizes and scales as the file: a matrix takes exactly its GGUF size.
//
// Paired rows (`pairedRows`: arm64 builds with the int8 matrix multiply, Graviton 3 and 4): the
// same tiles with the operand bytes in `smmla`'s operand shape instead, a 16-byte register = two
// rows × 8 bytes. Group P of a region's bytes (bytes 8P..<8P+8 of each row) is 64 bytes, rows
// 2p and 2p+1 in register p: row r's byte k at 64·(k/8) + 16·(r/2) + 8·(r%2) + k%8. The bit
// planes follow the registers, so a register's extra bits are one shift and mask away: Q5's
// fifth bit of row r, weight i in byte 16·(r/4) + 8·(r%2) + i%8, bit 4·(r/2 % 2) + 2·(i/16) +
// (i%16)/8 (`fifthBit`). The repack moves bytes and bits only; `quant` reads either layout, so
// the scalar twins and the tests hold both to the file.

public enum InterleavedLayout {
    /// Rows per tile.
    public static let rows = 8

    /// Bytes of one tile (8 rows × 32 weights), or nil for formats without an interleaved layout.
    public static func tileBytes(_ encoding: WeightEncoding) -> Int? {
        switch encoding {
        case .q4_0: return 144
        case .q4_1: return 160
        case .q8_0: return 272
        case .q5_0: return 176
        case .q5_1: return 192
        default: return nil
        }
    }

    /// Whether a matrix of `rows` × `columns` in `encoding` can be interleaved.
    public static func supports(_ encoding: WeightEncoding, rows: Int, columns: Int) -> Bool {
        (tileBytes(encoding) ?? KQuantTiles.tileBytes(encoding)) != nil && rows % Self.rows == 0
            && columns % encoding.blockSize == 0 && rows > 0
    }

    /// Bytes of a whole interleaved matrix (the same as its GGUF bytes; Q4_K's 2.8% more, see
    /// `KQuantTiles`).
    public static func byteCount(_ encoding: WeightEncoding, rows: Int, columns: Int) -> Int {
        (rows / Self.rows) * (columns / encoding.blockSize) * (tileBytes(encoding) ?? KQuantTiles.tileBytes(encoding) ?? 0)
    }

    /// Re-lays out GGUF rows (`rowBytes` apart) of groups `groups` into `dst` (the whole matrix).
    /// Whether this build's kernels take operands in row pairs (`smmla`, SWIFTLET_NEON_I8MM);
    /// the layout's default everywhere. Both layouts can be written and read on any build.
    public static let pairedRows: Bool = {
        #if SWIFTLET_NEON_I8MM
        return true
        #else
        return false
        #endif
    }()

    /// Offset of row r's byte k within a region of operand bytes (Q4 nibble bytes: k < 16; Q8_0
    /// weights: k < 32). The 4 bytes at k…k+3 (k a multiple of 4) are contiguous in both layouts.
    @inlinable
    public static func operandOffset(row r: Int, byte k: Int, paired: Bool) -> Int {
        paired ? 64 * (k / 8) + 16 * (r / 2) + 8 * (r % 2) + k % 8 : 32 * (k / 4) + 4 * r + k % 4
    }

    /// Where Q5's fifth bit of row r's weight i (0..<32) is, in the 32 bytes after the nibbles.
    @inlinable
    public static func fifthBit(row r: Int, weight i: Int, paired: Bool) -> (offset: Int, bit: Int) {
        guard paired else { return (4 * r + i % 4, i / 4) }
        return (16 * (r / 4) + 8 * (r % 2) + i % 8, 4 * ((r / 2) % 2) + 2 * (i / 16) + (i % 16) / 8)
    }

    public static func repack(_ encoding: WeightEncoding, _ src: UnsafeRawPointer, rowBytes: Int,
                              groups: Range<Int>, columns: Int, into dst: UnsafeMutableRawPointer, paired: Bool = pairedRows) {
        if KQuantTiles.tileBytes(encoding) != nil {
            KQuantTiles.repack(encoding, src, rowBytes: rowBytes, groups: groups, columns: columns, into: dst, paired: paired)
            return
        }
        let nb = columns / 32
        guard let tile = tileBytes(encoding) else { return }
        let blockBytes = encoding.blockBytes
        for g in groups {
            for b in 0..<nb {
                let t = dst + (g * nb + b) * tile
                for r in 0..<rows {
                    let block = src + (g * rows + r) * rowBytes + b * blockBytes
                    t.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: 2 * r, as: UInt16.self)
                    switch encoding {
                    case .q4_0:
                        for p in 0..<4 { copy4(block + 2 + 4 * p, t + 16 + operandOffset(row: r, byte: 4 * p, paired: paired)) }
                    case .q4_1:
                        t.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * r, as: UInt16.self)
                        for p in 0..<4 { copy4(block + 4 + 4 * p, t + 32 + operandOffset(row: r, byte: 4 * p, paired: paired)) }
                    case .q5_0, .q5_1:
                        let minimum = encoding == .q5_1 ? 2 : 0
                        if minimum > 0 {
                            t.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * r, as: UInt16.self)
                        }
                        let nibbles = 16 + 16 * (minimum / 2)
                        let qh = block.loadUnaligned(fromByteOffset: 2 + minimum, as: UInt32.self)
                        for p in 0..<4 { copy4(block + 6 + minimum + 4 * p, t + nibbles + operandOffset(row: r, byte: 4 * p, paired: paired)) }
                        // The bit planes are shared by rows: cleared before the tile's first row.
                        if r == 0 { (t + nibbles + 128).initializeMemory(as: UInt8.self, repeating: 0, count: 32) }
                        for i in 0..<32 {
                            let (offset, bit) = fifthBit(row: r, weight: i, paired: paired)
                            let byte = t + nibbles + 128 + offset
                            byte.storeBytes(of: byte.load(as: UInt8.self) | UInt8((qh >> UInt32(i)) & 1) << UInt8(bit), as: UInt8.self)
                        }
                    default:
                        for c in 0..<8 {
                            let word = (block + 2 + 4 * c).loadUnaligned(as: UInt32.self) ^ 0x8080_8080
                            t.storeBytes(of: word, toByteOffset: 16 + operandOffset(row: r, byte: 4 * c, paired: paired), as: UInt32.self)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func copy4(_ from: UnsafeRawPointer, _ to: UnsafeMutableRawPointer) {
        to.storeBytes(of: from.loadUnaligned(as: UInt32.self), as: UInt32.self)
    }

    /// The weight at (row r of its tile, index i of the block), as the integer the kernels
    /// multiply (Q4: the nibble 0...15; Q8_0: the signed weight), and the tile's scale and minimum.
    @inlinable
    public static func quant(_ encoding: WeightEncoding, tile t: UnsafeRawPointer, row r: Int, index i: Int,
                             paired: Bool = pairedRows) -> Int32 {
        switch encoding {
        case .q8_0:
            return Int32(t.load(fromByteOffset: 16 + operandOffset(row: r, byte: i, paired: paired), as: UInt8.self)) - 128
        default:
            let base = encoding == .q4_1 || encoding == .q5_1 ? 32 : 16
            let low = i < 16, k = low ? i : i - 16
            let byte = t.load(fromByteOffset: base + operandOffset(row: r, byte: k, paired: paired), as: UInt8.self)
            let nibble = Int32(low ? byte & 0x0F : byte >> 4)
            guard encoding == .q5_0 || encoding == .q5_1 else { return nibble }
            let (offset, bit) = fifthBit(row: r, weight: i, paired: paired)
            let h = t.load(fromByteOffset: base + 128 + offset, as: UInt8.self)
            return nibble | Int32((h >> UInt8(bit)) & 1) << 4
        }
    }

    /// Dequantizes row `row` of an interleaved matrix into `out` (`columns` floats).
    public static func dequantizeRow(_ encoding: WeightEncoding, _ matrix: UnsafeRawPointer, row: Int, columns: Int,
                                     into out: UnsafeMutablePointer<Float>, paired: Bool = pairedRows) {
        if KQuantTiles.tileBytes(encoding) != nil {
            KQuantTiles.dequantizeRow(encoding, matrix, row: row, columns: columns, into: out, paired: paired)
            return
        }
        guard let tile = tileBytes(encoding) else { return }
        let nb = columns / 32, g = row / rows, r = row % rows
        for b in 0..<nb {
            let t = matrix + (g * nb + b) * tile
            let d = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 2 * r, as: UInt16.self))
            let hasMinimum = encoding == .q4_1 || encoding == .q5_1
            let m = hasMinimum ? floatFromHalfBits(t.loadUnaligned(fromByteOffset: 16 + 2 * r, as: UInt16.self)) : 0
            let offset: Int32 = encoding == .q4_0 ? 8 : (encoding == .q5_0 ? 16 : 0)
            for i in 0..<32 { out[b * 32 + i] = d * Float(quant(encoding, tile: t, row: r, index: i, paired: paired) - offset) + m }
        }
    }
}
