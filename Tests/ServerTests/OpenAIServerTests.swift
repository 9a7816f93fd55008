import Cost
import Engine
import Foundation
import GGUF
import Hummingbird
import HummingbirdTesting
import Models
import OpenAIAPI
@testable import Server
import SwiftletTesting
import Testing
import Tokenizer

/// The routes through Hummingbird's in-process test client, on a tiny random model: valid
/// completions and chats (plain and streamed), every error with OpenAI's body and the right
/// status, and a valid request right after each error.
@Suite struct OpenAIServerTests {
    /// A tiny random model with a chat template, served as `name` (the seed picks its weights).
    /// With `selfDraft`, the model speculates with a second copy of itself as the draft (every
    /// draft accepted), up to that many draft tokens per check.
    static func tinyModel(_ name: String = "tiny", seed: UInt64 = 1, threads: Int = 2, maxSequences: Int = 32,
                          selfDraft: Int? = nil) throws -> ServedModel {
        var tiny = TinyLlama(context: 64, type: .f32, seed: seed)
        tiny.set("tokenizer.chat_template", .string("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"))
        let gguf = try tiny.open()
        let model = try LlamaModel(gguf: gguf, backend: .simd, threads: threads)
        let tokenizer = try Tokenizer(gguf: gguf)
        var config = EngineConfiguration()
        config.blockSize = 4
        config.maxSequences = maxSequences
        let speculation = try selfDraft.map {
            EngineSpeculation(draft: .model(try LlamaModel(gguf: gguf, backend: .simd, threads: 1), tokenizer),
                              options: SpeculationOptions(maxDraftTokens: $0, adaptive: false))
        }
        return ServedModel(name: name, engine: try InferenceEngine(model: model, tokenizer: tokenizer, configuration: config, speculation: speculation),
                           tokenizer: tokenizer)
    }

    static func server(apiKey: String? = nil, maxQueue: Int = 64, maxSequences: Int = 32, liveCost: LiveCost? = nil) throws -> OpenAIServer {
        var limits = RequestLimits()
        limits.maxBodyBytes = 4096
        return OpenAIServer(models: [try tinyModel(maxSequences: maxSequences)], limits: limits, apiKey: apiKey, maxQueue: maxQueue,
                            liveCost: liveCost)
    }

