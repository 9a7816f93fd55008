import ArgumentParser
import Engine
import Foundation
import GGUF
import Hummingbird
import Kernels
import Models
import OpenAIAPI
import Server
import Tokenizer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over an OpenAI-compatible HTTP API (completions, chat, streaming).",
        discussion: """
            Each -m MODEL is served under its file name without `.gguf`; --model NAME=PATH picks the
            name. Requests are routed by their `model` field. Binds 127.0.0.1 unless --host says
            otherwise. With --api-key every route but /health needs `Authorization: Bearer KEY`.
            """)

    @Option(name: [.customShort("m"), .customLong("model-path")], help: "A GGUF model to serve (repeatable).")
    var modelPaths: [String] = []

    @Option(name: .customLong("model"), help: "NAME=PATH: a model to serve under NAME (repeatable).")
    var namedModels: [String] = []

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: "Require this key as `Authorization: Bearer KEY`.")
    var apiKey: String?

    @Option(help: "Requests allowed to wait for admission per model; beyond it, 503 with Retry-After.")
    var maxQueue = 256

    @Option(help: "Largest request body in bytes.")
    var maxBodyBytes = 2 << 20

    @Option(name: [.customShort("t"), .long], help: "Compute threads per model (default: all cores).")
    var threads: Int?

    @Option(help: "Matmul path: auto, simd, blas, reference.")
    var backend: MatmulBackend = .auto

    @OptionGroup var engineOptions: EngineOptions

    func validate() throws {
        guard !modelPaths.isEmpty || !namedModels.isEmpty else { throw ValidationError("give at least one model: -m PATH or --model NAME=PATH") }
        for m in namedModels where !m.contains("=") { throw ValidationError("--model takes NAME=PATH, got '\(m)'") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1…65535") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        var entries: [(String, String)] = modelPaths.map { (URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent, $0) }
        for m in namedModels {
            let parts = m.split(separator: "=", maxSplits: 1).map(String.init)
            entries.append((parts[0], parts[1]))
        }
        var served: [ServedModel] = []
        for (name, path) in entries {
            guard !served.contains(where: { $0.name == name }) else { throw CLIError("two models are named '\(name)': use --model NAME=PATH") }
            let gguf = try GGUFFile(path: path)
            let model = try LlamaModel(gguf: gguf, backend: backend, threads: threads)
            let tokenizer = try Tokenizer(gguf: gguf)
            let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: try engineOptions.configuration(model: model))
            served.append(ServedModel(name: name, engine: engine, tokenizer: tokenizer, created: Int(Date().timeIntervalSince1970)))
        }
        var limits = RequestLimits()
        limits.maxBodyBytes = maxBodyBytes
        let server = OpenAIServer(models: served, limits: limits, apiKey: apiKey, maxQueue: maxQueue)
        let app = Application(router: server.buildRouter(), configuration: .init(address: .hostname(host, port: port)))
        FileHandle.standardError.write(Data("serving \(served.map(\.name).joined(separator: ", ")) on http://\(host):\(port)\n".utf8))
        try runBlocking { try await app.runService() }
    }
}
