import Foundation
import GGUF
import SwiftletTesting
import Testing

/// Every value type, and an array of every element type.
private let everyValue: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("v.u8", .uint8(0xAB)), ("v.i8", .int8(-5)), ("v.u16", .uint16(0xBEEF)), ("v.i16", .int16(-1234)),
    ("v.u32", .uint32(0xDEAD_BEEF)), ("v.i32", .int32(-123_456)), ("v.u64", .uint64(.max)),
    ("v.i64", .int64(.min)), ("v.f32", .float32(-0.15625)), ("v.f64", .float64(.pi)),
    ("v.bool.true", .bool(true)), ("v.bool.false", .bool(false)),
    ("v.string.empty", .string("")), ("v.string.unicode", .string("héllo ✓ 👋\n\t\u{0}")),
    ("a.u8", .array(.uint8([0, 1, 255]))), ("a.i8", .array(.int8([-128, 0, 127]))),
    ("a.u16", .array(.uint16([0, 65535]))), ("a.i16", .array(.int16([-32768, 32767]))),
    ("a.u32", .array(.uint32([1, 2, 3]))), ("a.i32", .array(.int32([-1, 0, 1]))),
    ("a.u64", .array(.uint64([0, .max]))), ("a.i64", .array(.int64([.min, .max]))),
    ("a.f32", .array(.float32([1.5, -0, .infinity]))), ("a.f64", .array(.float64([2.25, -1e300]))),
    ("a.bool", .array(.bool([true, false, true]))), ("a.string", .array(.string(["Ġ t", "", "日本"]))),
    ("a.empty", .array(.int32([]))), ("a.empty.strings", .array(.string([]))),
]

private struct PlannedTensor {
    let name: String
    let type: GGMLType
    let dimensions: [Int]
    let data: [UInt8]
}

/// Tensors whose sizes are not multiples of the alignment, so padding matters.
private let plannedTensors: [PlannedTensor] = [
    PlannedTensor(name: "token_embd.weight", type: .q8_0, dimensions: [64, 3], data: pattern(6 * 34, seed: 1)),
    PlannedTensor(name: "blk.0.attn_norm.weight", type: .f32, dimensions: [5], data: pattern(20, seed: 2)),
    PlannedTensor(name: "blk.0.ffn_down.weight", type: .q4_1, dimensions: [32, 2, 1, 3], data: pattern(6 * 20, seed: 3)),
    PlannedTensor(name: "blk.0.k.weight", type: .q4_K, dimensions: [256], data: pattern(144, seed: 4)),
    PlannedTensor(name: "f16", type: .f16, dimensions: [3, 1], data: pattern(6, seed: 5)),
]

private func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed }
}

private func writer(alignment: Int = 32) -> GGUFWriter {
    var w = GGUFWriter(alignment: alignment)
    for (key, value) in everyValue { w.add(key, value) }
    for t in plannedTensors { w.addTensor(name: t.name, type: t.type, dimensions: t.dimensions, data: t.data) }
    return w
}

/// Round trips through the writer and reader, and the writer's own checks.
@Suite struct WriterTests {
    @Test(arguments: [UInt32(2), 3])
    func everyValueTypeRoundTrips(version: UInt32) throws {
        var b = GGUFBytes()
        b.bytes = try writer().serialized()
        // v2 differs from v3 only in the version number (both have 64-bit counts and lengths).
        b.patchU32(at: 4, version)
        let file = try openGGUF(b)
        #expect(file.version == version)
        #expect(file.alignment == 32)
        #expect(file.fileSize == b.count)
        #expect(file.metadata.map(\.key) == everyValue.map(\.0))
        for (entry, (key, value)) in zip(file.metadata, everyValue) {
            #expect(entry.value == value, "\(key)")
            #expect(file.value(key)?.value == value)
        }
        // Each key's offset points at its length field.
        for entry in file.metadata {
            let length = b.bytes[entry.offset..<entry.offset + 8].enumerated()
                .reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            #expect(length == entry.key.utf8.count)
        }
        try checkTensors(file, bytes: b.bytes)
    }

