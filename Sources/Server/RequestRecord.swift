import Engine
import Foundation
import Logging
import OpenAIAPI
import Synchronization

/// What one HTTP request did, logged as one line once its response is written and every choice it
/// submitted has ended (a cancelled choice ends when the engine lets it go, after the response).
final class RequestRecord: Sendable {
    struct State {
        var method = "", path = "", status = 0
        var model: String?
        var choices = 0, endedChoices = 0
        var usage = RequestUsage()   // summed over choices (times: the slowest choice)
        var reasons: [FinishReason] = []
        var error: APIError?
        var responseDone = false, logged = false
        var note: String?
        var logger: Logger?
    }

    let id = "req-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
    let client: String
    let arrival = ContinuousClock.now
    private let state = Mutex(State())

    init(client: String) { self.client = client }

    func begin(method: String, path: String, logger: Logger) {
        state.withLock { $0.method = method; $0.path = path; $0.logger = logger }
    }

    /// A request whose response was never written (its connection closed first) is still logged.
    deinit {
        let s = state.withLock { $0 }
        guard !s.logged, let logger = s.logger else { return }
        state.withLock { $0.note = $0.note ?? "the connection closed before the response was written"; $0.responseDone = true }
        log(logger)
    }

    var errorCode: String? { state.withLock { $0.error.map { $0.code ?? $0.type } } }

    /// A completion's model and how many engine requests it submitted. A cascade submits to a
    /// student and maybe a teacher: the models are joined with "+", the choices added.
    func submitted(model: String, choices: Int) {
        state.withLock { s in
            s.model = s.model.map { $0 == model ? model : "\($0)+\(model)" } ?? model
            s.choices += choices
        }
    }

    func failed(_ error: APIError) { state.withLock { $0.error = error } }

    /// One choice ended (any reason). Returns whether the line can be logged now.
    func choiceEnded(_ reason: FinishReason, _ usage: RequestUsage, logger: Logger) {
        let ready = state.withLock { s -> Bool in
            s.endedChoices += 1
            s.reasons.append(reason)
            s.usage.promptTokens += usage.promptTokens
            s.usage.cachedPromptTokens += usage.cachedPromptTokens
            s.usage.generatedTokens += usage.generatedTokens
            s.usage.draftTokens += usage.draftTokens
            s.usage.acceptedDraftTokens += usage.acceptedDraftTokens
            s.usage.queueSeconds = max(s.usage.queueSeconds, usage.queueSeconds)
            s.usage.timeToFirstToken = max(s.usage.timeToFirstToken, usage.timeToFirstToken)
            return readyToLog(&s)
        }
        if ready { log(logger) }
    }

    /// The response (head and body) has been written, or writing it failed (`note` says why).
    func responded(status: Int, note: String? = nil, logger: Logger) {
        let ready = state.withLock { s -> Bool in
            s.status = status
            s.responseDone = true
            if let note { s.note = note }
            return readyToLog(&s)
        }
        if ready { log(logger) }
    }

    private func readyToLog(_ s: inout State) -> Bool {
        guard s.responseDone, s.endedChoices >= s.choices, !s.logged else { return false }
        s.logged = true
        return true
    }

    private func log(_ logger: Logger) {
        let s = state.withLock { $0 }
        let seconds = (ContinuousClock.now - arrival) / .seconds(1)
        var m: Logger.Metadata = [
            "request_id": .string(id), "client": .string(client), "method": .string(s.method), "path": .string(s.path),
            "status": .stringConvertible(s.status), "total_s": .string(String(format: "%.3f", seconds)),
        ]
        if let model = s.model {
            m["model"] = .string(model)
            m["choices"] = .stringConvertible(s.choices)
            m["prompt_tokens"] = .stringConvertible(s.usage.promptTokens)
            m["cached_tokens"] = .stringConvertible(s.usage.cachedPromptTokens)
            m["generated_tokens"] = .stringConvertible(s.usage.generatedTokens)
            if s.usage.draftTokens > 0 {
                m["draft_tokens"] = .stringConvertible(s.usage.draftTokens)
                m["accepted_draft_tokens"] = .stringConvertible(s.usage.acceptedDraftTokens)
            }
            m["queue_s"] = .string(String(format: "%.3f", s.usage.queueSeconds))
            m["ttft_s"] = .string(String(format: "%.3f", s.usage.timeToFirstToken))
            m["finish_reason"] = .string(Set(s.reasons.map(\.rawValue)).sorted().joined(separator: ","))
        }
        if let note = s.note { m["note"] = .string(note) }
        if let e = s.error {
            m["error_code"] = .string(e.code ?? e.type)
            m["error"] = .string(e.message)
        }
        let level: Logger.Level = s.status >= 500 && s.status != 503 ? .error : (s.status >= 400 ? .warning : .info)
        // Probes and scrapes are routine: debug, so an access log at info shows traffic.
        let routine = ["/health", "/ready", "/metrics"].contains(s.path) && s.status < 400
        logger.log(level: routine ? .debug : level, "request", metadata: m)
    }
}
