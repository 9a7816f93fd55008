import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Models
import OpenAIAPI
@testable import Server
import ServiceLifecycle
import SwiftletTesting
import Synchronization
import Testing
import Tokenizer

/// The cascade route on tiny random models. Their confidences lie strictly between 0 and 1, so a
/// threshold of 0 always keeps the student and 1 always escalates. The upstream teacher is a
/// second server on a real loopback port, reached over HTTP as any OpenAI-compatible API would be.
@Suite struct CascadeTests {
    static func tinyModel(_ name: String, seed: UInt64) throws -> ServedModel {
        try OpenAIServerTests.tinyModel(name, seed: seed, threads: 1, maxSequences: 8)
    }

    static func cascadeServer(teacher: CascadeTeacher? = nil, threshold: Double, rule: ConfidenceRule = .mean, decideAfter: Int = 4,
                              price: TokenPrice? = nil, liveCost: LiveCost? = nil) throws -> OpenAIServer {
        let student = try tinyModel("student", seed: 1)
        let t = try teacher ?? .local(tinyModel("teacher", seed: 2))
        var models = [student]
        if case .local(let m) = t { models.append(m) }
        let route = CascadeRoute(name: "cascade", student: student, teacher: t, rule: rule,
                                 thresholds: [.chat: threshold, .completions: threshold], decideAfter: decideAfter, teacherPrice: price)
        return OpenAIServer(models: models, liveCost: liveCost, cascades: [route])
    }

    static let completion = #"{"model":"cascade","prompt":"ab ab","max_tokens":6,"temperature":0,"ignore_eos":true}"#
    static let chat = #"{"model":"cascade","messages":[{"role":"user","content":"ab"}],"max_tokens":6,"temperature":0,"ignore_eos":true}"#

    static func cascade(_ o: [String: Any]?) -> [String: Any]? { o?["cascade"] as? [String: Any] }

