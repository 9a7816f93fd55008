import Engine
import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import Logging
import OpenAIAPI
import Synchronization
import Tokenizer

/// The OpenAI-compatible routes over one or more engines (Hummingbird 2). HTTP runs on Swift's
/// concurrency pool; each engine computes on its own thread and compute pool, and handlers only
/// await its streams.
///
///   GET  /health               process up (no API key needed)
///   GET  /ready                models loaded, not shutting down, every busy scheduler stepped in the last 10 s
///   GET  /metrics              Prometheus text: queue, KV blocks, prefix cache, tokens, latencies, dollars
///   GET  /v1/usage             tokens served, instance-hours, dollars spent, $/1M tokens, a managed model's bill
///   GET  /v1/models            the served models
///   GET  /v1/models/{id}       one of them (404 with OpenAI's body if not served)
///   POST /v1/completions       text or token-id prompts, `n`, `stream` (SSE), logprobs
///   POST /v1/chat/completions  messages through the model's chat template, same options
public struct OpenAIServer: Sendable {
    public let models: [String: ServedModel]
    public let limits: RequestLimits
    public let apiKey: String?
    public let metrics = ServerMetrics()
    /// Closed by a graceful shutdown (`drain`): completions get 503 from then on.
    public let admission = Admission()
    /// Requests (choices) allowed to wait for admission per model; beyond it, 503 at once.
    public let maxQueue: Int

    /// Dollars at the configured instance price, in /metrics and /v1/usage (nil: no price given).
    public let liveCost: LiveCost?
    public let connectionLimits: ConnectionLimits
    /// Open connections and refused ones (shared by every connection's `ConnectionGuard`).
    public let connections: ConnectionCounter
    /// Request lines and errors (label `swiftlet.server`).
    public let logger: Logger
    /// Served names that answer with a student and escalate to a teacher (`serve --student`).
    public let cascades: [String: CascadeRoute]
    public let cascadeMetrics = CascadeMetrics()

