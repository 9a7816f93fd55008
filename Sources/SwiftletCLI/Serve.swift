import ArgumentParser
import Cost
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
            On SIGTERM or SIGINT the server stops admitting requests (503), lets the running ones
            finish for up to --shutdown-timeout seconds, ends the rest with an error, and exits 0;
            a second signal stops waiting at once.
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

    @Option(help: "Seconds to let running requests finish after SIGTERM/SIGINT before ending them with an error.")
    var shutdownTimeout: Double = 30

    @Option(help: "The catalogue instance type this server runs on: dollars in /metrics and /v1/usage.")
    var instance: String?

    @Option(help: "The server's price in $/hour (instead of, or overriding, the instance's catalogue price).")
    var pricePerHour: Double?

    @Option(help: "A managed model (catalogue name, e.g. nova-micro) whose bill for the same tokens /v1/usage reports.")
    var compare: String?

    @Option(help: "A price file laid over the built-in catalogue.")
    var prices: String?

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
        if let p = pricePerHour, !(p > 0 && p.isFinite) { throw ValidationError("--price-per-hour must be > 0") }
        guard shutdownTimeout.isFinite && shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be a number of seconds ≥ 0") }
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
            let model = try ModelLoader.load(gguf, backend: backend, threads: threads)
            let tokenizer = try Tokenizer(gguf: gguf)
            let engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: try engineOptions.configuration(model: model))
            served.append(ServedModel(name: name, engine: engine, tokenizer: tokenizer, created: Int(Date().timeIntervalSince1970)))
        }
        let liveCost = try makeLiveCost()
        var limits = RequestLimits()
        limits.maxBodyBytes = maxBodyBytes
        let server = OpenAIServer(models: served, limits: limits, apiKey: apiKey, maxQueue: maxQueue, liveCost: liveCost)
        let app = Application(router: server.buildRouter(), configuration: .init(address: .hostname(host, port: port)))
        FileHandle.standardError.write(Data("serving \(served.map(\.name).joined(separator: ", ")) on http://\(host):\(port)\n".utf8))
        let signals = ShutdownSignals()
        let timeout = Duration.milliseconds(Int64(shutdownTimeout * 1000)), seconds = shutdownTimeout
        try runBlocking {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Hummingbird's own SIGTERM handling would stop accepting connections at once;
                // Swiftlet drains first (503s, running requests finish), then raises SIGUSR1, which
                // this service group takes as its cue to close the listener and the connections.
                group.addTask { try await app.runService(gracefulShutdownSignals: [.sigusr1]) }
                group.addTask {
                    await signals.first()
                    if Task.isCancelled { return }   // the server stopped by itself
                    log("shutting down: admitting no new requests; waiting up to \(seconds) s for \(server.unfinishedRequests) unfinished")
                    let outcome = await server.drain(timeout: timeout, hurry: { signals.count > 1 })
                    log("stopped: \(outcome.finished) requests finished, \(outcome.cutOff) ended unfinished")
                    kill(getpid(), SIGUSR1)
                }
                // Both end after a drain; if the server fails first, stop waiting for signals.
                do { try await group.next(); try await group.next() } catch { group.cancelAll(); throw error }
            }
        }
    }

}

extension Serve {
    /// The price behind the dollar figures: --instance from the catalogue (its price replaced by
    /// --price-per-hour if both are given), or --price-per-hour alone.
    func makeLiveCost() throws -> LiveCost? {
        guard instance != nil || pricePerHour != nil || compare != nil else { return nil }
        let catalogue = try PriceCatalogue.load(overrides: prices)
        guard let price = try catalogue.hostInstance(name: instance, pricePerHour: pricePerHour) else {
            throw CLIError("--compare needs a price for this server: give --instance NAME or --price-per-hour X")
        }
        let managed = try catalogue.managedModels(compare.map { [$0] } ?? []).first
        return LiveCost(instance: price, compare: managed)
    }
}

private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

/// SIGTERM and SIGINT, caught instead of killing the process: the first starts a graceful
/// shutdown, a second one cuts its waiting short.
final class ShutdownSignals: @unchecked Sendable {
    private let lock = NSLock()
    private var received = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private let sources: [DispatchSourceSignal]

    init() {
        let queue = DispatchQueue(label: "swiftlet.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            sources.append(source)
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [weak self] in self?.signalled() }
            source.resume()
        }
    }

    private func signalled() { wakeWaiters(counting: true) }

    private func wakeWaiters(counting: Bool) {
        lock.lock()
        if counting { received += 1 }
        let ready = waiters
        waiters.removeAll()
        lock.unlock()
        for w in ready { w.resume() }
    }

    var count: Int { lock.lock(); defer { lock.unlock() }; return received }

    /// Returns once the first signal has arrived, or the task is cancelled.
    func first() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                lock.lock()
                if received > 0 || Task.isCancelled { lock.unlock(); c.resume(); return }
                waiters.append(c)
                lock.unlock()
            }
        } onCancel: {
            wakeWaiters(counting: false)
        }
    }
}
