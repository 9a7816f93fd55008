/// A problem with a GGUF file (or with a file the writer was asked to produce), and the byte offset
/// where it is. Every check in the reader throws one of these; nothing in a hostile file may trap.
public struct GGUFError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        // The file as a whole
        case cannotOpen(path: String, reason: String)
        case cannotWrite(path: String, reason: String)
        case fileTooShort(size: Int)
        case badMagic(UInt32)
        case bigEndianFile(version: UInt32)
        case unsupportedVersion(UInt32)
        case tensorCountTooLarge(count: UInt64, bytesLeft: Int)
        case metadataCountTooLarge(count: UInt64, bytesLeft: Int)

        // Reading values
        case unexpectedEnd(needed: Int, bytesLeft: Int)
        case stringTooLong(length: UInt64, bytesLeft: Int)
        case arrayTooLong(key: String, count: UInt64, elementType: GGUFValueType, bytesLeft: Int)
        case invalidUTF8(length: Int)

        // Metadata
        case emptyKey
        case duplicateKey(String)
        case unknownValueType(key: String, raw: UInt32)
        case unknownArrayElementType(key: String, raw: UInt32)
        case nestedArray(key: String)
        case invalidBool(key: String, raw: UInt8)
        case wrongType(key: String, expected: String, found: String)
        case wrongCount(key: String, expected: Int, found: Int)
        case integerOutOfRange(key: String, value: String)
        case alignmentNotPowerOfTwo(UInt32)
        case alignmentTooLarge(UInt32)
        case conflictingAlignment(declared: String, writer: Int)

        // Tensor infos
        case tensorNameTooLong(prefix: String, length: Int)
        case duplicateTensorName(String)
        case noDimensions(tensor: String)
        case tooManyDimensions(tensor: String, count: UInt32)
        case invalidDimension(tensor: String, index: Int, value: UInt64)
        case elementCountOverflow(tensor: String)
        case unknownTensorType(tensor: String, raw: UInt32)
        case rowNotWholeBlocks(tensor: String, rowLength: Int, type: GGMLType)
        case byteCountOverflow(tensor: String)
        case tensorOffsetUnaligned(tensor: String, offset: UInt64, alignment: Int)
        case tensorOutOfOrder(tensor: String, offset: UInt64, previousOffset: Int)
        case tensorOverlap(tensor: String, offset: UInt64, previousEnd: Int)
        case tensorDataPastEnd(tensor: String, start: UInt64, byteCount: Int, fileSize: Int)
        case tensorDataSizeMismatch(tensor: String, expected: Int, actual: Int)
    }

    public let kind: Kind
    /// Byte offset in the file (or in the writer's output) where the problem is.
    public let offset: Int

    public init(_ kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    public var description: String { "GGUF error at byte \(offset): \(kind.message)" }
}

