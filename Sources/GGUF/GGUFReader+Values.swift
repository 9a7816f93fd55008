extension GGUFValueType {
    /// Bytes of one value in the file, or nil for strings (u64 length + bytes) and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take: a string needs at least its u64 length.
    var minimumSize: Int { fixedSize ?? 8 }
}

extension GGUFReader {
    /// One metadata value: u32 type, then the value. Arrays are read with a loop per element type,
    /// never by recursion (nested arrays are rejected).
    mutating func value(key: String) throws(GGUFError) -> GGUFValue {
        let typeOffset = position
        let raw = try u32()
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.unknownValueType(key: key, raw: raw), offset: typeOffset)
        }
        switch type {
        case .uint8: return .uint8(try u8())
        case .int8: return .int8(Int8(bitPattern: try u8()))
        case .uint16: return .uint16(try scalar(UInt16.self))
        case .int16: return .int16(try scalar(Int16.self))
        case .uint32: return .uint32(try u32())
        case .int32: return .int32(try scalar(Int32.self))
        case .uint64: return .uint64(try u64())
        case .int64: return .int64(try scalar(Int64.self))
        case .float32: return .float32(Float(bitPattern: try u32()))
        case .float64: return .float64(Double(bitPattern: try u64()))
        case .bool: return .bool(try bool(key: key))
        case .string: return .string(try string())
        case .array: return .array(try array(key: key))
        }
    }

    /// Bool is one byte that must be 0 or 1 (any other byte would be a corrupt file, and loading it
    /// into a Swift Bool directly would be undefined behaviour).
    mutating func bool(key: String) throws(GGUFError) -> Bool {
        let offset = position
        let byte = try u8()
        guard byte <= 1 else { throw GGUFError(.invalidBool(key: key, raw: byte), offset: offset) }
        return byte == 1
    }

    /// u32 element type, u64 count, then the elements.
    mutating func array(key: String) throws(GGUFError) -> GGUFArray {
        let typeOffset = position
        let raw = try u32()
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.unknownArrayElementType(key: key, raw: raw), offset: typeOffset)
        }
        guard type != .array else { throw GGUFError(.nestedArray(key: key), offset: typeOffset) }

        // Every element takes at least `minimumSize` bytes, so a count beyond bytesLeft / minimumSize
        // is a lie: reject it before allocating anything from it.
        let countOffset = position
        let rawCount = try u64()
        guard rawCount <= UInt64(bytesLeft / type.minimumSize) else {
            throw GGUFError(.arrayTooLong(key: key, count: rawCount, elementType: type, bytesLeft: bytesLeft),
                            offset: countOffset)
        }
        let count = Int(rawCount)

        switch type {
        case .uint8: return .uint8(plainArray(count: count, of: UInt8.self))
        case .int8: return .int8(plainArray(count: count, of: Int8.self))
        case .uint16: return .uint16(plainArray(count: count, of: UInt16.self))
        case .int16: return .int16(plainArray(count: count, of: Int16.self))
        case .uint32: return .uint32(plainArray(count: count, of: UInt32.self))
        case .int32: return .int32(plainArray(count: count, of: Int32.self))
        case .uint64: return .uint64(plainArray(count: count, of: UInt64.self))
        case .int64: return .int64(plainArray(count: count, of: Int64.self))
        case .float32: return .float32(plainArray(count: count, of: Float.self))
        case .float64: return .float64(plainArray(count: count, of: Double.self))
        case .bool:
            var values: [Bool] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try bool(key: key)) }
            return .bool(values)
        case .string:
            var values: [String] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try string()) }
            return .string(values)
        case .array:
            throw GGUFError(.nestedArray(key: key), offset: typeOffset)   // unreachable: rejected above
        }
    }
}
