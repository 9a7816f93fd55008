import ArgumentParser
import Cost
import Engine
import Foundation
import Synchronization
import GGUF
import Hummingbird
import Kernels
import Logging
import Models
import OpenAIAPI
import Server
import ServiceLifecycle
import Tokenizer
import UnixSignals

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over an OpenAI-compatible HTTP API (completions, chat, streaming).",
        discussion: """
            Each -m MODEL is served under its file name without `.gguf`; --model NAME=PATH picks the
            name. Requests are routed by their `model` field. Binds 127.0.0.1 unless --host says
            otherwise. With an API key (--api-key-file FILE, the SWIFTLET_API_KEY environment
            variable, or --api-key) every route but /health needs `Authorization: Bearer KEY`.
            On SIGTERM or SIGINT the server stops admitting requests (503), lets the running ones
            finish for up to --shutdown-timeout seconds, ends the rest with an error, and exits 0;
            a second signal stops waiting at once. One log line per request goes to standard
            error (--log-level, --log-format).

            A cascade (--student A --teacher B) is served as --cascade-name (default `cascade`): the
            student answers, and when its confidence on the first --cascade-decide-after tokens is
            below --cascade-threshold, the teacher answers instead (a local GGUF, or an
            OpenAI-compatible URL with --teacher-model). The response's `model` field, its
            X-Swiftlet-Answered-By header and its `cascade` object say who answered; an unreachable
            teacher means the student's answer, flagged `escalation_error`.
            """)

    @Option(name: [.customShort("m"), .customLong("model-path")], help: "A GGUF model to serve (repeatable).")
    var modelPaths: [String] = []

    @Option(name: .customLong("model"), help: "NAME=PATH: a model to serve under NAME (repeatable).")
    var namedModels: [String] = []

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(help: "Require this key as `Authorization: Bearer KEY` (visible to `ps`: prefer --api-key-file or SWIFTLET_API_KEY).")
    var apiKey: String?

    @Option(help: "Read the API key from this file (its first line).")
    var apiKeyFile: String?

    @Option(help: "Connections served at once; more get 503 and are closed (default 1024, lowered to fit the open-file limit).")
    var maxConnections = 1024

    @Option(help: "Seconds a connection may sit with no request in progress (idle, or still sending headers) before it is closed.")
    var idleTimeout: Double = 30

    @Option(help: "Seconds a request body may take to arrive (408 after).")
    var bodyTimeout: Double = 30

    @Option(help: "Log level: trace, debug, info (a line per request), notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Log format: text or json (one object per line).")
    var logFormat: String = "text"

    @Option(help: "Requests allowed to wait per model beyond the running batch's free places; beyond it, 503 with Retry-After.")
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

    @OptionGroup(title: "Cascade (student answers, teacher re-answers when the student is unsure)") var cascade: CascadeOptions

    @OptionGroup(title: "Speculative decoding (--draft MODEL or --prompt-lookup; greedy output stays the target's)") var speculation: SpeculationArguments

    @Option(help: "The served model that speculates (default: the only one given with -m or --model).")
    var draftFor: String?

    @Option(help: "Speculate only in steps where at most this many sequences decode (a larger batch is compute-bound: checks cost more than they save).")
    var draftMaxSeqs = 4

    func validate() throws {
        guard !modelPaths.isEmpty || !namedModels.isEmpty || cascade.enabled else {
            throw ValidationError("give at least one model: -m PATH, --model NAME=PATH, or --student A --teacher B")
        }
        for m in namedModels where !m.contains("=") { throw ValidationError("--model takes NAME=PATH, got '\(m)'") }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be in 1…65535") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if let p = pricePerHour, !(p > 0 && p.isFinite) { throw ValidationError("--price-per-hour must be > 0") }
        guard shutdownTimeout.isFinite && shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be a number of seconds ≥ 0") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        for (name, v) in [("--idle-timeout", idleTimeout), ("--body-timeout", bodyTimeout)] where !(v.isFinite && v > 0) {
            throw ValidationError("\(name) must be a number of seconds > 0")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got '\(logLevel)'")
        }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json, got '\(logFormat)'") }
        if apiKey != nil && apiKeyFile != nil { throw ValidationError("give the API key once: --api-key or --api-key-file") }
        guard draftMaxSeqs >= 1 else { throw ValidationError("--draft-max-seqs must be at least 1") }
        if draftFor != nil && !speculation.isActive { throw ValidationError("--draft-for names the model that speculates: give --draft MODEL or --prompt-lookup too") }
    }

    /// The key from --api-key-file, else SWIFTLET_API_KEY, else --api-key; nil: no key required.
    func resolvedAPIKey() throws -> String? {
        if let apiKeyFile {
            let text: String
            do { text = try String(contentsOfFile: apiKeyFile, encoding: .utf8) } catch {
                throw CLIError("cannot read --api-key-file '\(apiKeyFile)': \(error.localizedDescription)")
            }
            let key = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !key.isEmpty else { throw CLIError("--api-key-file '\(apiKeyFile)' holds no key") }
            return key
        }
        if apiKey == nil, let env = ProcessInfo.processInfo.environment["SWIFTLET_API_KEY"], !env.isEmpty { return env }
        return apiKey
    }

    /// --max-connections, lowered if the open-file limit (raised to its hard limit first) cannot
    /// hold that many connections and the server's own files.
    func connectionLimits(logger: Logger) -> (limits: ConnectionLimits, acceptLimit: Int) {
        let files = ConnectionLimits.raiseOpenFileLimit()
        let reserve = ConnectionLimits.reservedDescriptors
        var limits = ConnectionLimits()
        limits.maxConnections = max(1, min(maxConnections, files - reserve))
        if limits.maxConnections < maxConnections {
            logger.warning("--max-connections lowered to fit the open-file limit", metadata: [
                "asked": "\(maxConnections)", "max_connections": "\(limits.maxConnections)", "open_file_limit": "\(files)"])
        }
        limits.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        limits.bodyTimeout = .milliseconds(Int64(bodyTimeout * 1000))
        // Connections past the limit are accepted only to be refused; past this, they wait in the
        // kernel's backlog, so descriptors for the server's own files are always left.
        return (limits, max(1, min(limits.maxConnections + reserve / 2, files - reserve / 2)))
    }

    func run() throws {
        let format = LogFormat(rawValue: logFormat)!, level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in SwiftletLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "swiftlet.server")
        let key = try resolvedAPIKey()
        var entries: [(String, String)] = modelPaths.map { (URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent, $0) }
        for m in namedModels {
            let parts = m.split(separator: "=", maxSplits: 1).map(String.init)
            entries.append((parts[0], parts[1]))
        }
        // The cascade's local models are served under their own names too (once, if also -m).
        let studentEntry = cascade.student.map(CascadeOptions.entry)
        let teacherEntry = cascade.upstreamURL == nil ? cascade.teacher.map(CascadeOptions.entry) : nil
        for e in [studentEntry, teacherEntry].compactMap({ $0 }) where !entries.contains(where: { $0 == e }) { entries.append(e) }
        let speculating = try speculatingModel(entries)
        var served: [ServedModel] = []
        for (name, path) in entries {
            guard !served.contains(where: { $0.name == name }) else { throw CLIError("two models are named '\(name)': use --model NAME=PATH") }
            let gguf = try GGUFFile(path: path)
            let model = try ModelLoader.load(gguf, backend: backend, threads: threads)
            let tokenizer = try Tokenizer(gguf: gguf)
            var draft: EngineSpeculation?
            if name == speculating, let source = try speculation.source(backend: backend, threads: threads) {
                draft = EngineSpeculation(draft: source, options: speculation.options, maxSequences: draftMaxSeqs)
            }
            let engine: InferenceEngine
            do {
                engine = try InferenceEngine(model: model, tokenizer: tokenizer, configuration: try engineOptions.configuration(model: model),
                                             speculation: draft)
            } catch let error as SpeculationError {
                throw CLIError("--draft for '\(name)': \(error.description)")
            }
            if let draft { logger.notice("speculative decoding", metadata: speculationMetadata(name, draft)) }
            served.append(ServedModel(name: name, engine: engine, tokenizer: tokenizer, created: Int(Date().timeIntervalSince1970)))
        }
        let liveCost = try makeLiveCost()
        var limits = RequestLimits()
        limits.maxBodyBytes = maxBodyBytes
        let (connections, acceptLimit) = connectionLimits(logger: logger)
        let routes = try makeCascade(served: served, studentName: studentEntry?.0, teacherName: teacherEntry?.0)
        let server = OpenAIServer(models: served, limits: limits, apiKey: key, maxQueue: maxQueue, liveCost: liveCost,
                                  connectionLimits: connections, logger: logger, cascades: routes)
        let names = (served.map(\.name) + routes.map { "\($0.name) (cascade: \($0.student.name) → \($0.teacher.name))" }).joined(separator: ", ")
        let host = self.host
        // Said once the socket is bound, so a failed bind never prints it.
        let app = server.makeApplication(host: host, port: port, acceptLimit: acceptLimit) { port in
            logger.notice("serving \(names) on http://\(host):\(port)", metadata: [
                "max_connections": "\(connections.maxConnections)", "max_queue": "\(maxQueue)", "api_key": "\(key != nil)"])
        }
        let drain = DrainOnShutdown(server: server, timeout: .milliseconds(Int64(shutdownTimeout * 1000)), logger: logger)
        // ServiceGroup stops services in reverse order: on SIGTERM/SIGINT the drain runs first
        // (503 for new requests, running ones finish), and only then does Hummingbird close the
        // listener and its connections.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: drain)],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try runBlocking { try await group.run() }
    }
}