    public init(models: [ServedModel], limits: RequestLimits = RequestLimits(), apiKey: String? = nil, maxQueue: Int = 256,
                liveCost: LiveCost? = nil, connectionLimits: ConnectionLimits = ConnectionLimits(),
                logger: Logger = Logger(label: "swiftlet.server"), cascades: [CascadeRoute] = []) {
        self.cascades = Dictionary(cascades.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.maxQueue = maxQueue
        self.connectionLimits = connectionLimits
        self.connections = ConnectionCounter(limit: connectionLimits.maxConnections)
        self.logger = logger
        self.liveCost = liveCost
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.limits = limits
        self.apiKey = apiKey
    }

    public func buildRouter() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger, metrics: metrics))
        if let apiKey { router.add(middleware: APIKeyMiddleware(key: apiKey)) }
        router.get("/health") { _, _ in Self.jsonResponse(["status": "ok"]) }
        router.get("/ready") { _, _ in readiness() }
        router.get("/metrics") { _, _ in
            var text = metrics.render(models.values.sorted { $0.name < $1.name }, connections: connections)
            if let liveCost { text += liveCost.metricsText(costSnapshot(liveCost)) }
            if !cascades.isEmpty { text += cascadeMetrics.render(cascades.values.sorted { $0.name < $1.name },
                                                                            instancePerHour: liveCost?.instance.pricePerHour) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/usage") { _, _ in
            guard let liveCost else {
                let t = metrics.tokenTotals()
                return Self.jsonResponse(["object": "usage", "tokens": ["prompt": t.prompt, "cached_prompt": t.cached, "output": t.generated,
                                                                       "total": t.prompt + t.generated],
                                          "dollars_spent": NSNull(),
                                          "note": "no instance price: start the server with --instance NAME or --price-per-hour X"])
            }
            return Self.jsonResponse(liveCost.usageObject(costSnapshot(liveCost)))
        }
        router.get("/v1/models") { _, _ in
            let routes = cascades.keys.filter { models[$0] == nil }.sorted().map { name -> [String: Any] in
                ["id": name, "object": "model", "created": cascades[name]!.student.created, "owned_by": "swiftlet-cascade"]
            }
            return Self.jsonResponse(["object": "list", "data": models.values.sorted { $0.name < $1.name }.map(modelObject) + routes])
        }
        // `**`: a served name may hold a slash (`--model org/name=PATH`).
        router.get("/v1/models/**") { _, context in
            let id = context.parameters.getCatchAll().joined(separator: "/")
            if models[id] == nil, let route = cascades[id] {
                return Self.jsonResponse(["id": id, "object": "model", "created": route.student.created, "owned_by": "swiftlet-cascade"])
            }
            guard let model = models[id] else { return Self.errorResponse(.modelNotFound(id)) }
            return Self.jsonResponse(modelObject(model))
        }
        router.post("/v1/completions") { request, context in await handle(request, context: context, chat: false) }
        router.post("/v1/chat/completions") { request, context in await handle(request, context: context, chat: true) }
        return router
    }

    private func modelObject(_ m: ServedModel) -> [String: Any] {
        ["id": m.name, "object": "model", "created": m.created, "owned_by": "swiftlet"]
    }

    /// The HTTP/1.1 application: the routes, the connection limits (`ConnectionGuard`, and
    /// Hummingbird's accept limit a little above them, so that refusing connections can never run
    /// the process out of file descriptors), the idle timeout, and `onRunning` once bound.
    public func makeApplication(host: String, port: Int, acceptLimit: Int? = nil,
                                onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let counter = connections
        let idle = connectionLimits.idleTimeout.components
        let http = HTTP1Channel.Configuration(additionalChannelHandlers: [ConnectionGuard(counter: counter)],
                                              idleTimeout: .nanoseconds(idle.seconds * 1_000_000_000 + idle.attoseconds / 1_000_000_000))
        let accept = acceptLimit ?? (connectionLimits.maxConnections + ConnectionLimits.reservedDescriptors / 2)
        return Application(router: buildRouter(), server: .http1(configuration: http),
                           configuration: .init(address: .hostname(host, port: port), serverName: nil,
                                                availableConnectionsDelegate: .maximum(accept, logger: logger)),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
                           logger: logger)
    }

    private func costSnapshot(_ cost: LiveCost) -> LiveCost.Snapshot {
        let t = metrics.tokenTotals()
        return cost.snapshot(promptTokens: t.prompt, cachedPromptTokens: t.cached, outputTokens: t.generated)
    }

    // MARK: responses

    static func jsonResponse(_ object: [String: Any], status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        for field in extra { headers.append(field) }
        return Response(status: status, headers: headers,
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: ResponseJSON.encode(object))))
    }

    static func errorResponse(_ e: APIError) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if e.status == 503 { headers[.retryAfter] = "1" }
        return Response(status: HTTPResponse.Status(code: e.status), headers: headers,
                         body: ResponseBody(byteBuffer: ByteBuffer(bytes: e.body)))
    }

    private func readiness() -> Response {
        if admission.isClosed { return Self.errorResponse(.shuttingDown()) }
        let now = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        for model in models.values {
            let s = model.engine.stats
            if s.running + s.waiting > 0 && s.lastStepUptime > 0 && now - s.lastStepUptime > 10 {
                return Self.errorResponse(APIError(status: 503, message: "the scheduler of '\(model.name)' has not stepped for \(Int(now - s.lastStepUptime)) s",
                                                   type: "server_error", code: "not_ready"))
            }
        }
        return Self.jsonResponse(["status": "ready", "models": models.keys.sorted()])
    }

    // MARK: completions

    /// One choice to compute: its index in the response and its engine request.
    struct Choice { let index: Int; let request: EngineRequest }

    /// Runs a completion while watching the connection: if the client goes away before the
    /// answer is complete (it hangs up while its request waits or runs), the work is cancelled,
    /// which cancels its engine requests and returns their KV blocks. (Hummingbird then closes the
    /// connection after the response instead of keeping it alive.)
    private func handle(_ request: Request, context: ServerContext, chat: Bool) async -> Response {
        guard let hold = admission.admit() else {
            context.record.failed(.shuttingDown())
            return Self.errorResponse(.shuttingDown())
        }
        var response = await answer(request, record: context.record, chat: chat)
        // Watching for the client's hang-up reads the connection past this request, so it cannot
        // serve another: say so, and `ConnectionGuard` closes it once the answer is written.
        response.headers[.connection] = "close"
        return hold.keep(response)
    }

    private func answer(_ request: Request, record: RequestRecord, chat: Bool) async -> Response {
        let watch = CancelOnClose()
        do {
            return try await request.body.consumeWithInboundCloseHandler { body in
                let work = Task { try await respond(body, record: record, chat: chat) }
                watch.set(work)
                return try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
            } onInboundClosed: {
                watch.cancel()
            }
        } catch let e as APIError {
            record.failed(e)
            return Self.errorResponse(e)
        } catch {
            let e = APIError.engineFailure(error)
            record.failed(e)
            return Self.errorResponse(e)
        }
    }

    /// The body, within the size limit and the body timeout (a client trickling it byte by byte
    /// gets 408, and the connection closes).
    private func readBody(_ requestBody: RequestBody) async throws -> ByteBuffer {
        let limit = limits.maxBodyBytes, timeout = connectionLimits.bodyTimeout
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do { return try await requestBody.collect(upTo: limit) } catch let e as any HTTPResponseError where e.status == .contentTooLarge {
                    throw APIError(status: 413, message: "the request body is larger than the limit of \(limit) bytes",
                                   type: "invalid_request_error", code: "request_too_large")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else {
                throw APIError(status: 408, message: "the request body did not arrive within \(timeout)", type: "invalid_request_error",
                               code: "request_timeout")
            }
            return body
        }
    }

    private func respond(_ requestBody: RequestBody, record: RequestRecord, chat: Bool) async throws -> Response {
        do {
            let data = Data(buffer: try await readBody(requestBody))
            let parsed = try ParsedRequest(data, chat: chat, limits: limits)
            if let route = cascades[parsed.model], models[parsed.model] == nil {
                return try await respond(parsed, body: data, through: route, record: record)
            }
            guard let model = models[parsed.model] else { throw APIError.modelNotFound(parsed.model) }
            let (choices, echo) = try engineRequests(parsed, on: model)
            let streams = try submit(choices, to: model, promptParam: parsed.promptParam, record: record)
            let reply = Reply(model: model, chat: chat, parameters: parsed.parameters, echo: echo)
            if parsed.parameters.stream { return reply.stream(streams) }
            return try await reply.complete(streams)
        } catch let e as APIError {
            record.failed(e)
            return Self.errorResponse(e)
        }
    }

    /// A parsed body's engine requests on one model: `n` per prompt (seeds made to differ), and
    /// per choice the prompt's text for `echo` ("" without it).
    func engineRequests(_ parsed: ParsedRequest, on model: ServedModel) throws(APIError) -> (choices: [EngineRequest], echo: [String]) {
        let parameters = parsed.parameters
        let prompts: [[Int]], echoes: [String]
        switch parsed {
        case .chat(let c):
            prompts = [try model.tokens(of: c.messages)]
            echoes = []
        case .completion(let c):
            prompts = c.prompts.map(model.tokens(of:))
            echoes = parameters.echo ? c.prompts.map(model.text(of:)) : []
        }
        var choices: [EngineRequest] = [], echo: [String] = []
        for (p, ids) in prompts.enumerated() {
            let base = try parameters.engineRequest(promptTokens: ids, contextSize: model.contextSize,
                                                    vocabularySize: model.vocabularySize, promptParam: parsed.promptParam)
            for i in 0..<parameters.n {
                var r = base
                r.sampling.seed &+= UInt64(i)   // n choices with one seed must still differ
                choices.append(r)
                echo.append(echoes.isEmpty ? "" : echoes[p])
            }
        }
        return (choices, echo)
    }

    /// Submits a request's choices to a model's engine; usage and metrics are recorded as each
    /// choice ends. Admission is decided as the request arrives, against an exact count of waiting
    /// requests: a full queue is answered at once, before any work.
    func submit(_ choices: [EngineRequest], to model: ServedModel, promptParam: String, record: RequestRecord,
                onEnd: InferenceEngine.EndObserver? = nil) throws(APIError) -> [InferenceEngine.EventStream] {
        let streams: [InferenceEngine.EventStream]
        let metrics = self.metrics, logger = self.logger, name = model.name
        do {
            streams = try model.engine.submit(choices, waitingLimit: maxQueue) { reason, usage in
                metrics.record(model: name, reason: reason, usage: usage)
                record.choiceEnded(reason, usage, logger: logger)
                onEnd?(reason, usage)
            }
        } catch .shutDown {
            throw APIError.shuttingDown()
        } catch .overloaded(let waiting, let limit) {
            throw APIError(status: 503, message: "the server is overloaded: \(waiting) requests are waiting (limit \(limit)); retry shortly",
                           type: "server_error", code: "server_overloaded")
        } catch {
            throw APIError.invalid(error.description, param: promptParam)
        }
        record.submitted(model: name, choices: choices.count)
        return streams
    }
}

