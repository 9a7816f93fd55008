/// Everything a GGUF header says, validated: the reader's result, and the writer's self-check.
struct GGUFContents {
    var version: UInt32
    var alignment: Int
    var metadata: [GGUFKeyValue]
    var keyIndex: [String: Int]
    var tensors: [GGUFTensorInfo]
    var tensorIndex: [String: Int]
    var dataOffset: Int

    /// Parses the header in `bytes` (which must hold at least all metadata and tensor infos) and
    /// checks every tensor's data against `fileSize`; the file is the reader's map, the writer
    /// passes its header and the size the file will have.
    static func parse(_ bytes: UnsafeRawBufferPointer, fileSize: Int) throws(GGUFError) -> GGUFContents {
        var reader = GGUFReader(bytes)
        let (version, tensorCount, keyValueCount) = try header(&reader)
        let (metadata, keyIndex) = try keyValues(&reader, count: keyValueCount)
        let alignment = try alignment(metadata, keyIndex)

        var records: [TensorRecord] = []
        records.reserveCapacity(tensorCount)   // checked against the bytes left in header()
        var tensorIndex: [String: Int] = [:]
        for index in 0..<tensorCount {
            let record = try tensorRecord(&reader)
            guard tensorIndex[record.name] == nil else {
                throw GGUFError(.duplicateTensorName(record.name), offset: record.infoOffset)
            }
            tensorIndex[record.name] = index
            records.append(record)
        }

        guard let dataOffset = alignUp(reader.position, to: alignment) else {
            throw GGUFError(.unexpectedEnd(needed: alignment, bytesLeft: reader.bytesLeft), offset: reader.position)
        }
        let tensors = try place(records, dataOffset: dataOffset, alignment: alignment, fileSize: fileSize)
        return GGUFContents(version: version, alignment: alignment, metadata: metadata, keyIndex: keyIndex,
                            tensors: tensors, tensorIndex: tensorIndex, dataOffset: dataOffset)
    }

    /// Magic, version, and the two counts, each checked against the bytes that must hold them.
    private static func header(_ reader: inout GGUFReader) throws(GGUFError) -> (UInt32, Int, Int) {
        guard reader.bytes.count >= GGUFLayout.headerSize else {
            throw GGUFError(.fileTooShort(size: reader.bytes.count), offset: 0)
        }
        let magic = try reader.u32()
        guard magic == GGUFLayout.magic else { throw GGUFError(.badMagic(magic), offset: 0) }
        let version = try reader.u32()
        guard version == 2 || version == 3 else {
            // A big-endian writer stores 3 as 03 00 00 00 reversed; the low 16 bits are then zero,
            // which no plausible little-endian version has.
            let kind: GGUFError.Kind = version & 0xFFFF == 0 && (1...3).contains(version.byteSwapped)
                ? .bigEndianFile(version: version) : .unsupportedVersion(version)
            throw GGUFError(kind, offset: 4)
        }

        let tensorCount = try reader.u64()
        let keyValueCount = try reader.u64()
        // Reject counts that cannot fit before allocating anything sized by them.
        let left = reader.bytesLeft
        guard tensorCount <= UInt64(left / GGUFLayout.minTensorInfoBytes) else {
            throw GGUFError(.tensorCountTooLarge(count: tensorCount, bytesLeft: left), offset: 8)
        }
        let leftForMetadata = left - Int(tensorCount) * GGUFLayout.minTensorInfoBytes
        guard keyValueCount <= UInt64(leftForMetadata / GGUFLayout.minKeyValueBytes) else {
            throw GGUFError(.metadataCountTooLarge(count: keyValueCount, bytesLeft: leftForMetadata), offset: 16)
        }
        return (version, Int(tensorCount), Int(keyValueCount))
    }

    private static func keyValues(_ reader: inout GGUFReader,
                                  count: Int) throws(GGUFError) -> ([GGUFKeyValue], [String: Int]) {
        var metadata: [GGUFKeyValue] = []
        metadata.reserveCapacity(count)   // checked in header()
        var index: [String: Int] = [:]
        for position in 0..<count {
            let keyOffset = reader.position
            let key = try reader.string()
            guard !key.isEmpty else { throw GGUFError(.emptyKey, offset: keyOffset) }
            // Swift compares strings by canonical equivalence, so two keys that differ only in Unicode
            // normalization count as duplicates too: stricter than ggml's byte comparison, and it
            // keeps lookups by key unambiguous.
            guard index[key] == nil else { throw GGUFError(.duplicateKey(key), offset: keyOffset) }
            let value = try reader.value(key: key)
            index[key] = position
            metadata.append(GGUFKeyValue(key: key, value: value, offset: keyOffset))
        }
        return (metadata, index)
    }

    /// `general.alignment`, if present, must be a u32 power of two no larger than 1 MiB.
    private static func alignment(_ metadata: [GGUFKeyValue], _ index: [String: Int]) throws(GGUFError) -> Int {
        guard let position = index["general.alignment"] else { return GGUFLayout.defaultAlignment }
        let entry = metadata[position]
        guard case .uint32(let value) = entry.value else {
            throw GGUFError(.wrongType(key: entry.key, expected: "u32", found: entry.value.typeName), offset: entry.offset)
        }
        guard value != 0, value & (value - 1) == 0 else {
            throw GGUFError(.alignmentNotPowerOfTwo(value), offset: entry.offset)
        }
        guard value <= GGUFLayout.maxAlignment else {
            throw GGUFError(.alignmentTooLarge(value), offset: entry.offset)
        }
        return Int(value)
    }

