import Foundation

/// A little-endian byte builder for hand-made GGUF files, most of them deliberately malformed.
/// Nothing here validates: tests write exactly the bytes they mean, then corrupt what they test.
/// `mark(_:)` records the current offset under a name so tests can patch or assert positions.
public struct GGUFBytes {
    public var bytes: [UInt8] = []
    /// Named offsets recorded with `mark(_:)`.
    public var marks: [String: Int] = [:]

    public init() {}

    public var count: Int { bytes.count }

    public mutating func mark(_ name: String) { marks[name] = bytes.count }

    // MARK: Primitives

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    public mutating func f32(_ v: Float) { u32(v.bitPattern) }
    public mutating func raw(_ v: [UInt8]) { bytes += v }
    public mutating func zeros(_ n: Int) { bytes += [UInt8](repeating: 0, count: n) }

    /// u64 length, then the UTF-8 bytes.
    public mutating func string(_ s: String) { rawString(Array(s.utf8)) }
    /// u64 length, then arbitrary bytes (for invalid UTF-8).
    public mutating func rawString(_ b: [UInt8]) { u64(UInt64(b.count)); bytes += b }

    /// Zero bytes up to the next multiple of `alignment`.
    public mutating func pad(to alignment: Int) {
        zeros((alignment - bytes.count % alignment) % alignment)
    }

    public mutating func patchU32(at offset: Int, _ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
    }

    public mutating func patchU64(at offset: Int, _ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.replaceSubrange(offset..<offset + 8, with: $0) }
    }

    // MARK: Records

    /// Magic "GGUF", version, tensor count, metadata count (24 bytes).
    public mutating func header(version: UInt32 = 3, tensorCount: UInt64, metadataCount: UInt64) {
        raw(Array("GGUF".utf8))
        u32(version)
        u64(tensorCount)
        u64(metadataCount)
    }

    /// Key and value type; the caller appends the value. Value types: 0 u8, 1 i8, 2 u16, 3 i16,
    /// 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64.
    public mutating func keyAndType(_ key: String, _ type: UInt32) {
        string(key)
        u32(type)
    }

    public mutating func kv(_ key: String, u32 value: UInt32) { keyAndType(key, 4); u32(value) }
    public mutating func kv(_ key: String, string value: String) { keyAndType(key, 8); string(value) }

    /// Array header: element type and count; the caller appends the elements.
    public mutating func arrayHeader(_ key: String, elementType: UInt32, count: UInt64) {
        keyAndType(key, 9)
        u32(elementType)
        u64(count)
    }

    /// name, n_dims, dims, ggml type number, offset into the data section.
    public mutating func tensorInfo(name: String, dimensions: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dimensions.count))
        for d in dimensions { u64(d) }
        u32(type)
        u64(offset)
    }

    // MARK: A minimal valid file

    /// A small valid v3 file, alignment 32, with marks for corrupting it:
    ///
    ///     header            2 tensors, 2 key-values
    ///     "general.architecture" = "llama"          mark "kv.0"
    ///     "llama.block_count"    = u32 1            mark "kv.1"
    ///     tensor "a": F32 [8], offset 0             mark "tensor.a" (and "tensor.a.dims", ".type", ".offset")
    ///     tensor "b": Q8_0 [32, 2], offset 32       mark "tensor.b" (…)
    ///     pad to 32                                 mark "data"
    ///     a: 32 bytes (floats 0…7); b: 68 bytes (2 blocks: f16 scale 1.0, int8 0…31)
    public static func minimal(version: UInt32 = 3) -> GGUFBytes {
        var b = GGUFBytes()
        b.header(version: version, tensorCount: 2, metadataCount: 2)
        b.mark("kv.0")
        b.kv("general.architecture", string: "llama")
        b.mark("kv.1")
        b.kv("llama.block_count", u32: 1)
        b.tensor("a", dimensions: [8], type: 0, offset: 0)
        b.tensor("b", dimensions: [32, 2], type: 8, offset: 32)
        b.pad(to: 32)
        b.mark("data")
        for i in 0..<8 { b.f32(Float(i)) }
        for _ in 0..<2 {
            b.u16(0x3C00)   // f16 1.0
            for q in 0..<32 { b.u8(UInt8(q)) }
        }
        return b
    }

    private mutating func tensor(_ name: String, dimensions: [UInt64], type: UInt32, offset: UInt64) {
        mark("tensor.\(name)")
        string(name)
        mark("tensor.\(name).dims")
        u32(UInt32(dimensions.count))
        for d in dimensions { u64(d) }
        mark("tensor.\(name).type")
        u32(type)
        mark("tensor.\(name).offset")
        u64(offset)
    }

    // MARK: Files

    /// Writes the bytes to a fresh temporary path and returns it.
    public func writeTemporary() throws -> String {
        let path = Fixtures.temporaryPath()
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
