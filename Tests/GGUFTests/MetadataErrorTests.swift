import GGUF
import SwiftletTesting
import Testing

/// Key-values: strings and arrays whose lengths lie, bad keys, bad types, bad alignment.
/// With `oneKey()`, the key "k" starts at 24, its value type is at 33 and the value at 37.
@Suite struct MetadataErrorTests {
    @Test func valueRunsPastEnd() throws {
        var b = oneKey()
        b.u32(10)        // u64 …
        b.u32(0)         // … of which only 4 bytes are there
        try expectError(b, .unexpectedEnd(needed: 8, bytesLeft: 4), at: 37)
    }

    @Test func keyLengthBeyondBytesLeft() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.u64(1000)
        b.zeros(20)
        try expectError(b, .stringTooLong(length: 1000, bytesLeft: 20), at: 24)
    }

    @Test func hugeKeyLength() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.u64(.max)
        b.zeros(20)
        try expectError(b, .stringTooLong(length: .max, bytesLeft: 20), at: 24)
    }

    @Test func stringValueLengthBeyondBytesLeft() throws {
        var b = oneKey()
        b.u32(8)
        b.u64(500)
        b.zeros(10)
        try expectError(b, .stringTooLong(length: 500, bytesLeft: 10), at: 37)
    }

    @Test func arrayCountBeyondBytesLeft() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(4)         // u32 elements
        b.u64(100)       // at 41
        for i in 0..<4 { b.u32(UInt32(i)) }
        try expectError(b, .arrayTooLong(key: "k", count: 100, elementType: .uint32, bytesLeft: 16), at: 41)
    }

    @Test func hugeArrayCount() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(0)
        b.u64(.max)
        try expectError(b, .arrayTooLong(key: "k", count: .max, elementType: .uint8, bytesLeft: 0), at: 41)
    }

    @Test func stringArrayCountBeyondBytesLeft() throws {
        // Each string needs at least its 8-byte length: 18 bytes hold 2, not 3.
        var b = oneKey()
        b.u32(9)
        b.u32(8)
        b.u64(3)
        b.string("a")
        b.string("b")
        try expectError(b, .arrayTooLong(key: "k", count: 3, elementType: .string, bytesLeft: 18), at: 41)
    }

    @Test func stringInArrayBeyondBytesLeft() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(8)
        b.u64(2)
        b.string("a")    // 49…57
        b.u64(1 << 40)   // at 58
        b.zeros(8)
        try expectError(b, .stringTooLong(length: 1 << 40, bytesLeft: 8), at: 58)
    }

    @Test func emptyKey() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.kv("", u32: 1)
        try expectError(b, .emptyKey, at: 24)
    }

    @Test func duplicateKey() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 2)
        b.kv("a", u32: 1)
        b.kv("a", u32: 2)    // 24 + 8 + 1 + 4 + 4
        try expectError(b, .duplicateKey("a"), at: 41)
    }

    @Test(arguments: [UInt32(13), 0xFFFF_FFFF])
    func unknownValueType(raw: UInt32) throws {
        var b = oneKey()
        b.u32(raw)
        b.u32(0)
        try expectError(b, .unknownValueType(key: "k", raw: raw), at: 33)
    }

    @Test func unknownArrayElementType() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(13)
        b.u64(0)
        try expectError(b, .unknownArrayElementType(key: "k", raw: 13), at: 37)
    }

    @Test func arrayOfArrays() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(9)
        b.u64(1)
        b.u32(4)
        b.u64(1)
        b.u32(7)
        try expectError(b, .nestedArray(key: "k"), at: 37)
    }

    @Test func boolOtherThanZeroOrOne() throws {
        var b = oneKey()
        b.u32(7)
        b.u8(2)
        try expectError(b, .invalidBool(key: "k", raw: 2), at: 37)
    }

    @Test(arguments: [[UInt8(0x66), 0xFF], [0xC3], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]])
    func invalidUTF8InKey(bytes: [UInt8]) throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.rawString(bytes)
        b.u32(4)
        b.u32(0)
        try expectError(b, .invalidUTF8(length: bytes.count), at: 32)
    }

    @Test func invalidUTF8InStringValue() throws {
        var b = oneKey()
        b.u32(8)
        b.rawString([0x61, 0xC3])
        try expectError(b, .invalidUTF8(length: 2), at: 45)
    }

    @Test func invalidUTF8InStringArray() throws {
        var b = oneKey()
        b.u32(9)
        b.u32(8)
        b.u64(2)
        b.string("ok")          // 49…58
        b.rawString([0xFF])     // bytes at 67
        try expectError(b, .invalidUTF8(length: 1), at: 67)
    }

    @Test(arguments: [UInt32(0), 3, 48, 0x8000_0001])
    func alignmentNotPowerOfTwo(value: UInt32) throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.kv("general.alignment", u32: value)
        try expectError(b, .alignmentNotPowerOfTwo(value), at: 24)
    }

    @Test(arguments: [UInt32(1 << 21), 1 << 31])
    func alignmentTooLarge(value: UInt32) throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 1)
        b.kv("general.alignment", u32: value)
        try expectError(b, .alignmentTooLarge(value), at: 24)
    }

    @Test func alignmentNotU32() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 2)
        b.kv("general.name", string: "x")
        b.mark("alignment")
        b.keyAndType("general.alignment", 10)
        b.u64(64)
        try expectError(b, .wrongType(key: "general.alignment", expected: "u32", found: "u64"),
                        at: b.marks["alignment"]!)
    }

    @Test func alignmentFromMetadataPlacesData() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 1, metadataCount: 1)
        b.kv("general.alignment", u32: 64)
        b.tensorInfo(name: "t", dimensions: [2], type: 0, offset: 0)
        b.pad(to: 64)
        let dataStart = b.count
        b.f32(1.5)
        b.f32(-2)
        let file = try openGGUF(b)
        #expect(file.alignment == 64)
        #expect(file.dataOffset == dataStart)
        #expect(dataStart % 64 == 0)
        #expect(Array(file.data(for: file.tensors[0])) == Array(b.bytes[dataStart...]))
    }
}