/// A completion or chat body, parsed.
enum ParsedRequest: Sendable {
    case completion(CompletionRequest)
    case chat(ChatRequest)

    init(_ data: Data, chat: Bool, limits: RequestLimits) throws(APIError) {
        self = chat ? .chat(try RequestParser.chat(data, limits: limits)) : .completion(try RequestParser.completion(data, limits: limits))
    }

    var model: String {
        switch self { case .chat(let c): c.model; case .completion(let c): c.model }
    }

    var parameters: GenerationParameters {
        switch self { case .chat(let c): c.parameters; case .completion(let c): c.parameters }
    }

    var isChat: Bool { if case .chat = self { true } else { false } }

    /// The field the prompt came in, for errors' `param`.
    var promptParam: String { isChat ? "messages" : "prompt" }
}

/// Builds the body of one completion or chat answer.
struct Reply: Sendable {
    let model: ServedModel
    let chat: Bool
    var parameters: GenerationParameters
    /// Per choice: the prompt's text, which `echo` puts before the answer ("" otherwise).
    let echo: [String]
    let id: String
    let created: Int
    /// The `model` field: the served model's name, or, through a cascade, the model that answered.
    var modelName: String
    /// Through a cascade: who answered and why, in the body's `cascade` object.
    var cascade: CascadeOutcome?

