/// Token text → id, comparing texts byte for byte. Swift's `String` equality is Unicode canonical
/// equivalence, under which "Ω" (U+2126 OHM SIGN) equals "Ω" (U+03A9 GREEK CAPITAL OMEGA); Gemma's
/// vocabulary holds both as different tokens, and a `[String: Int32]` kept only the later one.
struct TokenTable: Sendable {
    struct Key: Hashable, Sendable {
        let text: String
        static func == (a: Key, b: Key) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }
        func hash(into hasher: inout Hasher) {
            var text = text
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    private var ids: [Key: Int32]

    init(minimumCapacity: Int) { ids = [Key: Int32](minimumCapacity: minimumCapacity) }

    subscript(_ text: String) -> Int32? {
        get { ids[Key(text: text)] }
        set { ids[Key(text: text)] = newValue }
    }
}
