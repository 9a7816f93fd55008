import Foundation

/// Paths to the real default model and the shared reference outputs, found from this source file's
/// location (the package root is three levels up), so tests run from any working directory.
public enum Fixtures {
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `models/SmolLM2-135M-Instruct.Q4_1.gguf`, fetched by `scripts/fetch-model`.
    public static var defaultModelPath: String {
        packageRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }

    /// `../shared/reference` beside the checkout.
    public static var referenceDirectory: URL {
        packageRoot.deletingLastPathComponent().appendingPathComponent("shared/reference")
    }

    public struct MissingFixture: Error, CustomStringConvertible {
        public let path: String
        public var description: String {
            "missing test fixture \(path): run scripts/fetch-model (and keep ../shared beside the checkout)"
        }
    }

    /// The default model's path, or an error telling how to fetch it. Tests on the real model fail
    /// (never silently skip) when it is missing.
    public static func requireDefaultModel() throws -> String {
        let path = defaultModelPath
        guard FileManager.default.fileExists(atPath: path) else { throw MissingFixture(path: path) }
        return path
    }

    /// Reads a JSON-lines file from the reference directory, one decoded value per line.
    public static func referenceLines<T: Decodable>(_ relativePath: String, as type: T.Type) throws -> [T] {
        let url = referenceDirectory.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw MissingFixture(path: url.path) }
        let decoder = JSONDecoder()
        return try String(decoding: data, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: true)
            .map { try decoder.decode(T.self, from: Data($0.utf8)) }
    }

    /// A fresh temporary file path (not created).
    public static func temporaryPath(_ suffix: String = ".gguf") -> String {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("swiftlet-test-\(UUID().uuidString)\(suffix)").path
    }
}