    /// Usage and metrics are recorded by the engine's end observer for every choice, however it
    /// ends; the reply only writes the answer.
    init(model: ServedModel, chat: Bool, parameters: GenerationParameters, echo: [String]) {
        self.echo = echo
        self.model = model
        self.chat = chat
        self.parameters = parameters
        modelName = model.name
        id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        created = Int(Date().timeIntervalSince1970)
    }

    private func piece(_ id: Int) -> String { model.tokenizer.decode([id]) }

    private var object: String { chat ? "chat.completion" : "text_completion" }

    /// Collects every choice, then one JSON answer. Reading stops (and the requests are
    /// cancelled) if the handler's task is cancelled.
    func complete(_ streams: [AsyncThrowingStream<EngineEvent, Error>]) async throws -> Response {
        struct Result: Sendable { var index: Int; var text = ""; var tokens: [GeneratedToken] = []; var reason = FinishReason.stop; var usage = RequestUsage() }
        let results = try await withThrowingTaskGroup(of: Result.self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    var r = Result(index: i)
                    r.text = echo[i]
                    for try await event in stream {
                        switch event {
                        case .token(let t): r.text += t.text; r.tokens.append(t)
                        case .text(let s): r.text += s
                        case .finished(let reason, let usage):
                            r.reason = reason
                            r.usage = usage
                        }
                    }
                    return r
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
        }
        let choices: [[String: Any]] = results.map { r in
            let logprobs: Any = parameters.logprobs == nil ? NSNull()
                : (chat ? ResponseJSON.chatLogprobs(r.tokens, piece) : ResponseJSON.completionLogprobs(r.tokens, piece))
            var c: [String: Any] = ["index": r.index, "finish_reason": ResponseJSON.finishReason(r.reason), "logprobs": logprobs]
            if chat { c["message"] = ["role": "assistant", "content": r.text] } else { c["text"] = r.text }
            return c
        }
        let usage = ResponseJSON.usage(results.map(\.usage), choicesPerPrompt: parameters.n)
        var body: [String: Any] = ["id": id, "object": object, "created": created, "model": modelName, "choices": choices, "usage": usage]
        if let cascade { body["cascade"] = cascade.json }
        return OpenAIServer.jsonResponse(body, headers: cascade?.headers ?? [:])
    }

