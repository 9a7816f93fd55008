import GGUF
import SwiftletTesting
import Testing

/// The 24-byte header: magic, version, and counts that must fit in the file.
@Suite struct HeaderErrorTests {
    @Test func emptyFileIsTooShort() throws {
        try expectError(GGUFBytes(), .fileTooShort(size: 0), at: 0)
    }

    @Test func fileShorterThanHeader() throws {
        var b = GGUFBytes()
        b.raw(Array("GGUF".utf8))
        b.u32(3)
        b.u32(0)   // half a tensor count
        try expectError(b, .fileTooShort(size: 12), at: 0)
    }

    @Test func wrongMagic() throws {
        var b = GGUFBytes.minimal()
        b.bytes.replaceSubrange(0..<4, with: Array("GGML".utf8))
        try expectError(b, .badMagic(0x4C4D_4747), at: 0)
        let message = try #require(try openingError(b)).description
        #expect(message.contains("\"GGML\""))
    }

    @Test(arguments: [UInt32(0), 1, 4, 0xFFFF_FFFF])
    func unsupportedVersion(version: UInt32) throws {
        var b = GGUFBytes.minimal()
        b.patchU32(at: 4, version)
        try expectError(b, .unsupportedVersion(version), at: 4)
    }

    @Test func byteSwappedVersionIsBigEndian() throws {
        var b = GGUFBytes.minimal()
        b.patchU32(at: 4, 0x0300_0000)
        try expectError(b, .bigEndianFile(version: 0x0300_0000), at: 4)
        let message = try #require(try openingError(b)).description
        #expect(message.contains("big-endian file"))
    }

    @Test func tensorCountBeyondBytesLeft() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 9_999_999, metadataCount: 0)
        b.zeros(310)
        try expectError(b, .tensorCountTooLarge(count: 9_999_999, bytesLeft: 310), at: 8)
    }

    @Test func hugeTensorCount() throws {
        var b = GGUFBytes()
        b.header(tensorCount: .max, metadataCount: 0)
        try expectError(b, .tensorCountTooLarge(count: .max, bytesLeft: 0), at: 8)
    }

    @Test func metadataCountBeyondBytesLeft() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: 9_999_999)
        b.zeros(310)
        try expectError(b, .metadataCountTooLarge(count: 9_999_999, bytesLeft: 310), at: 16)
        let message = try #require(try openingError(b)).description
        #expect(message.hasPrefix("GGUF error at byte 16: metadata count 9999999 cannot fit in the 310 bytes left"))
    }

    @Test func metadataCountCountsTheTensorInfosToo() throws {
        // 100 bytes: 2 tensor infos need at least 64, leaving 36, room for 2 key-values of 14, not 3.
        var b = GGUFBytes()
        b.header(tensorCount: 2, metadataCount: 3)
        b.zeros(100)
        try expectError(b, .metadataCountTooLarge(count: 3, bytesLeft: 36), at: 16)
    }

    @Test func hugeMetadataCount() throws {
        var b = GGUFBytes()
        b.header(tensorCount: 0, metadataCount: .max)
        b.zeros(8)
        try expectError(b, .metadataCountTooLarge(count: .max, bytesLeft: 8), at: 16)
    }

    @Test func missingFileIsAnError() throws {
        let path = Fixtures.temporaryPath()
        #expect {
            _ = try GGUFFile(path: path)
        } throws: { error in
            guard let error = error as? GGUFError, case .cannotOpen(let p, _) = error.kind else { return false }
            return p == path && error.offset == 0
        }
    }

    @Test func directoryIsAnError() throws {
        #expect {
            _ = try GGUFFile(path: "/tmp")
        } throws: { error in
            guard let error = error as? GGUFError, case .cannotOpen = error.kind else { return false }
            return true
        }
    }
}
