import Engine
import Foundation
import Hummingbird
import OpenAIAPI

extension OpenAIServer {
    /// A request to a cascade route. The student answers; once each choice has the route's first
    /// N tokens (or has ended), the rule's confidence (the least confident choice's) is compared
    /// with the endpoint's threshold. Confident: the held tokens are released and the student's
    /// answer goes on. Unsure: the teacher answers the same request and the student is stopped.
    /// If the teacher cannot answer (down, timing out, refusing), the student's answer is served,
    /// flagged `escalation_error`: no request fails or hangs because of the teacher.
    func respond(_ parsed: ParsedRequest, body: Data, through route: CascadeRoute, record: RequestRecord) async throws -> Response {
        let chat = parsed.isChat, parameters = parsed.parameters
        let student = route.student, metrics = cascadeMetrics, name = route.name
        var (choices, echo) = try engineRequests(parsed, on: student)
        for i in choices.indices { choices[i].logprobs = max(choices[i].logprobs ?? 0, route.rule.alternativesNeeded) }
        let streams = try submit(choices, to: student, promptParam: parsed.promptParam, record: record) { _, usage in
            metrics.engineUsage(name, teacher: false, usage)
        }
        let gate = CascadeGate(streams, decideAfter: route.decideAfter, alternatives: parameters.logprobs ?? 0)
        await gate.decisionPoint()
        if Task.isCancelled {
            gate.stop()
            throw CancellationError()
        }
        let seen = gate.seen
        let confidence = seen.map(route.rule.confidence).min() ?? 0
        let threshold = route.threshold(chat: chat)
        var outcome = CascadeOutcome(route: name, answeredBy: .student, model: student.name, rule: route.rule, confidence: confidence,
                                     threshold: threshold, decidedOnTokens: seen.map(\.count).max() ?? 0)
        var studentReply = Reply(model: student, chat: chat, parameters: parameters, echo: echo)

        if confidence >= threshold {
            metrics.outcome(name, "student")
            studentReply.cascade = outcome
            return try await answer(with: studentReply, streams: gate.held, route: route, countUnescalated: true)
        }
        // What the student used until it was stopped, for the response's `cascade` object.
        outcome.studentPromptTokens = choices.enumerated().filter { $0.offset % max(1, parameters.n) == 0 }.reduce(0) { $0 + $1.element.promptTokens.count }
        outcome.studentOutputTokens = seen.reduce(0) { $0 + $1.count }
        do {
            let response = try await escalate(parsed, body: body, route: route, record: record, outcome: outcome, committed: gate.stop)
            gate.stop()
            metrics.outcome(name, "teacher")
            return response
        } catch let failure as EscalationFailure {
            logger.warning("cascade escalation failed: the student's answer is served", metadata: [
                "route": "\(name)", "error": "\(failure.message)"])
            metrics.outcome(name, "student_escalation_failed")
            outcome.escalationError = failure.message
            outcome.studentPromptTokens = 0
            outcome.studentOutputTokens = 0
            studentReply.cascade = outcome
            return try await answer(with: studentReply, streams: gate.held, route: route, countUnescalated: false)
        }
    }

    struct EscalationFailure: Error { var message: String }

    /// The student's answer from its held streams; its tokens feed the teacher-only estimate
    /// when it answered on its own (a failed escalation is not the cascade's choice).
    private func answer(with reply: Reply, streams: [InferenceEngine.EventStream], route: CascadeRoute, countUnescalated: Bool) async throws -> Response {
        let metrics = cascadeMetrics, name = route.name, n = reply.parameters.n
        let counted = streams.enumerated().map { index, stream in
            countUnescalated ? Self.observingEnd(stream) { usage in
                metrics.unescalated(name, promptTokens: index % max(1, n) == 0 ? usage.promptTokens : 0, outputTokens: usage.generatedTokens)
            } : stream
        }
        if reply.parameters.stream { return reply.stream(counted) }
        return try await reply.complete(counted)
    }

