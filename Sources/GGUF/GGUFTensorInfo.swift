/// One metadata entry, in file order.
public struct GGUFKeyValue: Sendable {
    public let key: String
    public let value: GGUFValue
    /// Byte offset of the key (its u64 length field) in the file.
    public let offset: Int
}

/// One tensor's info record. Its data are `byteCount` bytes at `offset` in the data section.
///
///     file:  … | tensor infos | pad | data section ……………………………………… |
///                                    ^ dataOffset
///                                    |<- offset ->|<- byteCount ->|
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `dimensions[0]` is the row length (fastest varying). Never empty, all positive.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Relative to the start of the tensor data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int
    /// Where this tensor's info record starts in the file.
    public let infoOffset: Int

    public var rowLength: Int { dimensions[0] }
    public var rowCount: Int { elementCount / rowLength }
}

/// Shape arithmetic shared by the reader and the writer, overflow-checked throughout.
enum TensorShape {
    /// Element and byte counts of a tensor whose dimensions are already known to be positive.
    /// Problems are reported at `offset` (the tensor's dimension count in the file).
    static func sizes(tensor: String, dimensions: [Int], type: GGMLType,
                      offset: Int) throws(GGUFError) -> (elements: Int, bytes: Int) {
        var elements = 1
        for dimension in dimensions {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw GGUFError(.elementCountOverflow(tensor: tensor), offset: offset) }
            elements = product
        }
        // ggml lays tensors out row by row in whole blocks: a row may not end mid-block.
        guard dimensions[0] % type.blockSize == 0 else {
            throw GGUFError(.rowNotWholeBlocks(tensor: tensor, rowLength: dimensions[0], type: type), offset: offset)
        }
        let (bytes, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else { throw GGUFError(.byteCountOverflow(tensor: tensor), offset: offset) }
        return (elements, bytes)
    }
}

/// Rounds `value` up to a multiple of `alignment` (a power of two), or nil on overflow.
func alignUp(_ value: Int, to alignment: Int) -> Int? {
    let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
    return overflow ? nil : sum & ~(alignment - 1)
}
