import Foundation

/// A parsed JSON value that keeps booleans, numbers and strings apart, so a wrong type is reported
/// against the parameter that has it (JSONSerialization's NSNumber blurs `true` and `1`).
public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Parses a request body: UTF-8, JSON, a top-level object, at most `limit` bytes.
    public static func parseObject(_ body: Data, limit: Int) throws(APIError) -> [String: JSONValue] {
        guard body.count <= limit else { throw .bodyTooLarge(bytes: body.count, limit: limit) }
        guard String(data: body, encoding: .utf8) != nil else { throw .invalid("the request body is not valid UTF-8") }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: body) } catch {
            throw .invalid(JSONDiagnosis.explain([UInt8](body)) ?? "the request body is not valid JSON (truncated or malformed)")
        }
        guard case .object(let object) = value else { throw .invalid("the request body must be a JSON object") }
        return object
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Typed access to a request object's fields; every wrong type is a 400 naming the parameter.
/// Absent keys and JSON null read as nil; unknown keys are ignored.
struct Fields {
    let object: [String: JSONValue]

    private func present(_ key: String) -> JSONValue? {
        guard let v = object[key], v != .null else { return nil }
        return v
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = present(key) else { return nil }
        guard case .string(let s) = v else { throw .invalid("'\(key)' must be a string, got \(v.typeName)", param: key) }
        return s
    }

    func number(_ key: String) throws(APIError) -> Double? {
        guard let v = present(key) else { return nil }
        guard case .number(let d) = v else { throw .invalid("'\(key)' must be a number, got \(v.typeName)", param: key) }
        return d
    }

    func integer(_ key: String) throws(APIError) -> Int? {
        guard let d = try number(key) else { return nil }
        guard d.rounded() == d, abs(d) < 9.0e15 else { throw .invalid("'\(key)' must be an integer, got \(d)", param: key) }
        return Int(d)
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else { throw .invalid("'\(key)' must be a boolean, got \(v.typeName)", param: key) }
        return b
    }

    func value(_ key: String) -> JSONValue? { present(key) }
}