    /// The teacher's answer to the same request: a local model's (retokenized with its own
    /// tokenizer and chat template), or the upstream's (the client's body, re-addressed).
    /// `committed` is called once the teacher has the request for sure: a local teacher's engine
    /// took it (the student stops there: both share this machine's cores, and a local engine's
    /// failure later is the server's own error, not a reason to fall back). An upstream teacher
    /// is committed only by its answer, so the student goes on meanwhile, ready as the fallback.
    private func escalate(_ parsed: ParsedRequest, body: Data, route: CascadeRoute, record: RequestRecord,
                          outcome studentOutcome: CascadeOutcome, committed: @Sendable () -> Void) async throws -> Response {
        var outcome = studentOutcome
        outcome.answeredBy = .teacher
        outcome.model = route.teacher.name
        let metrics = cascadeMetrics, name = route.name, parameters = parsed.parameters
        switch route.teacher {
        case .local(let teacher):
            let streams: [InferenceEngine.EventStream]
            let echo: [String]
            do {
                let (choices, e) = try engineRequests(parsed, on: teacher)
                echo = e
                streams = try submit(choices, to: teacher, promptParam: parsed.promptParam, record: record) { _, usage in
                    metrics.engineUsage(name, teacher: true, usage)
                }
            } catch {
                throw EscalationFailure(message: "the teacher '\(teacher.name)' could not take the request: \(error.message)")
            }
            committed()
            var reply = Reply(model: teacher, chat: parsed.isChat, parameters: parameters, echo: echo)
            reply.cascade = outcome
            if parameters.stream { return reply.stream(streams) }
            return try await reply.complete(streams)

        case .upstream(let upstream):
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw EscalationFailure(message: "the request body could not be re-read for the teacher")
            }
            let answer: UpstreamTeacher.Answer
            do {
                answer = try await upstream.complete(path: parsed.isChat ? "chat/completions" : "completions", body: object) {
                    metrics.upstreamRetry(name)
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                metrics.upstreamFailure(name)
                throw EscalationFailure(message: error.description)
            }
            let usage = answer.body["usage"] as? [String: Any]
            let prompt = usage?["prompt_tokens"] as? Int ?? 0, output = usage?["completion_tokens"] as? Int ?? 0
            metrics.upstreamUsage(name, promptTokens: prompt, outputTokens: output, price: route.teacherPrice)
            outcome.model = answer.body["model"] as? String ?? upstream.model
            if !parameters.stream {
                var body = answer.body
                body["cascade"] = outcome.json
                return Self.jsonResponse(body, headers: outcome.headers)
            }
            // Streaming: the upstream was asked for the whole answer (the decision has already
            // held the client back), and it goes out as one chunk per choice.
            let streams = Self.events(ofUpstream: answer.body, chat: parsed.isChat, promptTokens: prompt, outputTokens: output)
            var reply = Reply(model: route.student, chat: parsed.isChat, parameters: parameters, echo: Array(repeating: "", count: streams.count))
            reply.parameters.logprobs = nil   // the upstream's logprobs are not re-encoded as chunks
            reply.modelName = outcome.model
            reply.cascade = outcome
            return reply.stream(streams)
        }
    }

    /// An upstream answer as engine events, one text and one end per choice; the usage rides on
    /// the first choice.
    static func events(ofUpstream body: [String: Any], chat: Bool, promptTokens: Int, outputTokens: Int) -> [InferenceEngine.EventStream] {
        let choices = (body["choices"] as? [[String: Any]] ?? []).sorted { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
        return choices.enumerated().map { i, c in
            let text = chat ? ((c["message"] as? [String: Any])?["content"] as? String ?? "") : (c["text"] as? String ?? "")
            let reason: FinishReason = (c["finish_reason"] as? String) == "length" ? .length : .stop
            var usage = RequestUsage()
            if i == 0 { usage.promptTokens = promptTokens; usage.generatedTokens = outputTokens }
            return InferenceEngine.EventStream { continuation in
                continuation.yield(.text(text))
                continuation.yield(.finished(reason, usage))
                continuation.finish()
            }
        }
    }

    /// The same events, with `onEnd` told the usage when the stream ends normally.
    static func observingEnd(_ stream: InferenceEngine.EventStream, _ onEnd: @escaping @Sendable (RequestUsage) -> Void) -> InferenceEngine.EventStream {
        let (out, continuation) = InferenceEngine.EventStream.makeStream()
        EventRelay.relay(stream, into: continuation, map: { event in
            if case .finished(_, let usage) = event { onEnd(usage) }
            return event
        })
        return out
    }
}