extension GGUFError.Kind {
    /// One line naming the problem; the caller adds the offset.
    var message: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .fileTooShort(let size):
            return "file is \(size) bytes, shorter than the \(GGUFLayout.headerSize)-byte GGUF header"
        case .badMagic(let magic):
            return "bad magic \(hex(magic)) (bytes \(quotedBytes(magic))), expected \"GGUF\": not a GGUF file"
        case .bigEndianFile(let version):
            return "version field reads \(hex(version)): a big-endian file (version \(version.byteSwapped) byte-swapped); only little-endian GGUF is supported"
        case .unsupportedVersion(let version):
            return "unsupported GGUF version \(version) (only v2 and v3 are supported)"
        case .tensorCountTooLarge(let count, let left):
            return "tensor count \(count) cannot fit in the \(left) bytes left (each tensor info takes at least \(GGUFLayout.minTensorInfoBytes))"
        case .metadataCountTooLarge(let count, let left):
            return "metadata count \(count) cannot fit in the \(left) bytes left (each key-value takes at least \(GGUFLayout.minKeyValueBytes))"
        case .unexpectedEnd(let needed, let left):
            return "unexpected end of file: needed \(needed) bytes, \(left) left"
        case .stringTooLong(let length, let left):
            return "string length \(length) is beyond the \(left) bytes left"
        case .arrayTooLong(let key, let count, let type, let left):
            return "array '\(key)' of \(count) \(type) elements cannot fit in the \(left) bytes left"
        case .invalidUTF8(let length):
            return "string of \(length) bytes is not valid UTF-8"
        case .emptyKey:
            return "empty metadata key"
        case .duplicateKey(let key):
            return "duplicate metadata key '\(key)'"
        case .unknownValueType(let key, let raw):
            return "unknown value type \(raw) for key '\(key)'"
        case .unknownArrayElementType(let key, let raw):
            return "unknown array element type \(raw) for key '\(key)'"
        case .nestedArray(let key):
            return "'\(key)' is an array of arrays (not supported)"
        case .invalidBool(let key, let raw):
            return "bool '\(key)' has byte \(raw), expected 0 or 1"
        case .wrongType(let key, let expected, let found):
            return "'\(key)' is \(found), expected \(expected)"
        case .wrongCount(let key, let expected, let found):
            return "'\(key)' has \(found) elements, expected \(expected)"
        case .integerOutOfRange(let key, let value):
            return "'\(key)' = \(value) does not fit in Int"
        case .alignmentNotPowerOfTwo(let value):
            return "general.alignment \(value) is not a power of two"
        case .alignmentTooLarge(let value):
            return "general.alignment \(value) is larger than \(GGUFLayout.maxAlignment)"
        case .conflictingAlignment(let declared, let writer):
            return "metadata general.alignment = \(declared) conflicts with the writer's alignment \(writer)"
        case .tensorNameTooLong(let prefix, let length):
            return "tensor name '\(prefix)…' is \(length) bytes; ggml allows at most \(GGUFLayout.maxTensorNameBytes)"
        case .duplicateTensorName(let name):
            return "duplicate tensor name '\(name)'"
        case .noDimensions(let tensor):
            return "tensor '\(tensor)' has no dimensions"
        case .tooManyDimensions(let tensor, let count):
            return "tensor '\(tensor)' has \(count) dimensions; at most \(GGUFLayout.maxDimensions) are allowed"
        case .invalidDimension(let tensor, let index, let value):
            let what = value == 0 ? "zero" : "negative (\(Int64(bitPattern: value)) as i64)"
            return "tensor '\(tensor)' dimension \(index) is \(what)"
        case .elementCountOverflow(let tensor):
            return "tensor '\(tensor)' element count overflows"
        case .unknownTensorType(let tensor, let raw):
            return "tensor '\(tensor)' has unknown type \(raw)"
        case .rowNotWholeBlocks(let tensor, let rowLength, let type):
            return "tensor '\(tensor)' row length \(rowLength) is not a whole number of \(type) blocks of \(type.blockSize)"
        case .byteCountOverflow(let tensor):
            return "tensor '\(tensor)' byte count overflows"
        case .tensorOffsetUnaligned(let tensor, let offset, let alignment):
            return "tensor '\(tensor)' offset \(offset) is not a multiple of the alignment \(alignment)"
        case .tensorOutOfOrder(let tensor, let offset, let previous):
            return "tensor '\(tensor)' offset \(offset) is before the previous tensor's offset \(previous)"
        case .tensorOverlap(let tensor, let offset, let previousEnd):
            return "tensor '\(tensor)' offset \(offset) overlaps the previous tensor, which ends at \(previousEnd)"
        case .tensorDataPastEnd(let tensor, let start, let count, let size):
            return "tensor '\(tensor)' data (\(count) bytes from byte \(start)) runs past the end of the \(size)-byte file: truncated (an interrupted download?)"
        case .tensorDataSizeMismatch(let tensor, let expected, let actual):
            return "tensor '\(tensor)' data is \(actual) bytes, its type and shape need \(expected)"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

/// The four bytes of a little-endian u32 as printable text, for messages about magic numbers.
private func quotedBytes(_ value: UInt32) -> String {
    let bytes = (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    let text = bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
    return "\"\(text)\""
}
