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

    /// A family's model in `models/`, or an error telling how to fetch it.
    public static func requireModel(_ family: ReferenceFamily) throws -> String {
        let path = packageRoot.appendingPathComponent("models/\(family.modelFile)").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingFixture(path: path + " (scripts/fetch-model \(family.rawValue))")
        }
        return path
    }

    /// A JSON file of the reference directory, decoded.
    public static func referenceJSON<T: Decodable>(_ relativePath: String, as type: T.Type) throws -> T {
        let url = referenceDirectory.appendingPathComponent(relativePath)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw MissingFixture(path: url.path) }
        return try JSONDecoder().decode(T.self, from: data)
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

    /// A fresh temporary file path (not created), in a directory of this test process's own that
    /// is removed when the process exits: tests write models, sweeps and reports there, and left
    /// in /tmp they added up run after run.
    public static func temporaryPath(_ suffix: String = ".gguf") -> String {
        temporaryDirectory.appendingPathComponent("swiftlet-test-\(UUID().uuidString)\(suffix)").path
    }

    static let temporaryDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Fixtures.temporaryDirectory) }
        return directory
    }()
}

extension Fixtures {
    /// The `swiftlet` executable of the same build as the tests: beside the test executable (any
    /// scratch path or target triple, e.g. the arm64 build of scripts/test-arm64), else in
    /// `.build/<configuration>/`.
    public static func swiftletBinary() throws -> String {
        #if DEBUG
        let configuration = "debug"
        #else
        let configuration = "release"
        #endif
        if let tests = Bundle.main.executableURL {
            let beside = tests.deletingLastPathComponent().appendingPathComponent("swiftlet").path
            if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        }
        let path = packageRoot.appendingPathComponent(".build/\(configuration)/swiftlet").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw MissingFixture(path: path + " (build it first: swift build -c \(configuration))")
        }
        return path
    }

    public struct ProcessResult: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        /// True when the process ended by a signal (a crash), not by exit.
        public let crashed: Bool
    }

    /// Runs `swiftlet` with arguments and collects its output.
    public static func runSwiftlet(_ arguments: [String]) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try swiftletBinary())
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain stderr on another thread while reading stdout, so neither pipe can fill and block the child.
        nonisolated(unsafe) var stderrData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { stderrData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: stderrData, as: UTF8.self),
                             crashed: process.terminationReason == .uncaughtSignal)
    }
}
