import Foundation
import Models
import Sampling
import Scheduling
import Tokenizer

/// A request inside the engine: what was asked, the per-request sampling state, where its text
/// stream stands, and its timings.
final class ActiveRequest {
    let request: EngineRequest
    let continuation: AsyncThrowingStream<EngineEvent, Error>.Continuation
    var sampler: Sampler
    var history: PenaltyHistory
    var decoder: StreamingDecoder
    var stops: StopStringMatcher
    var generated = 0
    let arrival = Clock.now
    var firstScheduled: Double?
    var firstToken: Double?
    var usage = RequestUsage()
    let onEnd: InferenceEngine.EndObserver?
    /// Set at its first decode step when the engine speculates.
    var speculation: SequenceSpeculation?

    init(request: EngineRequest, tokenizer: Tokenizer, continuation: AsyncThrowingStream<EngineEvent, Error>.Continuation,
         onEnd: InferenceEngine.EndObserver?) {
        self.request = request
        self.onEnd = onEnd
        self.continuation = continuation
        sampler = Sampler(request.sampling)
        history = PenaltyHistory(prompt: request.promptTokens, penalties: request.penalties)
        decoder = StreamingDecoder(tokenizer: tokenizer)
        stops = StopStringMatcher(stops: request.stopStrings)
        usage.promptTokens = request.promptTokens.count
    }
}

extension InferenceEngine {
    /// One scheduler step: plan, one forward pass over every scheduled chunk, then a token for each
    /// sequence whose chunk reached its end. Returns whether any work was done.
    func step() -> Bool {
        let plan = scheduler.schedule()
        preemptionTotal += plan.preempted.count
        // A pre-empted sequence's blocks are gone: its draft reads it again from the start.
        for id in plan.preempted { active[id]?.speculation?.draftFed = 0 }
        // The scheduler ends requests that can never fit the KV pool; report them.
        for id in plan.finished {
            guard case .finished(let reason)? = scheduler.status(of: id) else { continue }
            finish(id, reason: reason, error: reason == .error ? .computeFailed("the request needs more KV blocks than the pool holds") : nil)
        }
        guard !plan.chunks.isEmpty else { return false }

        let now = Clock.now
        batch.removeAll()
        sampled.removeAll(keepingCapacity: true)
        var checks: [(round: DraftRound, firstRow: Int)] = []
        var draftSeconds = 0.0, verifyStart = now
        do {
            let rounds = speculator == nil ? [:] : Dictionary(uniqueKeysWithValues: try proposeDrafts(for: plan.chunks).map { ($0.sequence, $0) })
            verifyStart = Clock.now
            draftSeconds = verifyStart - now
            for chunk in plan.chunks {
                guard let tokens = scheduler.tokens(of: chunk.sequence), let r = active[chunk.sequence] else { continue }
                if r.firstScheduled == nil {
                    r.firstScheduled = now
                    leftQueue += 1
                }
                let table = scheduler.kvCache.blockTable(for: chunk.sequence)
                if let round = rounds[chunk.sequence] {
                    // The last token and the drafts after it, a logit row each.
                    let rows = try batch.append([tokens[chunk.start]] + round.tokens, start: chunk.start, blockTable: table, logits: .all)
                    checks.append((round, rows.lowerBound))
                    continue
                }
                let rows = try batch.append(tokens[chunk.start ..< chunk.start + chunk.count], start: chunk.start,
                                            blockTable: table, logits: chunk.samples ? .last : .none)
                if chunk.samples { sampled.append((chunk.sequence, rows.lowerBound)) }
            }
            // Checks multiply with decode's numerics, so that each checked row's logits are those
            // of a plain step (greedy output stays the target's alone on every build).
            scratch.singleRowNumerics = !checks.isEmpty
            defer { scratch.singleRowNumerics = false }
            try model.forward(batch: batch, cache: cache, scratch: scratch)
        } catch {
            for chunk in plan.chunks where active[chunk.sequence] != nil {
                finish(chunk.sequence, reason: .error, error: .computeFailed("\(error)"))
            }
            return true
        }
        let verifySeconds = Clock.now - verifyStart
        for (id, row) in sampled { emitToken(id, logitRow: row) }
        for (round, firstRow) in checks {
            let state = active[round.sequence]?.speculation
            guard let accepted = checkDrafts(round, firstRow: firstRow) else { continue }
            // Pass times are this sequence's own only when it was the step's whole work.
            if plan.chunks.count == 1 {
                state?.policy.recordRound(drafted: round.tokens.count, accepted: accepted, draftSeconds: draftSeconds, verifySeconds: verifySeconds)
            } else {
                state?.policy.recordAcceptance(drafted: round.tokens.count, accepted: accepted)
            }
        }
        return true
    }

