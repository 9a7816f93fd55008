import Foundation
import GGUF
import SwiftletTesting
import Testing

/// Typed accessors: nil when absent, exact conversions, errors at the key's offset.
@Suite struct AccessorTests {
    let file: GGUFFile

    init() throws {
        var w = GGUFWriter()
        w.add("u8", .uint8(200))
        w.add("i8", .int8(-100))
        w.add("u16", .uint16(60000))
        w.add("i16", .int16(-30000))
        w.add("u32", .uint32(4_000_000_000))
        w.add("i32", .int32(-2_000_000_000))
        w.add("u64", .uint64(1 << 40))
        w.add("i64", .int64(-(1 << 40)))
        w.add("u64.max", .uint64(.max))
        w.add("f32", .float32(1e-5))
        w.add("f64", .float64(0.1))
        w.add("bool", .bool(true))
        w.add("string", .string("llama"))
        w.add("strings", .array(.string(["a", "b", "c"])))
        w.add("i32s", .array(.int32([1, -2, 3])))
        w.add("f32s", .array(.float32([0.5, -1])))
        w.add("u32s", .array(.uint32([1, 2])))
        let path = Fixtures.temporaryPath()
        try w.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        file = try GGUFFile(path: path)
    }

    @Test func absentKeysAreNil() throws {
        #expect(try file.string("missing") == nil)
        #expect(try file.bool("missing") == nil)
        #expect(try file.integer("missing") == nil)
        #expect(try file.float("missing") == nil)
        #expect(try file.stringArray("missing", count: 3) == nil)
        #expect(try file.int32Array("missing") == nil)
        #expect(try file.float32Array("missing") == nil)
        #expect(file.value("missing") == nil)
        #expect(file.tensor(named: "missing") == nil)
    }

    @Test func integersOfEveryTypeConvertExactly() throws {
        #expect(try file.integer("u8") == 200)
        #expect(try file.integer("i8") == -100)
        #expect(try file.integer("u16") == 60000)
        #expect(try file.integer("i16") == -30000)
        #expect(try file.integer("u32") == 4_000_000_000)
        #expect(try file.integer("i32") == -2_000_000_000)
        #expect(try file.integer("u64") == 1 << 40)
        #expect(try file.integer("i64") == -(1 << 40))
    }

    @Test func integerThatDoesNotFitInInt() throws {
        let offset = try #require(file.value("u64.max")).offset
        #expect(throws: GGUFError(.integerOutOfRange(key: "u64.max", value: "18446744073709551615"), offset: offset)) {
            _ = try file.integer("u64.max")
        }
    }

    @Test func scalars() throws {
        #expect(try file.float("f32") == 1e-5)
        #expect(try file.float("f64") == Float(0.1))
        #expect(try file.bool("bool") == true)
        #expect(try file.string("string") == "llama")
    }

    @Test func arrays() throws {
        #expect(try file.stringArray("strings") == ["a", "b", "c"])
        #expect(try file.stringArray("strings", count: 3) == ["a", "b", "c"])
        #expect(try file.int32Array("i32s", count: 3) == [1, -2, 3])
        #expect(try file.float32Array("f32s") == [0.5, -1])
    }

    @Test func wrongTypeNamesKeyExpectedAndFound() throws {
        let offset = try #require(file.value("u32")).offset
        #expect(throws: GGUFError(.wrongType(key: "u32", expected: "string", found: "u32"), offset: offset)) {
            _ = try file.string("u32")
        }
        #expect(throws: GGUFError(.wrongType(key: "u32", expected: "bool", found: "u32"), offset: offset)) {
            _ = try file.bool("u32")
        }
        #expect(throws: GGUFError(.wrongType(key: "u32", expected: "float", found: "u32"), offset: offset)) {
            _ = try file.float("u32")
        }
        let f32 = try #require(file.value("f32")).offset
        #expect(throws: GGUFError(.wrongType(key: "f32", expected: "integer", found: "f32"), offset: f32)) {
            _ = try file.integer("f32")
        }
        let u32s = try #require(file.value("u32s")).offset
        #expect(throws: GGUFError(.wrongType(key: "u32s", expected: "[i32]", found: "[u32]"), offset: u32s)) {
            _ = try file.int32Array("u32s")
        }
        let strings = try #require(file.value("strings")).offset
        #expect(throws: GGUFError(.wrongType(key: "strings", expected: "[f32]", found: "[string]"), offset: strings)) {
            _ = try file.float32Array("strings")
        }
        let string = try #require(file.value("string")).offset
        #expect(throws: GGUFError(.wrongType(key: "string", expected: "[string]", found: "string"), offset: string)) {
            _ = try file.stringArray("string")
        }
    }

    @Test func wrongCount() throws {
        let strings = try #require(file.value("strings")).offset
        #expect(throws: GGUFError(.wrongCount(key: "strings", expected: 4, found: 3), offset: strings)) {
            _ = try file.stringArray("strings", count: 4)
        }
        let i32s = try #require(file.value("i32s")).offset
        #expect(throws: GGUFError(.wrongCount(key: "i32s", expected: 2, found: 3), offset: i32s)) {
            _ = try file.int32Array("i32s", count: 2)
        }
        let f32s = try #require(file.value("f32s")).offset
        #expect(throws: GGUFError(.wrongCount(key: "f32s", expected: 0, found: 2), offset: f32s)) {
            _ = try file.float32Array("f32s", count: 0)
        }
    }

    @Test func messageIsOneLineWithOffset() throws {
        let offset = try #require(file.value("u32")).offset
        let error = GGUFError(.wrongType(key: "u32", expected: "string", found: "u32"), offset: offset)
        #expect(error.description == "GGUF error at byte \(offset): 'u32' is u32, expected string")
    }
}