    /// A served model on a real port until `stop()`: the upstream teacher.
    ///
    /// `stop()` shuts the server down gracefully, as SIGTERM does `swiftlet serve`, instead of
    /// cancelling its task: NIO traps ("Deinited NIOAsyncWriter without calling finish()") when a
    /// serving task is cancelled while a connection it accepted is not yet handed out
    /// (apple/swift-nio#2813), and the cascade under test is connecting at that moment.
    final class LiveTeacher: Sendable {
        let group: ServiceGroup
        let task: Task<Void, Error>
        let port: Int
        init(_ server: OpenAIServer) async throws {
            let (ports, sink) = AsyncStream<Int>.makeStream()
            let app = server.makeApplication(host: "127.0.0.1", port: 0) { port in sink.yield(port) }
            let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test.teacher")))
            self.group = group
            task = Task { try await group.run() }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { throw CancellationError() }
            self.port = port
        }
        var url: URL { URL(string: "http://127.0.0.1:\(port)/v1")! }
        func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
        }
    }

    @Test func rulesReadTheStudentsTokenProbabilities() {
        func token(_ p: Double, _ alternatives: [(Int, Double)] = []) -> GeneratedToken {
            GeneratedToken(id: 7, text: "x", logprob: Float(log(p)), topLogprobs: alternatives.map { (id: $0.0, logprob: Float(log($0.1))) })
        }
        let tokens = [token(0.9, [(7, 0.9), (3, 0.05)]), token(0.4), token(0.8)]
        #expect(abs(ConfidenceRule.mean.confidence(tokens) - pow(0.9 * 0.4 * 0.8, 1.0 / 3)) < 1e-5)
        #expect(abs(ConfidenceRule.min.confidence(tokens) - 0.4) < 1e-5)
        #expect(abs(ConfidenceRule.margin.confidence(tokens) - 0.85) < 1e-5)
        // A sampled token that was not the most likely one: no lead at all.
        #expect(ConfidenceRule.margin.confidence([token(0.3, [(2, 0.6), (7, 0.3)])]) == 0)
        #expect(ConfidenceRule.mean.confidence([]) == 0)
    }

    @Test func aConfidentStudentAnswers() async throws {
        let server = try Self.cascadeServer(threshold: 0)
        try await Application(router: server.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/completions", Self.completion)
            #expect(r.status == .ok && r.headers[HTTPField.Name("X-Swiftlet-Answered-By")!] == "student")
            let o = OpenAIServerTests.json(r.body)
            #expect(o?["model"] as? String == "student")
            #expect(Self.cascade(o)?["answered_by"] as? String == "student" && Self.cascade(o)?["escalated"] as? Bool == false)
            #expect(((o?["usage"] as? [String: Any])?["completion_tokens"] as? Int) == 6)
            let models = OpenAIServerTests.json(try await client.execute(uri: "/v1/models", method: .get).body)
            #expect(((models?["data"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }.sorted() == ["cascade", "student", "teacher"])
        }
        #expect(server.cascadeMetrics.counters("cascade").outcomes == ["student": 1])
    }

    /// Below the threshold the local teacher answers (plain and streamed), and the student's work
    /// is stopped and counted.
    @Test func anUnsureStudentEscalatesToALocalTeacher() async throws {
        let server = try Self.cascadeServer(threshold: 1, liveCost: LiveCost(instance: OpenAIServerTests.instance, compare: nil))
        try await Application(router: server.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/chat/completions", Self.chat)
            #expect(r.status == .ok && r.headers[HTTPField.Name("X-Swiftlet-Answered-By")!] == "teacher")
            let o = OpenAIServerTests.json(r.body)
            #expect(o?["model"] as? String == "teacher" && Self.cascade(o)?["escalated"] as? Bool == true)
            #expect(Self.cascade(o)?["decided_on_tokens"] as? Int == 4)
            #expect(((Self.cascade(o)?["student_usage"] as? [String: Any])?["completion_tokens"] as? Int) == 4)

            let s = try await OpenAIServerTests.post(client, "/v1/completions",
                                                     Self.completion.replacingOccurrences(of: "}", with: #","stream":true,"stream_options":{"include_usage":true}}"#))
            #expect(s.status == .ok && s.headers[HTTPField.Name("X-Swiftlet-Answered-By")!] == "teacher")
            let events = String(buffer: s.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            let chunks = events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            #expect(!chunks.isEmpty && chunks.allSatisfy { $0["model"] as? String == "teacher" })
            #expect(Self.cascade(chunks.last)?["answered_by"] as? String == "teacher")
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"swiftlet_cascade_requests_total{route="cascade",outcome="teacher"} 2"#))
            #expect(metrics.contains(#"swiftlet_cascade_escalation_rate{route="cascade"} 1.0"#))
            #expect(metrics.contains("swiftlet_cascade_dollars_total{route=\"cascade\"}"))
        }
        let c = server.cascadeMetrics.counters("cascade")
        #expect(c.teacher.outputTokens == 12 && c.student.outputTokens >= 8)
    }

    /// An upstream teacher over HTTP answers with its own model name; its usage is priced.
    @Test func anUpstreamTeacherAnswersOverHTTP() async throws {
        let upstreamServer = OpenAIServer(models: [try Self.tinyModel("big-teacher", seed: 2)])
        let live = try await LiveTeacher(upstreamServer)
        defer { Task { await live.stop() } }
        let upstream = UpstreamTeacher(baseURL: live.url, model: "big-teacher", apiKey: nil, attempts: 3, timeout: .seconds(120))
        let server = try Self.cascadeServer(teacher: .upstream(upstream), threshold: 1,
                                            price: TokenPrice(inputPerMillion: 1, outputPerMillion: 4, source: "test"),
                                            liveCost: LiveCost(instance: OpenAIServerTests.instance, compare: nil))
        try await Application(router: server.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/chat/completions", Self.chat)
            let o = OpenAIServerTests.json(r.body)
            #expect(r.status == .ok && r.headers[HTTPField.Name("X-Swiftlet-Model")!] == "big-teacher", "\(String(describing: Self.cascade(o)))")
            #expect(o?["model"] as? String == "big-teacher" && Self.cascade(o)?["escalated"] as? Bool == true)
            #expect((((o?["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"]) is String)
            let s = try await OpenAIServerTests.post(client, "/v1/chat/completions", Self.chat.replacingOccurrences(of: "}]", with: "}],\"stream\":true"))
            let events = String(buffer: s.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(s.status == .ok && events.last == "data: [DONE]" && events.count >= 3)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"swiftlet_cascade_tokens_total{route="cascade",side="teacher",kind="output"} 12"#))
            #expect(metrics.contains("swiftlet_cascade_teacher_only_dollars_estimate{route=\"cascade\"}"))
        }
        #expect(upstreamServer.metrics.tokenTotals().generated == 12)
    }

    /// The upstream teacher is killed in the middle of a load test: every request is answered,
    /// none hangs; escalations before the kill are the teacher's, after it the student's, flagged.
    @Test(.timeLimit(.minutes(5))) func aKilledTeacherLeavesTheStudentsAnswersFlagged() async throws {
        let live = try await LiveTeacher(OpenAIServer(models: [try Self.tinyModel("big-teacher", seed: 2)]))
        let upstream = UpstreamTeacher(baseURL: live.url, model: "big-teacher", apiKey: nil, attempts: 3, timeout: .seconds(120),
                                       firstBackoff: .milliseconds(20))
        let server = try Self.cascadeServer(teacher: .upstream(upstream), threshold: 1)
        let total = 24, killAfter = 8
        let done = Mutex(0)
        try await Application(router: server.buildRouter()).test(.router) { client in
            let outcomes = try await withThrowingTaskGroup(of: (Int, String?, String?).self) { group in
                var next = 0, results: [(Int, String?, String?)] = []
                func launch() {
                    let body = next % 2 == 0 ? Self.chat : Self.completion
                    next += 1
                    group.addTask {
                        let path = body == Self.chat ? "/v1/chat/completions" : "/v1/completions"
                        let r = try await OpenAIServerTests.post(client, path, body)
                        let c = Self.cascade(OpenAIServerTests.json(r.body))
                        return (Int(r.status.code), c?["answered_by"] as? String, c?["escalation_error"] as? String)
                    }
                }
                for _ in 0..<4 { launch() }   // four clients in a closed loop
                while let result = try await group.next() {
                    results.append(result)
                    if done.withLock({ $0 += 1; return $0 }) == killAfter { await live.stop() }
                    if next < total { launch() }
                }
                return results
            }
            #expect(outcomes.count == total)
            #expect(outcomes.allSatisfy { $0.0 == 200 })
            let byTeacher = outcomes.filter { $0.1 == "teacher" }.count
            let flagged = outcomes.filter { $0.1 == "student" && $0.2 != nil }
            #expect(byTeacher >= killAfter - 4 && byTeacher + flagged.count == total)
            #expect(flagged.count >= total - killAfter - 4)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains("swiftlet_cascade_requests_total{route=\"cascade\",outcome=\"student_escalation_failed\"} \(flagged.count)"))
        }
    }

    /// A teacher that accepts and never answers: each attempt's deadline ends it, and the student
    /// answers, flagged with the timeout.
    @Test(.timeLimit(.minutes(10))) func aTeacherThatNeverAnswersTimesOut() async throws {
        let router = Router()
        router.post("/v1/completions") { _, _ -> String in
            // The teacher under test: it never answers. Nothing waits on this sleep; the
            // cascade's deadline ends the attempt, and the server's shutdown cancels the sleep.
            try await Task.sleep(for: .seconds(3600))
            return "never"
        }
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { sink.yield($0.localAddress?.port ?? 0) })
        let task = Task { try await app.runService() }
        var it = ports.makeAsyncIterator()
        let port = try #require(await it.next())
        let upstream = UpstreamTeacher(baseURL: URL(string: "http://127.0.0.1:\(port)/v1")!, model: "slow", apiKey: nil, attempts: 2,
                                       timeout: .milliseconds(300), firstBackoff: .milliseconds(10))
        let server = try Self.cascadeServer(teacher: .upstream(upstream), threshold: 1)
        try await Application(router: server.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/completions", Self.completion)
            let c = Self.cascade(OpenAIServerTests.json(r.body))
            #expect(r.status == .ok && c?["answered_by"] as? String == "student")
            #expect((c?["escalation_error"] as? String)?.contains("timed out") == true)
            #expect((c?["escalation_error"] as? String)?.contains("2 attempts") == true)
            #expect(r.headers[HTTPField.Name("X-Swiftlet-Escalation")!] == "failed")
        }
        #expect(server.cascadeMetrics.counters("cascade").upstreamRetries == 1)
        task.cancel()
    }
}