    /// Samples the next token of `id` from its logits row and streams it; ends the request on an
    /// end-of-generation token, a stop string, its token limit or a full context.
    private func emitToken(_ id: SequenceID, logitRow row: Int) {
        guard let r = active[id] else { return }
        let vocab = model.config.vocabularySize
        let logits = UnsafeMutableBufferPointer(mutating: scratch.logits(row: row, vocabularySize: vocab))
        r.history.apply(r.request.penalties, to: logits)
        for (token, bias) in r.request.logitBias { logits[token] += bias }
        let next = r.sampler.sample(UnsafeBufferPointer(logits))
        deliver(r, id, token: next, logits: UnsafeBufferPointer(logits))
    }

    /// Takes `next` (chosen from `logits`, penalties and biases applied) into request `id`'s
    /// output and streams it; ends the request on an end-of-generation token, a stop string, its
    /// token limit or a full context. Returns whether the request runs on.
    @discardableResult
    func deliver(_ r: ActiveRequest, _ id: SequenceID, token next: Int, logits: UnsafeBufferPointer<Float>) -> Bool {
        if r.firstToken == nil {
            r.firstToken = Clock.now
            r.usage.cachedPromptTokens = scheduler.cachedPromptTokens(of: id) ?? 0
        }
        r.history.record(output: next)
        r.generated += 1
        // Log-probabilities are those of the model's distribution after penalties, before the
        // temperature and the top-k/top-p/min-p filters.
        var logprob: Float?
        var top: [(id: Int, logprob: Float)] = []
        if let n = r.request.logprobs {
            (logprob, top) = { let v = LogProbabilities.of(next, top: n, logits: logits); return (v.logprob, v.top) }()
        }

        if !r.request.ignoreEndOfGeneration && tokenizer.isEndOfGeneration(next) {
            finish(id, reason: .stop)
            return false
        }
        scheduler.append(id, token: next)
        let (text, stopped) = r.stops.feed(r.decoder.append(next))
        r.continuation.yield(.token(GeneratedToken(id: next, text: text, logprob: logprob, topLogprobs: top)))
        if stopped {
            finish(id, reason: .stop, flush: false)
            return false
        } else if r.generated >= r.request.maxTokens || r.request.promptTokens.count + r.generated >= contextSize {
            finish(id, reason: .length)
            return false
        }
        return true
    }

    /// Ends a request: frees its blocks, flushes held-back text (unless a stop string ended it),
    /// sends the usage record and closes the stream.
    func finish(_ id: SequenceID, reason: FinishReason, error: EngineError? = nil, flush: Bool = true) {
        guard let r = active.removeValue(forKey: id) else { return }
        if r.firstScheduled == nil { leftQueue += 1 }
        r.usage.preemptions = scheduler.preemptionCount(of: id) ?? 0
        if r.firstToken == nil { r.usage.cachedPromptTokens = scheduler.cachedPromptTokens(of: id) ?? 0 }
        scheduler.finish(id, reason: reason)
        let now = Clock.now
        let scheduled = r.firstScheduled ?? now
        let first = r.firstToken ?? now
        r.usage.generatedTokens = r.generated
        r.usage.queueSeconds = scheduled - r.arrival
        r.usage.prefillSeconds = first - scheduled
        r.usage.decodeSeconds = now - first
        r.usage.timeToFirstToken = first - r.arrival
        r.onEnd?(reason, r.usage)
        if flush && reason != .cancelled && reason != .error {
            let rest = r.stops.feed(r.decoder.finish()).emit + r.stops.finish()
            if !rest.isEmpty { r.continuation.yield(.text(rest)) }
        }
        if let error {
            r.continuation.finish(throwing: error)
        } else {
            r.continuation.yield(.finished(reason, r.usage))
            r.continuation.finish()
        }
    }
}
