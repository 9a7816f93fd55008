import Foundation
import GGUF
import SwiftletTesting
import Testing

/// Opens hand-made bytes as a GGUF file. The temporary file is removed at once: the map keeps the
/// data alive.
func openGGUF(_ bytes: GGUFBytes) throws -> GGUFFile {
    let path = try bytes.writeTemporary()
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try GGUFFile(path: path)
}

/// Expects opening `bytes` to fail with exactly `kind` at `offset`.
func expectError(_ bytes: GGUFBytes, _ kind: GGUFError.Kind, at offset: Int,
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
    let path = try bytes.writeTemporary()
    defer { try? FileManager.default.removeItem(atPath: path) }
    #expect(throws: GGUFError(kind, offset: offset), sourceLocation: sourceLocation) {
        _ = try GGUFFile(path: path)
    }
}

/// The error opening `bytes` throws, for checking messages.
func openingError(_ bytes: GGUFBytes) throws -> GGUFError? {
    let path = try bytes.writeTemporary()
    defer { try? FileManager.default.removeItem(atPath: path) }
    do {
        _ = try GGUFFile(path: path)
        return nil
    } catch {
        return error
    }
}

/// A v3 header with no tensors and one key-value whose key is "k"; the caller appends type and value.
/// The value type field is at byte 24 + 8 + 1 = 33.
func oneKey(_ key: String = "k", tensorCount: UInt64 = 0) -> GGUFBytes {
    var b = GGUFBytes()
    b.header(tensorCount: tensorCount, metadataCount: 1)
    b.string(key)
    return b
}
