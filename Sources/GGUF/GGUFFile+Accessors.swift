/// Typed metadata accessors. Each returns nil when the key is absent and throws when it is present
/// with another type (or count): a model with a malformed hyperparameter must fail loudly, not
/// fall back to a default. Errors point at the key's offset.
extension GGUFFile {
    public func string(_ key: String) throws(GGUFError) -> String? {
        guard let entry = value(key) else { return nil }
        guard case .string(let text) = entry.value else { throw entry.wrongType("string") }
        return text
    }

    public func bool(_ key: String) throws(GGUFError) -> Bool? {
        guard let entry = value(key) else { return nil }
        guard case .bool(let flag) = entry.value else { throw entry.wrongType("bool") }
        return flag
    }

    /// Any integer type, converted exactly; a value that does not fit in Int throws.
    public func integer(_ key: String) throws(GGUFError) -> Int? {
        guard let entry = value(key) else { return nil }
        let converted: Int?
        switch entry.value {
        case .uint8(let v): converted = Int(v)
        case .int8(let v): converted = Int(v)
        case .uint16(let v): converted = Int(v)
        case .int16(let v): converted = Int(v)
        case .uint32(let v): converted = Int(exactly: v)
        case .int32(let v): converted = Int(v)
        case .uint64(let v): converted = Int(exactly: v)
        case .int64(let v): converted = Int(exactly: v)
        default: throw entry.wrongType("integer")
        }
        guard let converted else {
            throw GGUFError(.integerOutOfRange(key: key, value: entry.value.scalarText), offset: entry.offset)
        }
        return converted
    }

    /// f32, or f64 rounded to the nearest Float.
    public func float(_ key: String) throws(GGUFError) -> Float? {
        guard let entry = value(key) else { return nil }
        switch entry.value {
        case .float32(let v): return v
        case .float64(let v): return Float(v)
        default: throw entry.wrongType("float")
        }
    }

    public func stringArray(_ key: String, count: Int? = nil) throws(GGUFError) -> [String]? {
        guard let entry = value(key) else { return nil }
        guard case .array(.string(let values)) = entry.value else { throw entry.wrongType("[string]") }
        try entry.check(count: values.count, expected: count)
        return values
    }

    public func int32Array(_ key: String, count: Int? = nil) throws(GGUFError) -> [Int32]? {
        guard let entry = value(key) else { return nil }
        guard case .array(.int32(let values)) = entry.value else { throw entry.wrongType("[i32]") }
        try entry.check(count: values.count, expected: count)
        return values
    }

    public func float32Array(_ key: String, count: Int? = nil) throws(GGUFError) -> [Float]? {
        guard let entry = value(key) else { return nil }
        guard case .array(.float32(let values)) = entry.value else { throw entry.wrongType("[f32]") }
        try entry.check(count: values.count, expected: count)
        return values
    }
}

extension GGUFKeyValue {
    func wrongType(_ expected: String) -> GGUFError {
        GGUFError(.wrongType(key: key, expected: expected, found: value.typeName), offset: offset)
    }

    func check(count: Int, expected: Int?) throws(GGUFError) {
        if let expected, expected != count {
            throw GGUFError(.wrongCount(key: key, expected: expected, found: count), offset: offset)
        }
    }
}

extension GGUFValue {
    /// A scalar's value as text (arrays are summarized by `describe`).
    var scalarText: String {
        switch self {
        case .uint8(let v): return "\(v)"
        case .int8(let v): return "\(v)"
        case .uint16(let v): return "\(v)"
        case .int16(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let v): return v
        case .array(let a): return "[\(a.elementType) × \(a.count)]"
        }
    }
}