    /// A tensor info as read, before its offset is checked against its neighbours and the file.
    private struct TensorRecord {
        var name: String
        var dimensions: [Int]
        var type: GGMLType
        var elementCount: Int
        var byteCount: Int
        var offset: UInt64
        var infoOffset: Int
        var offsetFieldOffset: Int
    }

    /// name, u32 n_dims, n_dims × u64 dims, u32 type, u64 offset.
    private static func tensorRecord(_ reader: inout GGUFReader) throws(GGUFError) -> TensorRecord {
        let infoOffset = reader.position
        let nameLength = try reader.stringLength()
        guard nameLength <= GGUFLayout.maxTensorNameBytes else {
            let prefix = reader.lossyText(count: 32)
            throw GGUFError(.tensorNameTooLong(prefix: prefix, length: nameLength), offset: infoOffset)
        }
        let name = try reader.utf8(count: nameLength)

        let shapeOffset = reader.position
        let dimensionCount = try reader.u32()
        guard dimensionCount > 0 else { throw GGUFError(.noDimensions(tensor: name), offset: shapeOffset) }
        guard dimensionCount <= GGUFLayout.maxDimensions else {
            throw GGUFError(.tooManyDimensions(tensor: name, count: dimensionCount), offset: shapeOffset)
        }
        var dimensions: [Int] = []
        dimensions.reserveCapacity(Int(dimensionCount))
        for index in 0..<Int(dimensionCount) {
            let dimensionOffset = reader.position
            let raw = try reader.u64()
            // Dimensions are i64 in ggml: above Int64.max they are negative.
            guard raw != 0, raw <= UInt64(Int64.max) else {
                throw GGUFError(.invalidDimension(tensor: name, index: index, value: raw), offset: dimensionOffset)
            }
            dimensions.append(Int(raw))
        }

        let typeOffset = reader.position
        let rawType = try reader.u32()
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError(.unknownTensorType(tensor: name, raw: rawType), offset: typeOffset)
        }
        let (elements, bytes) = try TensorShape.sizes(tensor: name, dimensions: dimensions, type: type,
                                                      offset: shapeOffset)
        let offsetFieldOffset = reader.position
        let offset = try reader.u64()
        return TensorRecord(name: name, dimensions: dimensions, type: type, elementCount: elements,
                            byteCount: bytes, offset: offset, infoOffset: infoOffset,
                            offsetFieldOffset: offsetFieldOffset)
    }

    /// Checks each tensor's data: aligned, after the previous tensor's data, inside the file.
    /// Offset problems are reported at the tensor's offset field; a short file at the data's start.
    private static func place(_ records: [TensorRecord], dataOffset: Int, alignment: Int,
                              fileSize: Int) throws(GGUFError) -> [GGUFTensorInfo] {
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(records.count)
        var previousOffset = 0
        var previousEnd = 0
        for record in records {
            let name = record.name
            guard record.offset % UInt64(alignment) == 0 else {
                throw GGUFError(.tensorOffsetUnaligned(tensor: name, offset: record.offset, alignment: alignment),
                                offset: record.offsetFieldOffset)
            }
            guard record.offset >= UInt64(previousOffset) else {
                throw GGUFError(.tensorOutOfOrder(tensor: name, offset: record.offset, previousOffset: previousOffset),
                                offset: record.offsetFieldOffset)
            }
            guard record.offset >= UInt64(previousEnd) else {
                throw GGUFError(.tensorOverlap(tensor: name, offset: record.offset, previousEnd: previousEnd),
                                offset: record.offsetFieldOffset)
            }
            let (start, startOverflow) = UInt64(dataOffset).addingReportingOverflow(record.offset)
            let (end, endOverflow) = start.addingReportingOverflow(UInt64(record.byteCount))
            guard !startOverflow, !endOverflow, end <= UInt64(fileSize) else {
                let reported = startOverflow ? UInt64.max : start
                throw GGUFError(.tensorDataPastEnd(tensor: name, start: reported, byteCount: record.byteCount,
                                                   fileSize: fileSize),
                                offset: Int(min(reported, UInt64(fileSize))))
            }
            // Now known to lie inside the file, so these fit in Int.
            let offset = Int(record.offset)
            previousOffset = offset
            previousEnd = offset + record.byteCount
            tensors.append(GGUFTensorInfo(name: name, dimensions: record.dimensions, type: record.type,
                                          offset: offset, elementCount: record.elementCount,
                                          byteCount: record.byteCount, infoOffset: record.infoOffset))
        }
        return tensors
    }
}

extension GGUFValue {
    /// The type as messages and `describe` print it: "u32", "string", "[i32]".
    var typeName: String {
        if case .array(let array) = self { return "[\(array.elementType)]" }
        return type.description
    }
}
