#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes GGUF v3 (little-endian) that llama.cpp can read: metadata in insertion order, tensor
/// infos in insertion order, each tensor's data padded to the alignment.
///
/// Before a byte is written, the planned header is parsed by the same reader that checks hostile
/// files, so the writer cannot produce a file Swiftlet would reject (duplicate keys, long names …);
/// errors are `GGUFError`s with offsets into the would-be file.
public struct GGUFWriter {
    public let alignment: Int
    private var entries: [(key: String, value: GGUFValue)] = []
    private var pending: [(name: String, type: GGMLType, dimensions: [Int], data: [UInt8])] = []

    public init(alignment: Int = 32) {
        self.alignment = alignment
    }

    /// Adds a metadata entry; entries are written in the order added. `general.alignment` is
    /// written for you when `alignment` is not 32.
    public mutating func add(_ key: String, _ value: GGUFValue) {
        entries.append((key, value))
    }

    /// Adds a tensor whose `data` are already encoded in `type` (whole blocks, row by row).
    public mutating func addTensor(name: String, type: GGMLType, dimensions: [Int], data: [UInt8]) {
        pending.append((name, type, dimensions, data))
    }

    /// The whole file in memory.
    public func serialized() throws -> [UInt8] {
        let plan = try layout()
        var out = plan.header
        out.reserveCapacity(plan.fileSize)
        for tensor in pending {
            out += tensor.data
            out += [UInt8](repeating: 0, count: padding(after: tensor.data.count))
        }
        return out
    }

    /// Writes `path + ".tmp"`, flushes it to disk, then renames it over `path`: a crash or an error
    /// leaves either the old file or the complete new one, never half a file.
    public func write(to path: String) throws {
        let plan = try layout()
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GGUFError(.cannotWrite(path: temporary, reason: errnoText()), offset: 0) }
        var written = 0
        do {
            try writeAll(fd, plan.header, written: &written, path: temporary)
            for tensor in pending {
                try writeAll(fd, tensor.data, written: &written, path: temporary)
                try writeAll(fd, [UInt8](repeating: 0, count: padding(after: tensor.data.count)),
                             written: &written, path: temporary)
            }
            guard fsync(fd) == 0 else { throw GGUFError(.cannotWrite(path: temporary, reason: errnoText()), offset: written) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw GGUFError(.cannotWrite(path: temporary, reason: reason), offset: written)
        }
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw GGUFError(.cannotWrite(path: path, reason: reason), offset: written)
        }
    }

    private func padding(after count: Int) -> Int {
        (alignment - count % alignment) % alignment
    }

    /// Encodes the header (magic … tensor infos, padded) and checks it with the reader.
    private func layout() throws(GGUFError) -> (header: [UInt8], fileSize: Int) {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw GGUFError(.alignmentNotPowerOfTwo(UInt32(clamping: alignment)), offset: GGUFLayout.headerSize)
        }
        guard alignment <= GGUFLayout.maxAlignment else {
            throw GGUFError(.alignmentTooLarge(UInt32(clamping: alignment)), offset: GGUFLayout.headerSize)
        }
        var metadata = entries
        if let declared = entries.first(where: { $0.key == "general.alignment" }) {
            guard declared.value == .uint32(UInt32(alignment)) else {
                throw GGUFError(.conflictingAlignment(declared: declared.value.scalarText, writer: alignment),
                                offset: GGUFLayout.headerSize)
            }
        } else if alignment != GGUFLayout.defaultAlignment {
            metadata.insert(("general.alignment", .uint32(UInt32(alignment))), at: 0)
        }

        var out = ByteSink()
        out.u32(GGUFLayout.magic)
        out.u32(3)
        out.u64(UInt64(pending.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            out.string(key)
            out.value(value)
        }

        var dataSize = 0
        for tensor in pending {
            let infoOffset = out.bytes.count
            out.string(tensor.name)
            let shapeOffset = out.bytes.count
            out.u32(UInt32(clamping: tensor.dimensions.count))
            for dimension in tensor.dimensions { out.u64(UInt64(bitPattern: Int64(dimension))) }
            out.u32(tensor.type.rawValue)
            out.u64(UInt64(dataSize))
            // The reader checks names and dimension counts below; sizes need a sane shape now.
            guard (1...GGUFLayout.maxDimensions).contains(tensor.dimensions.count),
                  tensor.dimensions.allSatisfy({ $0 > 0 }) else { continue }
            let (_, bytes) = try TensorShape.sizes(tensor: tensor.name, dimensions: tensor.dimensions,
                                                   type: tensor.type, offset: shapeOffset)
            guard bytes == tensor.data.count else {
                throw GGUFError(.tensorDataSizeMismatch(tensor: tensor.name, expected: bytes, actual: tensor.data.count),
                                offset: infoOffset)
            }
            guard let next = alignUp(dataSize + bytes, to: alignment) else {
                throw GGUFError(.byteCountOverflow(tensor: tensor.name), offset: shapeOffset)
            }
            dataSize = next
        }
        out.bytes += [UInt8](repeating: 0, count: padding(after: out.bytes.count))

        let header = out.bytes
        let (fileSize, overflow) = header.count.addingReportingOverflow(dataSize)
        guard !overflow else { throw GGUFError(.byteCountOverflow(tensor: pending.last?.name ?? ""), offset: 0) }
        let check = header.withUnsafeBytes { bytes in
            Result { () throws(GGUFError) in try GGUFContents.parse(bytes, fileSize: fileSize) }
        }
        _ = try check.get()
        return (header, fileSize)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], written: inout Int, path: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = systemWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw GGUFError(.cannotWrite(path: path, reason: errnoText()), offset: written + done)
                }
                done += n
            }
        }
        written += bytes.count
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }

/// `write(2)`, named apart from `GGUFWriter.write(to:)`, which would shadow it inside the type.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

/// Little-endian encoder for the writer.
struct ByteSink {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += s.utf8
    }

    /// Plain values copied as they are in memory: the host is little-endian, like the file.
    mutating func plain<T: BitwiseCopyable>(_ values: [T]) {
        values.withUnsafeBytes { bytes += $0 }
    }

    mutating func value(_ value: GGUFValue) {
        u32(value.type.rawValue)
        switch value {
        case .uint8(let v): u8(v)
        case .int8(let v): u8(UInt8(bitPattern: v))
        case .uint16(let v): u16(v)
        case .int16(let v): u16(UInt16(bitPattern: v))
        case .uint32(let v): u32(v)
        case .int32(let v): u32(UInt32(bitPattern: v))
        case .uint64(let v): u64(v)
        case .int64(let v): u64(UInt64(bitPattern: v))
        case .float32(let v): u32(v.bitPattern)
        case .float64(let v): u64(v.bitPattern)
        case .bool(let v): u8(v ? 1 : 0)
        case .string(let v): string(v)
        case .array(let array):
            u32(array.elementType.rawValue)
            u64(UInt64(array.count))
            switch array {
            case .uint8(let a): plain(a)
            case .int8(let a): plain(a)
            case .uint16(let a): plain(a)
            case .int16(let a): plain(a)
            case .uint32(let a): plain(a)
            case .int32(let a): plain(a)
            case .uint64(let a): plain(a)
            case .int64(let a): plain(a)
            case .float32(let a): plain(a)
            case .float64(let a): plain(a)
            case .bool(let a): for flag in a { u8(flag ? 1 : 0) }
            case .string(let a): for s in a { string(s) }
            }
        }
    }
}
