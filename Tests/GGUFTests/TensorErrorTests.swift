import GGUF
import SwiftletTesting
import Testing

/// One tensor info right after a header with no metadata: the info starts at 24, a one-byte name's
/// dimension count is at 33 and its first dimension at 37.
private func oneTensor(name: String = "a", dimensions: [UInt64], type: UInt32 = 0, offset: UInt64 = 0,
                       dataBytes: Int = 64) -> GGUFBytes {
    var b = GGUFBytes()
    b.header(tensorCount: 1, metadataCount: 0)
    b.tensorInfo(name: name, dimensions: dimensions, type: type, offset: offset)
    b.pad(to: 32)
    b.zeros(dataBytes)
    return b
}

/// Tensor infos: names, shapes, types, and data extents.
@Suite struct TensorErrorTests {
    @Test func nameOf63BytesIsAccepted() throws {
        let name = String(repeating: "n", count: 63)
        let file = try openGGUF(oneTensor(name: name, dimensions: [4]))
        #expect(file.tensors.map(\.name) == [name])
    }

    @Test func nameTooLong() throws {
        let name = String(repeating: "n", count: 64)
        try expectError(oneTensor(name: name, dimensions: [4]),
                        .tensorNameTooLong(prefix: String(repeating: "n", count: 32), length: 64), at: 24)
    }