extension Serve {
    /// The cascade route, if --student and --teacher are given.
    func makeCascade(served: [ServedModel], studentName: String?, teacherName: String?) throws -> [CascadeRoute] {
        guard let studentName, let student = served.first(where: { $0.name == studentName }) else { return [] }
        guard !served.contains(where: { $0.name == cascade.cascadeName }) else {
            throw CLIError("--cascade-name '\(cascade.cascadeName)' is also a model's name: choose another")
        }
        let teacher: CascadeTeacher
        if let upstream = try cascade.upstream() {
            teacher = .upstream(upstream)
        } else {
            guard let teacherName, let local = served.first(where: { $0.name == teacherName }) else { return [] }
            // Retokenizing with the teacher's own tokenizer makes any pair work; the same pair as
            // speculative decoding's shares one, and the check says when it does not.
            if student.engine.model.config.vocabularySize != local.engine.model.config.vocabularySize {
                FileHandle.standardError.write(Data("note: the student's and the teacher's vocabularies differ in size; each answers with its own tokenizer\n".utf8))
            }
            teacher = .local(local)
        }
        return [CascadeRoute(name: cascade.cascadeName, student: student, teacher: teacher, rule: ConfidenceRule(rawValue: cascade.cascadeRule)!,
                             thresholds: try cascade.thresholds(), decideAfter: cascade.cascadeDecideAfter,
                             teacherPrice: try cascade.upstreamPrice(prices: prices))]
    }

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

