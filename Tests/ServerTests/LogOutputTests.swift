import Foundation
import Logging
@testable import Server
import Testing

/// The two log formats of `serve`: a text line that splits back into key=value fields, and one
/// JSON object per line with numbers kept as numbers.
@Suite struct LogOutputTests {
    static let time = Date(timeIntervalSince1970: 1_796_173_399.25)
    static let metadata: Logger.Metadata = ["status": .stringConvertible(200), "path": "/v1/completions", "error": "a \"quoted\" = message"]

    @Test func textLineHasSortedFieldsAndQuotesValuesWithSpaces() {
        let line = SwiftletLogHandler.render(time: Self.time, level: .info, label: "swiftlet.server", message: "request",
                                             metadata: Self.metadata, format: .text)
        #expect(line == #"2026-12-02T01:03:19.250Z info swiftlet.server: request error="a \"quoted\" = message" path=/v1/completions status=200"#, "\(line)")
    }

    @Test func jsonLineParsesWithNumbersAsNumbers() throws {
        let line = SwiftletLogHandler.render(time: Self.time, level: .warning, label: "swiftlet.server", message: "request",
                                             metadata: Self.metadata, format: .json)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "warning" && object["message"] as? String == "request")
        #expect(object["time"] as? String == "2026-12-02T01:03:19.250Z" && object["path"] as? String == "/v1/completions")
        #expect((object["status"] as? NSNumber)?.intValue == 200 && object["error"] as? String == "a \"quoted\" = message")
    }
}
