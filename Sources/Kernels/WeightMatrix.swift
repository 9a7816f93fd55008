import Quant

/// A weight matrix of `rows` outputs × `columns` inputs, row-major as GGUF stores it (GGUF shape
/// [columns, rows]). Quantized matrices are views into the model file's memory map.
///
/// `interleaved`, when set, is the same matrix re-laid-out at load for the tile kernels
/// (`InterleavedLayout`); `auto` multiplies with it, and `data` is then read only by the other
/// backends and by row lookups (the token embedding).
public struct WeightMatrix: @unchecked Sendable {
    public let format: WeightEncoding
    public let data: UnsafeRawPointer
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    public let interleaved: UnsafeRawPointer?

    public init(format: WeightEncoding, data: UnsafeRawPointer, rows: Int, columns: Int, interleaved: UnsafeRawPointer? = nil) {
        self.format = format
        self.data = data
        self.rows = rows
        self.columns = columns
        rowBytes = format.rowBytes(columns: columns)
        self.interleaved = interleaved
    }

    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Rows `range` of this matrix as a matrix of their own, a view into the same bytes (Phi-3's
    /// fused Q/K/V and gate/up matrices split into their parts). The interleaved copy comes along
    /// when the split falls on a tile boundary (a multiple of 8 rows); otherwise the view reads the
    /// file's layout.
    public func rows(_ range: Range<Int>) -> WeightMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range outside the matrix")
        let tiles = interleaved.flatMap { base -> UnsafeRawPointer? in
            guard range.lowerBound % InterleavedLayout.rows == 0, range.count % InterleavedLayout.rows == 0 else { return nil }
            return base + (range.lowerBound / InterleavedLayout.rows) * InterleavedLayout.byteCount(format, rows: InterleavedLayout.rows, columns: columns)
        }
        return WeightMatrix(format: format, data: data + range.lowerBound * rowBytes, rows: range.count, columns: columns, interleaved: tiles)
    }

    /// Dequantizes rows `first ..< first + count` into `out` (count × columns floats). Reads the
    /// interleaved copy when there is one: the file's pages of an interleaved matrix were released
    /// at load, and reading scattered embedding rows from the mapping would fault back 64 KiB
    /// around each one (measured: 35 MiB resident after a 512-token prompt).
    public func dequantizeRows(_ first: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        if let tiles = interleaved {
            for r in 0..<count {
                InterleavedLayout.dequantizeRow(format, tiles, row: first + r, columns: columns, into: out + r * columns)
            }
            return
        }
        for r in 0..<count {
            dequantize(format, row(first + r), into: out + r * columns, count: columns)
        }
    }
}
