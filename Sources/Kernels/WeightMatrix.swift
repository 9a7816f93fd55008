import Quant

/// How a weight matrix's rows are stored.
public enum WeightFormat: Sendable, Equatable {
    case f32, q8_0, q4_0, q4_1

    /// Bytes of one row of `columns` weights.
    public func rowBytes(columns: Int) -> Int {
        switch self {
        case .f32: return columns * 4
        case .q8_0: return columns / 32 * 34
        case .q4_0: return columns / 32 * 18
        case .q4_1: return columns / 32 * 20
        }
    }

    public var encoding: WeightEncoding {
        switch self {
        case .f32: return .f32
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        }
    }
}

/// A weight matrix of `rows` outputs × `columns` inputs, row-major as GGUF stores it (GGUF shape
/// [columns, rows]). Quantized matrices are views into the model file's memory map.
public struct WeightMatrix: @unchecked Sendable {
    public let format: WeightFormat
    public let data: UnsafeRawPointer
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int

    public init(format: WeightFormat, data: UnsafeRawPointer, rows: Int, columns: Int) {
        self.format = format
        self.data = data
        self.rows = rows
        self.columns = columns
        rowBytes = format.rowBytes(columns: columns)
    }

    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Dequantizes rows `first ..< first + count` into `out` (count × columns floats).
    public func dequantizeRows(_ first: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<count {
            dequantize(format.encoding, row(first + r), into: out + r * columns, count: columns)
        }
    }
}