    /// The name of the served model that speculates: --draft-for, else the only model given.
    func speculatingModel(_ entries: [(String, String)]) throws -> String? {
        guard speculation.isActive else { return nil }
        if let draftFor {
            guard entries.contains(where: { $0.0 == draftFor }) else {
                throw CLIError("--draft-for '\(draftFor)' is not a served model (served: \(entries.map(\.0).joined(separator: ", ")))")
            }
            return draftFor
        }
        guard entries.count == 1 else {
            throw CLIError("several models are served: say which one speculates with --draft-for NAME (one of \(entries.map(\.0).joined(separator: ", ")))")
        }
        return entries[0].0
    }

    func speculationMetadata(_ name: String, _ s: EngineSpeculation) -> Logger.Metadata {
        var draft = "prompt lookup"
        if case .model = s.draft { draft = URL(fileURLWithPath: speculation.draft ?? "").lastPathComponent }
        return ["model": "\(name)", "draft": "\(draft)", "draft_tokens": "\(s.options.maxDraftTokens)",
                "adaptive": "\(s.options.adaptive)", "draft_max_seqs": "\(s.maxSequences)"]
    }
}

/// The graceful shutdown as a service: waits for the group's shutdown signal, then drains the
/// server (see `OpenAIServer.drain`); a second SIGTERM or SIGINT stops the waiting at once.
struct DrainOnShutdown: Service {
    let server: OpenAIServer
    let timeout: Duration
    let logger: Logger

    func run() async throws {
        // Counted from the start: the group's own handler sees the first signal too.
        let signals = SignalCount()
        let counting = Task { for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { signals.add() } }
        defer { counting.cancel() }
        try? await gracefulShutdown()
        // Cancelled instead (the server failed, e.g. its port was taken): nothing to drain.
        if Task.isCancelled { return }
        logger.notice("shutting down: admitting no new requests", metadata: [
            "timeout_s": "\(timeout.components.seconds)", "unfinished": "\(server.unfinishedRequests)"])
        let outcome = await server.drain(timeout: timeout, hurry: { signals.value > 1 })
        logger.notice("stopped: \(outcome.finished) requests finished, \(outcome.cutOff) ended unfinished")
    }
}

/// Signals received, read by the drain's `hurry` check.
final class SignalCount: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
