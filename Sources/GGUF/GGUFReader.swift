/// Fixed facts of the GGUF layout and the limits Swiftlet (like ggml) enforces.
///
///     offset  size  field
///     0       4     magic "GGUF"
///     4       4     version (u32; 2 or 3)
///     8       8     tensor count (u64)
///     16      8     metadata key-value count (u64)
///     24      …     key-values, then tensor infos, then padding to the alignment, then tensor data
enum GGUFLayout {
    static let magic: UInt32 = 0x4655_4747          // "GGUF" read as a little-endian u32
    static let headerSize = 24
    static let defaultAlignment = 32
    /// ggml accepts any power of two; beyond this a file is hostile, not just unusual.
    static let maxAlignment = 1 << 20
    /// ggml keeps tensor names in `char[GGML_MAX_NAME = 64]` with a NUL, so 63 bytes at most.
    static let maxTensorNameBytes = 63
    static let maxDimensions = 4                     // GGML_MAX_DIMS
    /// Smallest key-value: u64 key length + 1 key byte + u32 type + 1-byte value.
    static let minKeyValueBytes = 8 + 1 + 4 + 1
    /// Smallest tensor info: u64 name length (empty name) + u32 n_dims + one u64 dim + u32 type + u64 offset.
    static let minTensorInfoBytes = 8 + 4 + 8 + 4 + 8
}

#if _endian(big)
#error("The GGUF reader copies little-endian arrays straight from the file; big-endian hosts are not supported")
#endif

/// A bounds-checked cursor over the mapped bytes. Every read checks the bytes left first and throws
/// a `GGUFError` at the current position; lengths and counts from the file are checked against the
/// bytes left before anything is allocated for them.
struct GGUFReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int

    init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var bytesLeft: Int { bytes.count - position }

    func require(_ count: Int) throws(GGUFError) {
        guard count <= bytesLeft else {
            throw GGUFError(.unexpectedEnd(needed: count, bytesLeft: bytesLeft), offset: position)
        }
    }

    mutating func scalar<T: FixedWidthInteger & BitwiseCopyable>(_: T.Type) throws(GGUFError) -> T {
        try require(MemoryLayout<T>.size)
        let value = bytes.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func u8() throws(GGUFError) -> UInt8 { try scalar(UInt8.self) }
    mutating func u32() throws(GGUFError) -> UInt32 { try scalar(UInt32.self) }
    mutating func u64() throws(GGUFError) -> UInt64 { try scalar(UInt64.self) }

    /// A u64 byte length that must fit in the bytes left after it.
    mutating func stringLength() throws(GGUFError) -> Int {
        let lengthOffset = position
        let length = try u64()
        guard length <= UInt64(bytesLeft) else {
            throw GGUFError(.stringTooLong(length: length, bytesLeft: bytesLeft), offset: lengthOffset)
        }
        return Int(length)
    }

    /// A GGUF string: u64 byte length, then that many bytes of UTF-8 (no terminator).
    mutating func string() throws(GGUFError) -> String {
        try utf8(count: stringLength())
    }

    /// `count` bytes (already checked to be there) decoded as strict UTF-8.
    mutating func utf8(count: Int) throws(GGUFError) -> String {
        let start = position
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw GGUFError(.invalidUTF8(length: count), offset: start)
        }
        position += count
        return text
    }

    /// `count` bytes decoded leniently, for naming something already known to be bad.
    func lossyText(count: Int) -> String {
        let end = position + min(count, bytesLeft)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<end]), as: UTF8.self)
    }

    /// Copies `count` plain values (little-endian in the file, as on the host). The caller has
    /// checked that `count * stride` bytes are left.
    mutating func plainArray<T: BitwiseCopyable>(count: Int, of _: T.Type) -> [T] {
        let byteCount = count * MemoryLayout<T>.stride
        let source = UnsafeRawBufferPointer(rebasing: bytes[position..<position + byteCount])
        position += byteCount
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source) }
            initialized = count
        }
    }
}
