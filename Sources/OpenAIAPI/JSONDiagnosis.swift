/// Why a request body that Foundation refused is not acceptable JSON, for the two cases whose
/// generic "not valid JSON" misleads: a `\u` escape of a lone UTF-16 surrogate (valid JSON syntax,
/// but no Unicode text) and a number too large for a double (`1e999`).
enum JSONDiagnosis {
    static func explain(_ bytes: [UInt8]) -> String? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                var pendingHigh: Int?   // offset of a high surrogate escape not yet paired
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count {
                        if bytes[i + 1] == UInt8(ascii: "u"), let unit = hex4(bytes, at: i + 2) {
                            if (0xDC00...0xDFFF).contains(unit), pendingHigh != nil {
                                pendingHigh = nil
                            } else if let high = pendingHigh {
                                return lone(bytes, at: high)
                            } else if (0xD800...0xDBFF).contains(unit) {
                                pendingHigh = i
                            } else if (0xDC00...0xDFFF).contains(unit) {
                                return lone(bytes, at: i)
                            }
                            i += 6
                            continue
                        }
                        if let high = pendingHigh { return lone(bytes, at: high) }
                        i += 2
                        continue
                    }
                    if let high = pendingHigh { return lone(bytes, at: high) }
                    i += 1
                }
                if let high = pendingHigh { return lone(bytes, at: high) }
                i += 1
            } else if b == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) {
                let start = i
                while i < bytes.count, "+-.eE0123456789".utf8.contains(bytes[i]) { i += 1 }
                let text = String(decoding: bytes[start..<i], as: UTF8.self)
                if let d = Double(text), !d.isFinite {
                    return "the number \(text) at byte \(start) of the request body is too large for a 64-bit float"
                }
            } else {
                i += 1
            }
        }
        return nil
    }

    private static func hex4(_ bytes: [UInt8], at i: Int) -> Int? {
        guard i + 4 <= bytes.count else { return nil }
        return Int(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16)
    }

    private static func lone(_ bytes: [UInt8], at i: Int) -> String {
        let escape = String(decoding: bytes[i..<min(i + 6, bytes.count)], as: UTF8.self)
        return "the request body has a lone UTF-16 surrogate escape (\(escape)) at byte \(i): it encodes no Unicode character"
    }
}
