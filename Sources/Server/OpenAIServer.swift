import Engine
import Foundation
import Hummingbird
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

    public init(models: [ServedModel], limits: RequestLimits = RequestLimits(), apiKey: String? = nil, maxQueue: Int = 256,
                liveCost: LiveCost? = nil) {
        self.maxQueue = maxQueue
        self.liveCost = liveCost
        self.models = Dictionary(models.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.limits = limits
        self.apiKey = apiKey
    }

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        if let apiKey { router.add(middleware: APIKeyMiddleware(key: apiKey)) }
        router.get("/health") { _, _ in Self.jsonResponse(["status": "ok"]) }
        router.get("/ready") { _, _ in readiness() }
        router.get("/metrics") { _, _ in
            var text = metrics.render(models.values.sorted { $0.name < $1.name })
            if let liveCost { text += liveCost.metricsText(costSnapshot(liveCost)) }
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
            Self.jsonResponse(["object": "list", "data": models.values.sorted { $0.name < $1.name }.map {
                ["id": $0.name, "object": "model", "created": $0.created, "owned_by": "swiftlet"] as [String: Any]
            }])
        }
        router.post("/v1/completions") { request, _ in await handle(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in await handle(request, chat: true) }
        return router
    }

    private func costSnapshot(_ cost: LiveCost) -> LiveCost.Snapshot {
        let t = metrics.tokenTotals()
        return cost.snapshot(promptTokens: t.prompt, cachedPromptTokens: t.cached, outputTokens: t.generated)
    }

    // MARK: responses

    static func jsonResponse(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
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
    private func handle(_ request: Request, chat: Bool) async -> Response {
        guard let hold = admission.admit() else { return Self.errorResponse(.shuttingDown()) }
        var response = await answer(request, chat: chat)
        // Watching for the client's hang-up reads the connection past this request, so Hummingbird
        // closes it after the answer; say so, or a client that reuses it races the close.
        response.headers[.connection] = "close"
        return hold.keep(response)
    }

    private func answer(_ request: Request, chat: Bool) async -> Response {
        let watch = CancelOnClose()
        do {
            return try await request.body.consumeWithInboundCloseHandler { body in
                let work = Task { try await respond(body, chat: chat) }
                watch.set(work)
                return try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
            } onInboundClosed: {
                watch.cancel()
            }
        } catch let e as APIError {
            return Self.errorResponse(e)
        } catch {
            return Self.errorResponse(.engineFailure(error))
        }
    }

    private func respond(_ requestBody: RequestBody, chat: Bool) async throws -> Response {
        do {
            let body: ByteBuffer
            do { body = try await requestBody.collect(upTo: limits.maxBodyBytes) } catch let e as any HTTPResponseError where e.status == .contentTooLarge {
                throw APIError(status: 413, message: "the request body is larger than the limit of \(limits.maxBodyBytes) bytes",
                               type: "invalid_request_error", code: "request_too_large")
            }
            let data = Data(buffer: body)
            let modelName: String, parameters: GenerationParameters, prompts: [[Int]], promptParam: String
            if chat {
                let parsed = try RequestParser.chat(data, limits: limits)
                guard let model = models[parsed.model] else { throw APIError.modelNotFound(parsed.model) }
                (modelName, parameters, promptParam) = (parsed.model, parsed.parameters, "messages")
                prompts = [try model.tokens(of: parsed.messages)]
            } else {
                let parsed = try RequestParser.completion(data, limits: limits)
                guard let model = models[parsed.model] else { throw APIError.modelNotFound(parsed.model) }
                (modelName, parameters, promptParam) = (parsed.model, parsed.parameters, "prompt")
                prompts = parsed.prompts.map(model.tokens(of:))
            }
            let model = models[modelName]!
            var choices: [Choice] = []
            for ids in prompts {
                let base = try parameters.engineRequest(promptTokens: ids, contextSize: model.contextSize,
                                                        vocabularySize: model.vocabularySize, promptParam: promptParam)
                for i in 0..<parameters.n {
                    var r = base
                    r.sampling.seed &+= UInt64(i)   // n choices with one seed must still differ
                    choices.append(Choice(index: choices.count, request: r))
                }
            }
            // Backpressure: a full queue is answered at once, before any work.
            let waiting = model.engine.stats.waiting
            guard waiting + choices.count <= maxQueue else {
                throw APIError(status: 503, message: "the server is overloaded: \(waiting) requests are waiting (limit \(maxQueue)); retry shortly",
                               type: "server_error", code: "server_overloaded")
            }
            // Submit before answering, so a refused request gets a status, not a broken stream.
            var streams: [AsyncThrowingStream<EngineEvent, Error>] = []
            for c in choices {
                do { streams.append(try model.engine.submit(c.request)) } catch {
                    if error == .shutDown { throw APIError.shuttingDown() }
                    throw APIError(status: 503, message: error.description, type: "server_error", code: "server_overloaded")
                }
            }
            let reply = Reply(model: model, chat: chat, parameters: parameters, metrics: metrics)
            if parameters.stream { return reply.stream(streams) }
            return try await reply.complete(streams)
        } catch let e as APIError {
            return Self.errorResponse(e)
        }
    }
}

/// Builds the body of one completion or chat answer.
struct Reply: Sendable {
    let model: ServedModel
    let chat: Bool
    let parameters: GenerationParameters
    let metrics: ServerMetrics
    let id: String
    let created: Int

    init(model: ServedModel, chat: Bool, parameters: GenerationParameters, metrics: ServerMetrics) {
        self.metrics = metrics
        self.model = model
        self.chat = chat
        self.parameters = parameters
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
                    var finished = false, failed = false
                    defer {
                        // The stream ended without its last event: it failed, or the request was
                        // cancelled (the client hung up).
                        if !finished { metrics.record(model: model.name, reason: failed ? .error : .cancelled, usage: r.usage) }
                    }
                    do {
                        for try await event in stream {
                            switch event {
                            case .token(let t): r.text += t.text; r.tokens.append(t)
                            case .text(let s): r.text += s
                            case .finished(let reason, let usage):
                                r.reason = reason
                                r.usage = usage
                                finished = true
                                metrics.record(model: model.name, reason: reason, usage: usage)
                            }
                        }
                    } catch {
                        failed = true
                        throw error
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
        return OpenAIServer.jsonResponse(["id": id, "object": object, "created": created, "model": model.name,
                                          "choices": choices, "usage": usage])
    }

    private func chunk(_ choices: [[String: Any]], usage: [String: Any]? = nil) -> ByteBuffer {
        var o: [String: Any] = ["id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
                                "model": model.name, "choices": choices]
        if let usage { o["usage"] = usage }
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
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (merged, sink) = AsyncStream<(Int, Result<EngineEvent, Error>)>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, stream) in streams.enumerated() {
                    group.addTask {
                        var finished = false
                        do {
                            for try await event in stream {
                                if case .finished = event { finished = true }
                                sink.yield((i, .success(event)))
                            }
                        } catch {
                            sink.yield((i, .failure(error)))
                            finished = true
                            metrics.record(model: model.name, reason: .error, usage: RequestUsage())
                        }
                        // Cancelled with the response (the client hung up): count it.
                        if !finished { metrics.record(model: model.name, reason: .cancelled, usage: RequestUsage()) }
                    }
                }
                var open = streams.count, started = Set<Int>()
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
                        metrics.record(model: model.name, reason: reason, usage: usage)
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