    static func json(_ body: ByteBuffer) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: headers.isEmpty ? [.contentType: "application/json"] : headers,
                                 body: ByteBuffer(string: body))
    }

    static let valid = #"{"model":"tiny","prompt":"ab ab","max_tokens":4,"temperature":0}"#

    @Test func completionChatAndModels() async throws {
        let app = Application(router: try Self.server().buildRouter())
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/v1/completions", #"{"model":"tiny","prompt":"ab ab","max_tokens":4,"logprobs":2,"n":2,"ignore_eos":true}"#)
            #expect(r.status == .ok)
            let o = Self.json(r.body)
            let choices = o?["choices"] as? [[String: Any]]
            #expect(o?["object"] as? String == "text_completion" && choices?.count == 2)
            #expect(choices?.first?["text"] is String && choices?.first?["finish_reason"] as? String != nil)
            let usage = o?["usage"] as? [String: Any]
            #expect(usage?["prompt_tokens"] as? Int ?? 0 > 0 && usage?["completion_tokens"] as? Int ?? 0 > 0)
            #expect((usage?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] is Int)
            #expect(((choices?.first?["logprobs"] as? [String: Any])?["tokens"] as? [String])?.isEmpty == false)

            let c = try await Self.post(client, "/v1/chat/completions", #"{"model":"tiny","messages":[{"role":"user","content":"ab"}],"max_tokens":3}"#)
            #expect(c.status == .ok)
            let message = ((Self.json(c.body)?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
            #expect(message?["role"] as? String == "assistant" && message?["content"] is String)

            let m = try await client.execute(uri: "/v1/models", method: .get)
            #expect(((Self.json(m.body)?["data"] as? [[String: Any]])?.first?["id"] as? String) == "tiny")
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/ready", method: .get).status == .ok)
        }
    }

    @Test func streamingEndsWithUsageAndDone() async throws {
        let app = Application(router: try Self.server().buildRouter())
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/v1/chat/completions",
                                        #"{"model":"tiny","messages":[{"role":"user","content":"ab"}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"#)
            #expect(r.status == .ok && r.headers[.contentType] == "text/event-stream")
            let events = String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            let chunks = events.dropLast().compactMap { e -> [String: Any]? in
                guard e.hasPrefix("data: ") else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(e.dropFirst(6).utf8)) as? [String: Any]
            }
            #expect(chunks.count == events.count - 1)
            #expect(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
            let first = ((chunks.first?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])
            #expect(first?["role"] as? String == "assistant")
            #expect((chunks.last?["choices"] as? [Any])?.isEmpty == true && chunks.last?["usage"] != nil)
            let finishes = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) }
            #expect(finishes.count == 1)
        }
    }

    /// Each error case: status, type, param, code; then a valid request still succeeds.
    @Test func errorsThenAValidRequest() async throws {
        let app = Application(router: try Self.server().buildRouter())
        let long = String(repeating: "ab ", count: 70)
        let cases: [(String, String, Int, String?, String?)] = [
            ("/v1/completions", "not json", 400, nil, nil),
            ("/v1/completions", #"{"model":"tiny","prompt":"x""#, 400, nil, nil),
            ("/v1/completions", #"{"prompt":"x"}"#, 400, "model", nil),
            ("/v1/completions", #"{"model":"nope","prompt":"x"}"#, 404, "model", "model_not_found"),
            ("/v1/completions", #"{"model":"tiny","prompt":""}"#, 400, "prompt", nil),
            ("/v1/completions", #"{"model":"tiny","prompt":"x","top_p":0}"#, 400, "top_p", nil),
            ("/v1/completions", #"{"model":"tiny","prompt":"x","max_tokens":0}"#, 400, "max_tokens", nil),
            ("/v1/completions", #"{"model":"tiny","prompt":[1,999]}"#, 400, "prompt", nil),
            ("/v1/completions", #"{"model":"tiny","prompt":"\#(long)"}"#, 400, "prompt", "context_length_exceeded"),
            ("/v1/completions", #"{"model":"tiny","prompt":"ab","max_tokens":100}"#, 400, "max_tokens", "context_length_exceeded"),
            ("/v1/chat/completions", #"{"model":"tiny","messages":[]}"#, 400, "messages", nil),
            ("/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"" + String(repeating: "a", count: 5000) + "\"}", 413, nil, "request_too_large"),
        ]
        try await app.test(.router) { client in
            for (uri, body, status, param, code) in cases {
                let r = try await Self.post(client, uri, body)
                let e = Self.json(r.body)?["error"] as? [String: Any]
                #expect(Int(r.status.code) == status, "\(body.prefix(60)): \(String(buffer: r.body))")
                #expect(e?["type"] as? String != nil && e?["message"] as? String != nil, "\(body.prefix(60))")
                #expect(e?["param"] as? String == param && e?["code"] as? String == code, "\(body.prefix(60)): \(String(describing: e))")
                #expect(try await Self.post(client, "/v1/completions", Self.valid).status == .ok, "after \(body.prefix(60))")
            }
        }
    }

    @Test func apiKeyGuardsEveryRouteButHealth() async throws {
        let app = Application(router: try Self.server(apiKey: "sekret").buildRouter())
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            for (uri, method) in [("/v1/models", HTTPRequest.Method.get), ("/ready", .get), ("/v1/completions", .post)] {
                let r = try await client.execute(uri: uri, method: method, body: ByteBuffer(string: Self.valid))
                #expect(r.status == .unauthorized && (Self.json(r.body)?["error"] as? [String: Any])?["code"] as? String == "invalid_api_key")
            }
            let wrong = try await Self.post(client, "/v1/completions", Self.valid, headers: [.contentType: "application/json", .authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await Self.post(client, "/v1/completions", Self.valid, headers: [.contentType: "application/json", .authorization: "Bearer sekret"])
            #expect(right.status == .ok)
        }
    }

    @Test func metricsAreprometheusTextAndCountRequests() async throws {
        let app = Application(router: try Self.server().buildRouter())
        try await app.test(.router) { client in
            #expect(try await Self.post(client, "/v1/completions", Self.valid).status == .ok)
            let r = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: r.body)
            #expect(r.status == .ok)
            #expect(text.contains("swiftlet_request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 1"), "\(text)")
            #expect(text.contains("swiftlet_time_to_first_token_seconds_count{model_name=\"tiny\"} 1"))
            #expect(text.contains("swiftlet_kv_blocks_total{model_name=\"tiny\"}"))
            // Every sample line: a metric name, optional labels, a number.
            let sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [0-9.eE+-]+$/
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                #expect(line.wholeMatch(of: sample) != nil, "\(line)")
            }
        }
    }

    /// A request that would start at once is not waiting; one beyond the batch's free places and
    /// the queue limit is refused whole (all its `n` choices), at once, with `Retry-After`.
    @Test func fullQueueIsAnsweredWith503AndRetryAfter() async throws {
        let app = Application(router: try Self.server(maxQueue: 1, maxSequences: 1).buildRouter())
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/v1/completions", #"{"model":"tiny","prompt":"ab ab","max_tokens":4,"n":3}"#)
            #expect(r.status == .serviceUnavailable && r.headers[.retryAfter] != nil)
            #expect((Self.json(r.body)?["error"] as? [String: Any])?["code"] as? String == "server_overloaded")
            // One place in the batch and one in the queue: n = 2 fits.
            #expect(try await Self.post(client, "/v1/completions", #"{"model":"tiny","prompt":"ab ab","max_tokens":4,"n":2}"#).status == .ok)
        }
    }

    /// After a graceful shutdown starts, completions get 503 `server_shutting_down` at once and
    /// /ready says not ready, while /health still answers; a drain with nothing running ends at
    /// once with nothing cut off.
    @Test func drainingRefusesNewRequests() async throws {
        let server = try Self.server()
        let app = Application(router: server.buildRouter())
        try await app.test(.router) { client in
            #expect(try await Self.post(client, "/v1/completions", Self.valid).status == .ok)
            let outcome = await server.drain(timeout: .seconds(5))
            #expect(outcome == DrainOutcome(finished: 0, cutOff: 0))
            #expect(server.admission.answering == 0)
            for uri in ["/v1/completions", "/v1/chat/completions"] {
                let r = try await Self.post(client, uri, Self.valid)
                #expect(r.status == .serviceUnavailable && r.headers[.retryAfter] != nil)
                #expect((Self.json(r.body)?["error"] as? [String: Any])?["code"] as? String == "server_shutting_down")
            }
            #expect(try await client.execute(uri: "/ready", method: .get).status == .serviceUnavailable)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
        }
    }

    static let instance = InstancePrice(name: "test.large", vcpus: 2, memoryGiB: 4, pricePerHour: 3.6, architecture: "x86_64",
                                        cpu: "test", source: "test", date: "undated")
    static let managed = ManagedPrice(name: "m", displayName: "M", inputPerMillion: 1, outputPerMillion: 2, cachedInputPerMillion: 0.1,
                                      source: "test", date: "undated")

    /// One instance-hour at $3.60 serving 1M prompt tokens (half cached) and 1M output tokens.
    @Test func liveCostArithmetic() {
        let cost = LiveCost(instance: Self.instance, compare: Self.managed)
        let s = cost.snapshot(promptTokens: 1_000_000, cachedPromptTokens: 500_000, outputTokens: 1_000_000, now: cost.startUptime + 3600)
        #expect(abs(s.instanceHours - 1) < 1e-12 && abs(s.dollars - 3.6) < 1e-12)
        #expect(abs(s.dollarsPerMillionTokens! - 1.8) < 1e-12 && abs(s.dollarsPerMillionOutputTokens! - 3.6) < 1e-12)
        // 0.5M × $1 + 0.5M × $0.10 + 1M × $2.
        #expect(abs(s.managedDollars! - 2.55) < 1e-12)
        #expect(cost.snapshot(promptTokens: 0, cachedPromptTokens: 0, outputTokens: 0).dollarsPerMillionTokens == nil)
    }

    /// With a price, /metrics and /v1/usage report dollars and the managed model's bill; without
    /// one, /v1/usage still counts tokens and says how to get dollars.
    @Test func usageAndMetricsReportDollars() async throws {
        let app = Application(router: try Self.server(liveCost: LiveCost(instance: Self.instance, compare: Self.managed)).buildRouter())
        try await app.test(.router) { client in
            #expect(try await Self.post(client, "/v1/completions", Self.valid).status == .ok)
            let u = Self.json(try await client.execute(uri: "/v1/usage", method: .get).body)
            #expect(((u?["tokens"] as? [String: Any])?["output"] as? Int ?? 0) > 0)
            #expect((u?["dollars_spent"] as? Double ?? 0) > 0 && (u?["instance_hours"] as? Double ?? 0) > 0)
            #expect(((u?["managed_comparison"] as? [String: Any])?["dollars"] as? Double ?? 0) > 0)
            let m = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(m.contains("swiftlet_cost_dollars_total{instance=\"test.large\"}") && m.contains("swiftlet_instance_price_dollars_per_hour{instance=\"test.large\"} 3.6"))
            #expect(m.contains("swiftlet_managed_equivalent_dollars_total{managed_model=\"m\"}"))
        }
        let plain = Application(router: try Self.server().buildRouter())
        try await plain.test(.router) { client in
            let u = Self.json(try await client.execute(uri: "/v1/usage", method: .get).body)
            #expect(u?["dollars_spent"] is NSNull && (u?["note"] as? String)?.contains("--instance") == true)
        }
    }

    /// Unknown routes and wrong methods answer with OpenAI's error body (404, or 405 with
    /// `Allow`), and one model can be looked up by id.
    @Test func routesAnswerWithOpenAIBodies() async throws {
        let app = Application(router: try Self.server().buildRouter())
        try await app.test(.router) { client in
            let missing = try await client.execute(uri: "/v1/nope", method: .get)
            #expect(missing.status == .notFound && (Self.json(missing.body)?["error"] as? [String: Any])?["code"] as? String == "not_found")
            let wrong = try await client.execute(uri: "/v1/completions", method: .get)
            #expect(wrong.status == .methodNotAllowed && wrong.headers[.allow] == "POST")
            #expect((Self.json(wrong.body)?["error"] as? [String: Any])?["code"] as? String == "method_not_allowed")
            let postModels = try await client.execute(uri: "/v1/models", method: .post)
            #expect(postModels.status == .methodNotAllowed && postModels.headers[.allow] == "GET")
            let model = try await client.execute(uri: "/v1/models/tiny", method: .get)
            #expect(model.status == .ok && Self.json(model.body)?["id"] as? String == "tiny" && Self.json(model.body)?["object"] as? String == "model")
            let unknown = try await client.execute(uri: "/v1/models/huge", method: .get)
            #expect(unknown.status == .notFound && (Self.json(unknown.body)?["error"] as? [String: Any])?["code"] as? String == "model_not_found")
        }
    }

    /// `logit_bias` +100 on one token makes it every generated token; `echo` starts the text
    /// with the prompt; an unsupported field is a 400 naming it, counted as a rejection.
    @Test func logitBiasEchoAndRefusals() async throws {
        let app = Application(router: try Self.server().buildRouter())
        try await app.test(.router) { client in
            let r = try await Self.post(client, "/v1/completions",
                                        #"{"model":"tiny","prompt":"ab ab","max_tokens":5,"ignore_eos":true,"logit_bias":{"7":100},"logprobs":0}"#)
            let choice = (Self.json(r.body)?["choices"] as? [[String: Any]])?.first
            let tokens = ((choice?["logprobs"] as? [String: Any])?["tokens"] as? [String]) ?? []
            #expect(r.status == .ok && tokens.count == 5, "\(String(buffer: r.body))")
            let server = try Self.server()
            let piece = server.models["tiny"]!.tokenizer.decode([7])
            #expect(tokens.allSatisfy { $0 == piece }, "\(tokens) vs \(piece)")
            let echo = try await Self.post(client, "/v1/completions", #"{"model":"tiny","prompt":"ab ab","max_tokens":2,"echo":true}"#)
            let text = ((Self.json(echo.body)?["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
            #expect(echo.status == .ok && text.hasPrefix("ab ab"), "\(text)")
            let refused = try await Self.post(client, "/v1/chat/completions",
                                              #"{"model":"tiny","messages":[{"role":"user","content":"ab"}],"response_format":{"type":"json_object"}}"#)
            #expect(refused.status == .badRequest && (Self.json(refused.body)?["error"] as? [String: Any])?["param"] as? String == "response_format")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("swiftlet_request_rejected_total{reason=\"unsupported_parameter\"} 1"), "\(metrics)")
        }
    }
}
