/// GPT-2's reversible byte ↔ unicode map (`bytes_to_unicode` in OpenAI's `encoder.py`).
///
/// Byte-level BPE vocabularies store every token as text in which each byte is one printable
/// scalar, so that merges can be written as plain "a b" strings. Printable Latin-1 bytes map to
/// themselves; the 68 others (controls, space, DEL, NBSP, soft hyphen) map in order to U+0100….
///
/// ```
///   byte  0x00…0x20   0x21…0x7E  0x7F…0xA0   0xA1…0xAC  0xAD   0xAE…0xFF
///   char  U+0100…0120  itself    U+0121…0142  itself     U+0143  itself
/// ```
/// So a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A).
enum ByteLevel {
    /// The scalar that stands for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Inverse map indexed by scalar value (all mapped scalars are below U+0144); -1 = not a byte.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for byte in 0..<256 { table[Int(scalarForByte[byte].value)] = Int16(byte) }
        return table
    }()

    private static func isPrintable(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// Bytes → their byte-level text (the form tokens are stored in).
    static func encode<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(scalarForByte[Int(byte)]) }
        return String(scalars)
    }

    /// Byte-level text → bytes. A scalar outside the map (which a well-formed vocabulary never
    /// has) contributes its own UTF-8 bytes, as Hugging Face's ByteLevel decoder does, rather than
    /// being dropped.
    static func decode(_ text: String, into bytes: inout [UInt8]) {
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            if value < byteForScalar.count, byteForScalar[value] >= 0 {
                bytes.append(UInt8(byteForScalar[value]))
            } else {
                bytes.append(contentsOf: scalar.utf8)
            }
        }
    }
}