    private func checkTensors(_ file: GGUFFile, bytes: [UInt8]) throws {
        #expect(file.tensors.map(\.name) == plannedTensors.map(\.name))
        #expect(file.dataOffset % file.alignment == 0)
        var expectedOffset = 0
        for (tensor, planned) in zip(file.tensors, plannedTensors) {
            #expect(tensor.type == planned.type)
            #expect(tensor.dimensions == planned.dimensions)
            #expect(tensor.elementCount == planned.dimensions.reduce(1, *))
            #expect(tensor.byteCount == planned.data.count)
            #expect(tensor.offset == expectedOffset)
            #expect(file.tensor(named: planned.name) == tensor)
            let view = file.data(for: tensor)
            #expect(Array(view) == planned.data)
            #expect(Array(bytes[(file.dataOffset + tensor.offset)...].prefix(tensor.byteCount)) == planned.data)
            expectedOffset += (planned.data.count + file.alignment - 1) / file.alignment * file.alignment
        }
        #expect(file.dataOffset + expectedOffset == file.fileSize)
    }

    @Test func writeToPathMatchesSerialized() throws {
        let w = writer()
        let path = Fixtures.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        let written = try #require(FileManager.default.contents(atPath: path))
        #expect([UInt8](written) == (try w.serialized()))
        let file = try GGUFFile(path: path)
        try checkTensors(file, bytes: [UInt8](written))
    }

    @Test func writeReplacesAnExistingFile() throws {
        let path = Fixtures.temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try writer().write(to: path)
        #expect(try GGUFFile(path: path).tensors.count == plannedTensors.count)
    }

