/// Finds stop strings in streamed text. Text that might be the start of a stop string is held
/// back until it either completes the stop string (generation ends, the stop string is not
/// emitted) or can no longer match (it is released).
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var pending = ""

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Feeds new text; returns the text safe to emit and whether a stop string was hit.
    public mutating func feed(_ text: String) -> (emit: String, stopped: Bool) {
        pending += text
        if stops.isEmpty { defer { pending = "" }; return (pending, false) }
        // Earliest complete stop string wins; everything before it is emitted.
        var earliest: String.Index?
        for stop in stops {
            if let r = pending.range(of: stop), earliest.map({ r.lowerBound < $0 }) ?? true { earliest = r.lowerBound }
        }
        if let cut = earliest {
            let out = String(pending[..<cut])
            pending = ""
            return (out, true)
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var hold = 0
        for stop in stops {
            for len in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1) where len > hold {
                if pending.hasSuffix(stop.prefix(len)) { hold = len; break }
            }
        }
        let out = String(pending.dropLast(hold))
        pending = String(pending.suffix(hold))
        return (out, false)
    }

    /// Releases whatever is held (generation ended for another reason).
    public mutating func finish() -> String { defer { pending = "" }; return pending }
}
