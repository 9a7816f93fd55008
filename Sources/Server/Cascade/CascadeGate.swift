import Engine
import Synchronization

/// Holds a student's choices back until the cascade can decide. Each choice's events are pumped
/// into a stream of their own (buffered, unread until the decision) while the gate counts the
/// tokens; the decision waits until every choice has `decideAfter` tokens or has ended. If the
/// student is kept, its held streams are replayed to the client and go on live; if the teacher
/// answers, `stop()` cancels the student's requests.
final class CascadeGate: Sendable {
    private struct State {
        var tokens: [[GeneratedToken]]
        var ended: [Bool]
        var waiter: CheckedContinuation<Void, Never>?
        var released = false
        var pumps: [Task<Void, Never>] = []
    }

    private let decideAfter: Int
    private let state: Mutex<State>
    /// The held streams, one per choice, in order.
    let held: [InferenceEngine.EventStream]

    /// `alternatives`: top log-probabilities to keep per token in what the client sees (the rule
    /// may have asked the engine for more).
    init(_ streams: [InferenceEngine.EventStream], decideAfter: Int, alternatives: Int) {
        self.decideAfter = decideAfter
        state = Mutex(State(tokens: Array(repeating: [], count: streams.count), ended: Array(repeating: false, count: streams.count)))
        var held: [InferenceEngine.EventStream] = [], continuations: [InferenceEngine.EventStream.Continuation] = []
        for _ in streams {
            let (stream, continuation) = InferenceEngine.EventStream.makeStream()
            held.append(stream)
            continuations.append(continuation)
        }
        self.held = held
        let pumps = streams.enumerated().map { i, source in
            EventRelay.relay(source, into: continuations[i], map: { [self] event in
                note(i, event)
                guard case .token(var t) = event, t.topLogprobs.count > alternatives else { return event }
                t.topLogprobs = Array(t.topLogprobs.prefix(alternatives))
                return .token(t)
            }, ended: { [self] in end(i) })
        }
        state.withLock { $0.pumps = pumps }
    }

    private func note(_ i: Int, _ event: EngineEvent) {
        guard case .token(let t) = event else { return }
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.released, decideAfter == 0 || s.tokens[i].count < decideAfter else { return nil }
            s.tokens[i].append(t)
            return Self.releaseIfReady(&s, decideAfter)
        }
        waiter?.resume()
    }

    private func end(_ i: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.ended[i] = true
            return Self.releaseIfReady(&s, decideAfter)
        }
        waiter?.resume()
    }

    private static func releaseIfReady(_ s: inout State, _ n: Int) -> CheckedContinuation<Void, Never>? {
        guard !s.released else { return nil }
        let ready = s.tokens.indices.allSatisfy { s.ended[$0] || (n > 0 && s.tokens[$0].count >= n) }
        guard ready else { return nil }
        s.released = true
        defer { s.waiter = nil }
        return s.waiter
    }

    /// Waits for the decision point; returns at once if the task is cancelled (the caller checks).
    func decisionPoint() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.released { return true }
                    s.waiter = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.released = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }

    /// Each choice's tokens the decision reads (the first `decideAfter`, or all).
    var seen: [[GeneratedToken]] { state.withLock { $0.tokens } }

    /// Cancels the student's requests (the teacher answers, or the client went away).
    func stop() {
        for pump in state.withLock({ $0.pumps }) { pump.cancel() }
    }
}

/// Relays one engine stream into another continuation through `map`, on a task of its own;
/// `ended` runs once the source is done (finished, failed or cancelled). The reader stopping
/// (the client went away) cancels the task, and with it the source's request.
enum EventRelay {
    @discardableResult
    static func relay(_ source: InferenceEngine.EventStream, into out: InferenceEngine.EventStream.Continuation,
                      map: @escaping @Sendable (EngineEvent) -> EngineEvent = { $0 },
                      ended: @escaping @Sendable () -> Void = {}) -> Task<Void, Never> {
        let pump = Task {
            do {
                for try await event in source { out.yield(map(event)) }
                out.finish()
            } catch {
                out.finish(throwing: error)
            }
            ended()
        }
        out.onTermination = { _ in pump.cancel() }
        return pump
    }
}
