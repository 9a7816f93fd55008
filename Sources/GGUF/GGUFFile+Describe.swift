/// A human-readable summary for `swiftlet inspect`: the header, a metadata table, a tensor table
/// and totals. Long arrays show their type, count and first few elements; long strings are cut and
/// control characters escaped, so a chat template prints on one line.
extension GGUFFile {
    public func describe(maxArrayElements: Int = 8) -> String {
        let shown = max(0, maxArrayElements)
        var lines: [String] = []
        lines.append("GGUF v\(version) \(path): \(fileSize) bytes, \(metadata.count) metadata entries, "
                     + "\(tensors.count) tensors, alignment \(alignment), data at byte \(dataOffset)")

        lines.append("")
        lines.append("Metadata:")
        let keyWidth = min(48, metadata.map(\.key.count).max() ?? 0)
        let typeWidth = max(4, metadata.map(\.value.typeName.count).max() ?? 0)
        lines.append("  " + pad("key", keyWidth) + "  " + pad("type", typeWidth) + "  value")
        for entry in metadata {
            lines.append("  " + pad(entry.key, keyWidth) + "  " + pad(entry.value.typeName, typeWidth) + "  "
                         + summary(of: entry.value, maxArrayElements: shown))
        }

        lines.append("")
        lines.append("Tensors:")
        let nameWidth = max(4, tensors.map(\.name.count).max() ?? 0)
        let shapes = tensors.map { $0.dimensions.map(String.init).joined(separator: " × ") }
        let shapeWidth = max(5, shapes.map(\.count).max() ?? 0)
        lines.append("  " + pad("name", nameWidth) + "  " + pad("type", 5) + "  " + pad("shape", shapeWidth)
                     + "  " + leftPad("bytes", 12) + "  " + leftPad("offset", 12))
        for (tensor, shape) in zip(tensors, shapes) {
            lines.append("  " + pad(tensor.name, nameWidth) + "  " + pad(tensor.type.description, 5) + "  "
                         + pad(shape, shapeWidth) + "  " + leftPad("\(tensor.byteCount)", 12) + "  "
                         + leftPad("\(tensor.offset)", 12))
        }

        // Sums cannot overflow: every tensor lies inside the mapped file.
        let elements = tensors.reduce(0) { $0 + $1.elementCount }
        let bytes = tensors.reduce(0) { $0 + $1.byteCount }
        var countsByType: [GGMLType: Int] = [:]
        for tensor in tensors { countsByType[tensor.type, default: 0] += 1 }
        let byType = countsByType.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("")
        lines.append("Totals: \(tensors.count) tensors, \(elements) elements, \(bytes) bytes of tensor data"
                     + (byType.isEmpty ? "" : " (\(byType))"))
        return lines.joined(separator: "\n")
    }
}

private let maxStringCharacters = 60

private func summary(of value: GGUFValue, maxArrayElements: Int) -> String {
    switch value {
    case .string(let text): return quoted(text)
    case .array(let array):
        let items = arrayPrefix(array, maxArrayElements)
        let more = array.count > items.count ? ", … (\(array.count - items.count) more)" : ""
        return "\(array.count) × [" + items.joined(separator: ", ") + more + "]"
    default: return value.scalarText
    }
}

/// The first `n` elements as text, without converting the rest.
private func arrayPrefix(_ array: GGUFArray, _ n: Int) -> [String] {
    func texts<T>(_ values: [T]) -> [String] { values.prefix(n).map { "\($0)" } }
    switch array {
    case .uint8(let a): return texts(a)
    case .int8(let a): return texts(a)
    case .uint16(let a): return texts(a)
    case .int16(let a): return texts(a)
    case .uint32(let a): return texts(a)
    case .int32(let a): return texts(a)
    case .uint64(let a): return texts(a)
    case .int64(let a): return texts(a)
    case .float32(let a): return texts(a)
    case .float64(let a): return texts(a)
    case .bool(let a): return texts(a)
    case .string(let a): return a.prefix(n).map(quoted)
    }
}

/// Double-quoted, control characters escaped, cut after `maxStringCharacters` characters.
private func quoted(_ text: String) -> String {
    var out = "\""
    var characters = 0
    for scalar in text.unicodeScalars {
        if characters == maxStringCharacters {
            out += "…\" (\(text.unicodeScalars.count) chars)"
            return out
        }
        switch scalar {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        characters += 1
    }
    return out + "\""
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

private func leftPad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
