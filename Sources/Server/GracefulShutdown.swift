import Engine
import Foundation
import Hummingbird
import OpenAIAPI
import Synchronization

/// Whether the server still admits completions, and how many answers it is still writing: the
/// state a graceful shutdown works from.
public final class Admission: Sendable {
    private let state = Mutex<(closed: Bool, answering: Int)>((false, 0))

    public init() {}

    /// A hold for one completion, released once its answer is written (or dropped); nil once the
    /// server has closed.
    func admit() -> Hold? {
        let admitted = state.withLock { s in
            if s.closed { return false }
            s.answering += 1
            return true
        }
        return admitted ? Hold(self) : nil
    }

    fileprivate func release() { state.withLock { $0.answering -= 1 } }

    /// From now on completions are refused with 503 and /ready says not ready.
    public func close() { state.withLock { $0.closed = true } }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Completions admitted whose answers are not yet fully written.
    public var answering: Int { state.withLock { $0.answering } }
}

/// One admitted completion. Released when its response body has been written, or when the
/// response is dropped without being written (the connection went first).
final class Hold: Sendable {
    private let admission: Admission
    private let released = Atomic<Bool>(false)

    fileprivate init(_ admission: Admission) { self.admission = admission }

    func release() {
        if !released.exchange(true, ordering: .relaxed) { admission.release() }
    }

    deinit { release() }

    /// The response, holding this until its body has been written.
    func keep(_ response: Response) -> Response {
        var response = response
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer)
            self.release()
        }
        return response
    }
}

extension APIError {
    /// 503 for a completion that arrives, or is still unfinished, while the server shuts down.
    static func shuttingDown(_ detail: String = "the server is shutting down and admits no new requests") -> APIError {
        APIError(status: 503, message: detail, type: "server_error", code: "server_shutting_down")
    }

    /// The error a failed engine stream turns into, for a status or an SSE `error` event.
    static func engineFailure(_ error: Error) -> APIError {
        if let e = error as? EngineError, e == .shutDown {
            return .shuttingDown("the server shut down before the request finished")
        }
        return APIError(status: 500, message: "\(error)", type: "server_error")
    }
}

/// What a graceful shutdown did.
public struct DrainOutcome: Sendable, Equatable {
    /// Requests (running or queued) that finished while the server waited.
    public var finished: Int
    /// Requests still unfinished at the deadline, ended with an error.
    public var cutOff: Int

    public init(finished: Int, cutOff: Int) { self.finished = finished; self.cutOff = cutOff }
}

extension OpenAIServer {
    /// Requests running or queued in every engine.
    public var unfinishedRequests: Int { models.values.reduce(0) { $0 + $1.engine.stats.running + $1.engine.stats.waiting } }

    /// Graceful shutdown, as on SIGTERM: stop admitting completions (503 from now on), let the
    /// running and queued ones finish for up to `timeout` (or until `hurry` says stop waiting), end
    /// the rest with an error (an SSE `error` event, or a 503 body), stop every engine, and wait
    /// briefly for the last answers to be written. Blocking engine calls run off Swift's pool.
    public func drain(timeout: Duration, hurry: @escaping @Sendable () -> Bool = { false }) async -> DrainOutcome {
        admission.close()
        let engines = models.values.map(\.engine)
        let atStart = unfinishedRequests
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while unfinishedRequests > 0 && clock.now < deadline && !hurry() {
            try? await Task.sleep(for: .milliseconds(20))
        }
        let cutOff = unfinishedRequests
        await withTaskGroup(of: Void.self) { group in
            for engine in engines {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread { engine.shutdown(failingUnfinished: true); done.resume() }.start()
                    }
                }
            }
        }
        // The streams have ended; give their handlers a moment to write the last bytes.
        let writeDeadline = clock.now.advanced(by: .seconds(5))
        while admission.answering > 0 && clock.now < writeDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return DrainOutcome(finished: max(0, atStart - cutOff), cutOff: cutOff)
    }
}