    @Test func writeToMissingDirectoryFailsWithoutLeavingFiles() throws {
        let path = "/nonexistent-swiftlet-dir/model.gguf"
        #expect {
            try writer().write(to: path)
        } throws: { error in
            guard let error = error as? GGUFError, case .cannotWrite = error.kind else { return false }
            return true
        }
    }

    @Test func invalidWriteLeavesNoTemporaryFile() throws {
        var w = GGUFWriter()
        w.add("k", .uint8(1))
        w.add("k", .uint8(2))
        let path = Fixtures.temporaryPath()
        #expect(throws: GGUFError.self) { try w.write(to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test func nonDefaultAlignmentIsWrittenAndHonoured() throws {
        var b = GGUFBytes()
        b.bytes = try writer(alignment: 64).serialized()
        let file = try openGGUF(b)
        #expect(file.alignment == 64)
        #expect(file.metadata.first?.key == "general.alignment")
        #expect(try file.integer("general.alignment") == 64)
        #expect(file.metadata.dropFirst().map(\.key) == everyValue.map(\.0))
        try checkTensors(file, bytes: b.bytes)
    }

    @Test func defaultAlignmentIsNotWritten() throws {
        var b = GGUFBytes()
        b.bytes = try writer().serialized()
        #expect(try openGGUF(b).value("general.alignment") == nil)
    }

    @Test func emptyFileRoundTrips() throws {
        var b = GGUFBytes()
        b.bytes = try GGUFWriter().serialized()
        let file = try openGGUF(b)
        #expect(file.metadata.isEmpty && file.tensors.isEmpty && file.version == 3)
    }

    // The writer's checks: the same errors as the reader, at offsets in the file it would write.

    @Test func writerRejectsDuplicateKey() throws {
        var w = GGUFWriter()
        w.add("a", .uint32(1))
        w.add("a", .uint32(2))
        #expect(throws: GGUFError(.duplicateKey("a"), offset: 41)) { _ = try w.serialized() }
    }

    @Test func writerRejectsEmptyKey() throws {
        var w = GGUFWriter()
        w.add("", .uint32(1))
        #expect(throws: GGUFError(.emptyKey, offset: 24)) { _ = try w.serialized() }
    }

    @Test func writerRejectsWrongDataSize() throws {
        var w = GGUFWriter()
        w.addTensor(name: "t", type: .q8_0, dimensions: [32, 2], data: [UInt8](repeating: 0, count: 67))
        #expect(throws: GGUFError(.tensorDataSizeMismatch(tensor: "t", expected: 68, actual: 67), offset: 24)) {
            _ = try w.serialized()
        }
    }

    @Test func writerRejectsBadShapes() throws {
        var w = GGUFWriter()
        w.addTensor(name: "t", type: .f32, dimensions: [4, -1], data: [])
        #expect(throws: GGUFError(.invalidDimension(tensor: "t", index: 1, value: .max), offset: 45)) {
            _ = try w.serialized()
        }
        var v = GGUFWriter()
        v.addTensor(name: "t", type: .q4_0, dimensions: [16], data: [])
        #expect(throws: GGUFError(.rowNotWholeBlocks(tensor: "t", rowLength: 16, type: .q4_0), offset: 33)) {
            _ = try v.serialized()
        }
        var u = GGUFWriter()
        u.addTensor(name: "t", type: .f32, dimensions: [], data: [])
        #expect(throws: GGUFError(.noDimensions(tensor: "t"), offset: 33)) { _ = try u.serialized() }
    }

    @Test func writerRejectsLongAndDuplicateTensorNames() throws {
        var w = GGUFWriter()
        let long = String(repeating: "x", count: 64)
        w.addTensor(name: long, type: .f32, dimensions: [1], data: [0, 0, 0, 0])
        #expect(throws: GGUFError(.tensorNameTooLong(prefix: String(long.prefix(32)), length: 64), offset: 24)) {
            _ = try w.serialized()
        }
        var v = GGUFWriter()
        v.addTensor(name: "t", type: .f32, dimensions: [1], data: [0, 0, 0, 0])
        v.addTensor(name: "t", type: .f32, dimensions: [1], data: [0, 0, 0, 0])
        #expect(throws: GGUFError(.duplicateTensorName("t"), offset: 24 + 33)) { _ = try v.serialized() }
    }

    @Test func writerRejectsBadAlignment() throws {
        #expect(throws: GGUFError(.alignmentNotPowerOfTwo(0), offset: 24)) { _ = try GGUFWriter(alignment: 0).serialized() }
        #expect(throws: GGUFError(.alignmentNotPowerOfTwo(48), offset: 24)) { _ = try GGUFWriter(alignment: 48).serialized() }
        #expect(throws: GGUFError(.alignmentTooLarge(1 << 21), offset: 24)) {
            _ = try GGUFWriter(alignment: 1 << 21).serialized()
        }
        var w = GGUFWriter(alignment: 64)
        w.add("general.alignment", .uint32(32))
        #expect(throws: GGUFError(.conflictingAlignment(declared: "32", writer: 64), offset: 24)) {
            _ = try w.serialized()
        }
        var v = GGUFWriter(alignment: 64)
        v.add("general.alignment", .uint32(64))
        #expect(try v.serialized().count > 0)
    }

    @Test func describeSummarizes() throws {
        var b = GGUFBytes()
        b.bytes = try writer().serialized()
        let file = try openGGUF(b)
        let text = file.describe(maxArrayElements: 2)
        #expect(text.hasPrefix("GGUF v3 "))
        #expect(text.contains("general.architecture"))
        #expect(text.contains("\"llama\""))
        #expect(text.contains("3 × [\"Ġ t\", \"\", … (1 more)]"))
        #expect(text.contains("\"héllo ✓ 👋\\n\\t\\u{0}\""))
        #expect(text.contains("token_embd.weight"))
        #expect(text.contains("64 × 3"))
        #expect(text.contains("Totals: 5 tensors"))
        #expect(!text.dropLast().contains("\n\n\n"))
    }
}
