import Foundation
import Logging
import Synchronization

/// How `serve` writes its log lines to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-12-02T01:02:03.456Z info swiftlet.server: request client=… status=200 …`
    case text
    /// One JSON object per line: `time`, `level`, `logger`, `message`, then the metadata.
    case json
}

/// A swift-log handler writing one line per entry to standard error, in `LogFormat`. Metadata keys
/// are sorted, so lines of one kind line up.
public struct SwiftletLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let format: LogFormat

    public init(label: String, format: LogFormat, level: Logger.Level) {
        self.label = label
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    private static let lock = Mutex(())

    public func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        if let error = event.error { all["error"] = .string("\(error)") }
        let line = Self.render(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: all, format: format)
        let data = Data((line + "\n").utf8)
        Self.lock.withLock { _ in FileHandle.standardError.write(data) }
    }

    static func render(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: LogFormat) -> String {
        let stamp = timestamp(time)
        switch format {
        case .text:
            let fields = metadata.keys.sorted().map { key in "\(key)=\(textValue(metadata[key]!))" }
            return ([stamp, level.rawValue, "\(label):", message] + fields).joined(separator: " ")
        case .json:
            var object: [String: Any] = ["time": stamp, "level": level.rawValue, "logger": label, "message": message]
            for (key, value) in metadata { object[key] = jsonValue(value) }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Values with spaces, quotes or `=` are quoted, so a line splits back into fields.
    private static func textValue(_ v: Logger.Metadata.Value) -> String {
        let s = "\(v)"
        guard s.isEmpty || s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) else { return s }
        let escaped = s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    /// Numbers stay numbers in JSON (metadata carries them as `stringConvertible` or strings).
    private static func jsonValue(_ v: Logger.Metadata.Value) -> Any {
        switch v {
        case .string(let s): return Double(s).map { _ in NSDecimalNumber(string: s) as Any } ?? s
        case .stringConvertible(let c):
            let s = c.description
            return Double(s).map { _ in NSDecimalNumber(string: s) as Any } ?? s
        case .array(let a): return a.map(jsonValue)
        case .dictionary(let d): return d.mapValues(jsonValue)
        }
    }

    private static func timestamp(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var seconds = time_t(t.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let ms = Int((t - t.rounded(.down)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), ms)
    }
}