    @Test func nameLengthBeyondBytesLeft() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 1, metadataCount: 0)
        b.u64(1 << 62)
        b.zeros(40)
        try expectError(b, .stringTooLong(length: 1 << 62, bytesLeft: 40), at: 24)
    }

    @Test func invalidUTF8InName() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 1, metadataCount: 0)
        b.rawString([0x80])
        b.u32(1); b.u64(4); b.u32(0); b.u64(0)
        b.pad(to: 32)
        b.zeros(16)
        try expectError(b, .invalidUTF8(length: 1), at: 32)
    }

    @Test func duplicateName() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 2, metadataCount: 0)
        b.tensorInfo(name: "w", dimensions: [8], type: 0, offset: 0)
        b.mark("second")
        b.tensorInfo(name: "w", dimensions: [8], type: 0, offset: 32)
        b.pad(to: 32)
        b.zeros(64)
        try expectError(b, .duplicateTensorName("w"), at: b.marks["second"]!)
    }

    @Test func noDimensions() throws {
        try expectError(oneTensor(dimensions: []), .noDimensions(tensor: "a"), at: 33)
    }

    @Test func moreThanFourDimensions() throws {
        try expectError(oneTensor(dimensions: [1, 1, 1, 1, 1]), .tooManyDimensions(tensor: "a", count: 5), at: 33)
    }

    @Test func hugeDimensionCount() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 1, metadataCount: 0)
        b.string("a")
        b.u32(.max)
        b.zeros(40)
        try expectError(b, .tooManyDimensions(tensor: "a", count: .max), at: 33)
    }

    @Test func zeroDimension() throws {
        try expectError(oneTensor(dimensions: [4, 0]), .invalidDimension(tensor: "a", index: 1, value: 0), at: 45)
    }

    @Test(arguments: [UInt64(1) << 63, .max])
    func negativeDimension(value: UInt64) throws {
        try expectError(oneTensor(dimensions: [value]), .invalidDimension(tensor: "a", index: 0, value: value), at: 37)
        let message = try #require(try openingError(oneTensor(dimensions: [value]))).description
        #expect(message.contains("negative"))
    }

    @Test func elementCountOverflows() throws {
        try expectError(oneTensor(dimensions: [1 << 32, 1 << 32]), .elementCountOverflow(tensor: "a"), at: 33)
        try expectError(oneTensor(dimensions: [1 << 20, 1 << 20, 1 << 20, 1 << 20]),
                        .elementCountOverflow(tensor: "a"), at: 33)
    }

    @Test func byteCountOverflows() throws {
        // 2^62 elements fit in Int; 2^62 F32 values are 2^64 bytes.
        try expectError(oneTensor(dimensions: [1 << 61, 2], type: 0), .byteCountOverflow(tensor: "a"), at: 33)
    }

    @Test(arguments: [UInt32(4), 5, 16, 39, 99, .max])
    func unknownType(raw: UInt32) throws {
        try expectError(oneTensor(dimensions: [32], type: raw), .unknownTensorType(tensor: "a", raw: raw), at: 45)
    }

    @Test func rowNotWholeBlocks() throws {
        try expectError(oneTensor(dimensions: [33], type: 8),
                        .rowNotWholeBlocks(tensor: "a", rowLength: 33, type: .q8_0), at: 33)
        // 512 elements are whole Q4_K blocks overall, but a row of 32 is not.
        try expectError(oneTensor(dimensions: [32, 16], type: 12),
                        .rowNotWholeBlocks(tensor: "a", rowLength: 32, type: .q4_K), at: 33)
    }

    @Test func unalignedOffset() throws {
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.b.offset"]!, 40)
        try expectError(b, .tensorOffsetUnaligned(tensor: "b", offset: 40, alignment: 32),
                        at: b.marks["tensor.b.offset"]!)
    }

    @Test func offsetOutOfOrder() throws {
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.a.offset"]!, 64)
        b.patchU64(at: b.marks["tensor.b.offset"]!, 32)
        try expectError(b, .tensorOutOfOrder(tensor: "b", offset: 32, previousOffset: 64),
                        at: b.marks["tensor.b.offset"]!)
    }

    @Test func offsetOverlapsPreviousTensor() throws {
        // "a" is 32 bytes at 0; "b" starting at 0 overlaps it.
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.b.offset"]!, 0)
        try expectError(b, .tensorOverlap(tensor: "b", offset: 0, previousEnd: 32), at: b.marks["tensor.b.offset"]!)
    }

    @Test func overlapWithinABlock() throws {
        // "a" grows to 9 floats (36 bytes): "b" at 32 now starts inside it.
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.a.dims"]! + 4, 9)
        try expectError(b, .tensorOverlap(tensor: "b", offset: 32, previousEnd: 36), at: b.marks["tensor.b.offset"]!)
    }

    @Test func truncatedDownload() throws {
        var b = GGUFBytes.minimal()
        b.bytes.removeLast()
        let data = b.marks["data"]!
        try expectError(b, .tensorDataPastEnd(tensor: "b", start: UInt64(data + 32), byteCount: 68, fileSize: b.count),
                        at: data + 32)
        let message = try #require(try openingError(b)).description
        #expect(message.contains("truncated"))
    }

    @Test func truncatedBeforeTheData() throws {
        var b = GGUFBytes.minimal()
        let data = b.marks["data"]!
        b.bytes.removeSubrange(data...)
        try expectError(b, .tensorDataPastEnd(tensor: "a", start: UInt64(data), byteCount: 32, fileSize: data), at: data)
    }

    @Test func truncatedInsideTensorInfos() throws {
        var b = GGUFBytes.minimal()
        let cut = b.marks["tensor.b.offset"]! + 4
        b.bytes.removeSubrange(cut...)
        try expectError(b, .unexpectedEnd(needed: 8, bytesLeft: 4), at: cut - 4)
    }

    @Test func offsetFarPastEnd() throws {
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.b.offset"]!, 1 << 40)
        try expectError(b, .tensorDataPastEnd(tensor: "b", start: UInt64(b.marks["data"]!) + (1 << 40),
                                              byteCount: 68, fileSize: b.count), at: b.count)
    }

    @Test func offsetThatOverflows() throws {
        var b = GGUFBytes.minimal()
        b.patchU64(at: b.marks["tensor.a.offset"]!, UInt64.max & ~31)
        try expectError(b, .tensorDataPastEnd(tensor: "a", start: .max, byteCount: 32, fileSize: b.count), at: b.count)
    }

    @Test func minimalFileIsValid() throws {
        let b = GGUFBytes.minimal()
        let file = try openGGUF(b)
        let data = b.marks["data"]!
        #expect(file.version == 3)
        #expect(file.dataOffset == data)
        #expect(file.tensors.map(\.name) == ["a", "b"])
        let tb = try #require(file.tensor(named: "b"))
        #expect(tb.type == .q8_0 && tb.dimensions == [32, 2] && tb.rowLength == 32 && tb.rowCount == 2)
        #expect(tb.byteCount == 68 && tb.offset == 32 && tb.infoOffset == b.marks["tensor.b"]!)
        #expect(Array(file.data(for: tb)) == Array(b.bytes[(data + 32)...]))
    }

    /// Every truncation and every single-byte corruption of a valid file either opens or throws:
    /// never a trap.
    @Test func corruptionsNeverTrap() throws {
        let valid = GGUFBytes.minimal()
        var opened = 0
        var candidates: [GGUFBytes] = []
        for length in 0..<valid.count {
            var b = valid
            b.bytes.removeSubrange(length...)
            candidates.append(b)
        }
        for index in 0..<valid.count {
            for replacement: UInt8 in [0x00, 0xFF, valid.bytes[index] ^ 0x80, valid.bytes[index] &+ 1] {
                var b = valid
                b.bytes[index] = replacement
                candidates.append(b)
            }
        }
        for b in candidates {
            if (try? openingError(b)) == .some(nil) { opened += 1 }
        }
        // Corruptions of tensor data (and of padding) are not detectable; those still open.
        #expect(opened > 0 && opened < candidates.count)
    }
}
