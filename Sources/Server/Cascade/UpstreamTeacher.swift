import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// A teacher behind an OpenAI-compatible URL (`serve --teacher https://HOST/v1 --teacher-model
/// NAME`). Each escalation is one POST with the client's body, its `model` replaced and streaming
/// off. Connection failures, timeouts, 429 and 5xx are retried with exponential back-off (a
/// `Retry-After` of a few seconds is honoured); other answers are final. Every attempt has a
/// deadline, so a teacher that accepts and never answers costs at most `attempts × timeout` plus
/// the back-off, never a hang.
public struct UpstreamTeacher: Sendable {
    /// The API root, e.g. `http://10.0.0.5:8080/v1`: `/chat/completions` and `/completions` are added.
    public let baseURL: URL
    public let model: String
    public let apiKey: String?
    public let attempts: Int
    public let timeout: Duration
    public let firstBackoff: Duration
    private let session: URLSession

    public init(baseURL: URL, model: String, apiKey: String?, attempts: Int = 3, timeout: Duration = .seconds(60),
                firstBackoff: Duration = .milliseconds(250)) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.attempts = Swift.max(1, attempts)
        self.timeout = timeout
        self.firstBackoff = firstBackoff
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout / .seconds(1)
        session = URLSession(configuration: configuration)
    }

    /// Why an escalation got no answer, after its retries.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var attempts: Int
        public var description: String { "\(message) (after \(attempts) attempt\(attempts == 1 ? "" : "s"))" }
    }

    /// The upstream's answer: its JSON body and how many attempts it took.
    public struct Answer: @unchecked Sendable {   // a JSON object from JSONSerialization: immutable values
        public var body: [String: Any]
        public var attempts: Int
    }

    /// POSTs `body` (the client's request, re-addressed) to `path` ("chat/completions" or
    /// "completions") and returns the answer, retrying what can be retried.
    public func complete(path: String, body: [String: Any], retries: (@Sendable () -> Void)? = nil) async throws(Failure) -> Answer {
        var outgoing = body
        outgoing["model"] = model
        outgoing["stream"] = false
        outgoing.removeValue(forKey: "stream_options")
        guard let data = try? JSONSerialization.data(withJSONObject: outgoing) else {
            throw Failure(message: "the request could not be re-encoded for the teacher", attempts: 0)
        }
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.httpBody = data
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }

        var backoff = firstBackoff
        var lastError = ""
        for attempt in 1...attempts {
            if Task.isCancelled { throw Failure(message: "cancelled", attempts: attempt - 1) }
            var retryAfter: Duration?
            do {
                let (bytes, response) = try await fetch(request)
                let status = response.statusCode
                if (200..<300).contains(status) {
                    guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any], object["choices"] is [Any] else {
                        throw Failure(message: "the teacher at \(baseURL.absoluteString) answered \(status) with a body that is not a completion",
                                      attempts: attempt)
                    }
                    return Answer(body: object, attempts: attempt)
                }
                lastError = "the teacher answered \(status)\(Self.errorMessage(bytes).map { ": \($0)" } ?? "")"
                guard status == 429 || status >= 500 else { throw Failure(message: lastError, attempts: attempt) }
                if let s = response.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init), s >= 0 {
                    retryAfter = .milliseconds(Int64(Swift.min(s, 5) * 1000))
                }
            } catch let failure as Failure {
                throw failure
            } catch {
                lastError = "the teacher at \(baseURL.absoluteString) did not answer: \(Self.describe(error))"
            }
            guard attempt < attempts else { break }
            retries?()
            try? await Task.sleep(for: retryAfter ?? backoff)
            backoff = backoff * 2
        }
        throw Failure(message: lastError, attempts: attempts)
    }

    /// One attempt, with its own deadline: the data task is cancelled when it passes, or when the
    /// awaiting task is cancelled (the client went away).
    private func fetch(_ request: URLRequest) async throws -> (Data, HTTPURLResponse) {
        let box = FetchState()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(Data, HTTPURLResponse), Error>) in
                let task = session.dataTask(with: request) { data, response, error in
                    if let error { box.finish(continuation, .failure(error)); return }
                    guard let http = response as? HTTPURLResponse else {
                        box.finish(continuation, .failure(URLError(.badServerResponse)))
                        return
                    }
                    box.finish(continuation, .success((data ?? Data(), http)))
                }
                box.start(task, continuation)
                task.resume()
                let deadline = timeout + .milliseconds(100)
                DispatchQueue.global().asyncAfter(deadline: .now() + deadline / .seconds(1)) {
                    task.cancel()
                    box.finish(continuation, .failure(URLError(.timedOut)))
                }
            }
        } onCancel: {
            box.cancel()
        }
    }

    static func errorMessage(_ data: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any])?["message"] as? String
    }

    static func describe(_ error: Error) -> String {
        if let e = error as? URLError {
            switch e.code {
            case .timedOut: return "timed out"
            case .cannotConnectToHost: return "connection refused"
            case .networkConnectionLost: return "the connection was lost"
            case .cannotFindHost: return "unknown host"
            case .cancelled: return "cancelled"
            default: return e.localizedDescription
            }
        }
        return "\(error)"
    }
}

/// One attempt's continuation, resumed exactly once (by the answer, the deadline or a
/// cancellation, whichever is first), and its task, cancelled with it.
private final class FetchState: Sendable {
    private let state = Mutex<(task: URLSessionDataTask?, done: Bool, cancelled: Bool)>((nil, false, false))

    func start(_ task: URLSessionDataTask, _ continuation: CheckedContinuation<(Data, HTTPURLResponse), Error>) {
        let cancelled = state.withLock { s in s.task = task; return s.cancelled }
        if cancelled { finish(continuation, .failure(CancellationError())) }
    }

    func finish(_ continuation: CheckedContinuation<(Data, HTTPURLResponse), Error>, _ result: Result<(Data, HTTPURLResponse), Error>) {
        let first = state.withLock { s in
            if s.done { return false }
            s.done = true
            return true
        }
        if first { continuation.resume(with: result) } else { return }
        state.withLock { $0.task }?.cancel()
    }

    func cancel() {
        let task = state.withLock { s in s.cancelled = true; return s.task }
        task?.cancel()
    }
}