    private func chunk(_ choices: [[String: Any]], usage: [String: Any]? = nil) -> ByteBuffer {
        var o: [String: Any] = ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                                "model": modelName, "choices": choices]
        if let usage { o["usage"] = usage }
        // A cascade's decision rides on each choice's last chunk (and the usage chunk).
        if let cascade, usage != nil || choices.contains(where: { !($0["finish_reason"] is NSNull) }) { o["cascade"] = cascade.json }
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(ResponseJSON.encode(o))
        buffer.writeString("\n\n")
        return buffer
    }

    private func delta(_ index: Int, text: String, tokens: [GeneratedToken], first: Bool, finish: FinishReason?) -> [String: Any] {
        var c: [String: Any] = ["index": index, "finish_reason": finish.map(ResponseJSON.finishReason) ?? NSNull()]
        c["logprobs"] = parameters.logprobs == nil || tokens.isEmpty ? NSNull()
            : (chat ? ResponseJSON.chatLogprobs(tokens, piece) : ResponseJSON.completionLogprobs(tokens, piece))
        if chat {
            var d: [String: Any] = finish == nil ? ["content": text] : [:]
            if first { d["role"] = "assistant" }
            c["delta"] = d
        } else {
            c["text"] = text
        }
        return c
    }

    /// Server-sent events: a chunk per token (per choice), a last chunk per choice with its finish
    /// reason, the usage chunk if asked, then `data: [DONE]`. A failure after the stream started
    /// is an `error` event. If the client goes away, writing fails, the merged reading is
    /// cancelled, and with it every choice's request.
    func stream(_ streams: [AsyncThrowingStream<EngineEvent, Error>]) -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        for field in cascade?.headers ?? [:] { headers.append(field) }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (merged, sink) = AsyncStream<(Int, Result<EngineEvent, Error>)>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, stream) in streams.enumerated() {
                    group.addTask {
                        do {
                            for try await event in stream { sink.yield((i, .success(event))) }
                        } catch {
                            sink.yield((i, .failure(error)))
                        }
                    }
                }
                var open = streams.count, started = Set<Int>()
                // `echo`: each choice's first chunk is its prompt.
                for (i, text) in echo.enumerated() where !text.isEmpty {
                    try await writer.write(chunk([delta(i, text: text, tokens: [], first: started.insert(i).inserted, finish: nil)]))
                }
                var usages = [RequestUsage](repeating: RequestUsage(), count: streams.count)   // by choice index
                var failed = false
                for await (i, result) in merged {
                    switch result {
                    case .success(.token(let t)):
                        try await writer.write(chunk([delta(i, text: t.text, tokens: [t], first: started.insert(i).inserted, finish: nil)]))
                    case .success(.text(let s)):
                        try await writer.write(chunk([delta(i, text: s, tokens: [], first: started.insert(i).inserted, finish: nil)]))
                    case .success(.finished(let reason, let usage)):
                        usages[i] = usage
                        try await writer.write(chunk([delta(i, text: "", tokens: [], first: started.insert(i).inserted, finish: reason)]))
                        open -= 1
                    case .failure(let error):
                        let e = APIError.engineFailure(error)
                        var buffer = ByteBuffer(string: "event: error\ndata: ")
                        buffer.writeBytes(e.body)
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                        failed = true
                        open -= 1
                    }
                    if open == 0 { break }
                }
                group.cancelAll()
                sink.finish()
                if !failed {
                    if parameters.includeUsage { try await writer.write(chunk([], usage: ResponseJSON.usage(usages, choicesPerPrompt: parameters.n))) }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                }
                try await writer.finish(nil)
            }
        })
    }
}

/// Cancels a request's work when its connection closes, whichever comes first: the close or the
/// work's start.
final class CancelOnClose: Sendable {
    private let state = Mutex<(task: Task<Response, Error>?, closed: Bool)>((nil, false))

    func set(_ task: Task<Response, Error>) {
        let closed = state.withLock { s in s.task = task; return s.closed }
        if closed { task.cancel() }
    }

    func cancel() {
        let task = state.withLock { s in s.closed = true; return s.task }
        task?.cancel()
    }
}
