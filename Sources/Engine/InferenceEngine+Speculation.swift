import Foundation
import Models
import Sampling
import Scheduling

extension InferenceEngine {
    /// Drafts for this step's decoding sequences (see `EngineSpeculation`): none when the step
    /// decodes more sequences than speculation allows. A sequence drafts when its request has no
    /// repetition penalties (they would change every checked row's logits with the drafts before
    /// it), its policy asks for drafts, and the pool has blocks for the lookahead.
    func proposeDrafts(for chunks: [ScheduledChunk]) throws -> [DraftRound] {
        guard let spec = speculator else { return [] }
        let decoding = chunks.filter { $0.samples && $0.count == 1 }
        guard !decoding.isEmpty, decoding.count <= spec.maxSequences else { return [] }
        var rounds: [DraftRound] = [], partial: [DraftRound] = []
        var catchUpBudget = spec.draftBatch?.capacity ?? 0
        for chunk in decoding {
            guard let r = active[chunk.sequence], !r.request.penalties.isActive, let tokens = scheduler.tokens(of: chunk.sequence) else { continue }
            let state = r.speculation ?? spec.makeState(for: r.request)
            r.speculation = state
            let position = chunk.start
            let k = state.policy.next(limit: min(r.request.maxTokens - r.generated - 1, contextSize - 1 - position))
            guard k > 0 else { continue }
            switch spec.source {
            case .promptLookup(let lo, let hi):
                let drafts = PromptLookup.draft(tokens, minNgram: lo, maxNgram: hi, limit: k)
                guard !drafts.isEmpty, scheduler.reserveLookahead(chunk.sequence, slots: drafts.count) else { continue }
                rounds.append(DraftRound(sequence: chunk.sequence, position: position, length: drafts.count, tokens: drafts))
            case .model:
                // The draft reads what it missed and the last token in its first pass; a catch-up
                // longer than what is left of the pass's budget is read in part, without drafting.
                let unread = position + 1 - state.draftFed
                guard unread <= catchUpBudget else {
                    partial.append(DraftRound(sequence: chunk.sequence, position: position, length: 0))
                    continue
                }
                guard scheduler.reserveLookahead(chunk.sequence, slots: k) else { continue }
                catchUpBudget -= unread
                rounds.append(DraftRound(sequence: chunk.sequence, position: position, length: k))
            }
        }
        // Partial catch-ups last: they take what the drafting rounds leave of the pass.
        rounds += partial
        if case .model = spec.source { try runDraftModel(&rounds, spec) }
        return rounds.filter { !$0.tokens.isEmpty }
    }

    /// The draft model's passes for `rounds`: the first over each sequence's unread tokens (for
    /// rounds of length 0, only as much of them as the budget holds), then one token per sequence
    /// still drafting, until each has its length or proposes an id the target does not have.
    private func runDraftModel(_ rounds: inout [DraftRound], _ spec: Speculator) throws {
        guard let model = spec.draftModel, let cache = spec.draftCache, let scratch = spec.draftScratch,
              let batch = spec.draftBatch, !rounds.isEmpty else { return }
        let draftVocab = model.config.vocabularySize, targetVocab = self.model.config.vocabularySize
        var rows: [Int?] = Array(repeating: nil, count: rounds.count)
        batch.removeAll()
        for (i, round) in rounds.enumerated() {
            guard let r = active[round.sequence], let state = r.speculation, let tokens = scheduler.tokens(of: round.sequence) else { continue }
            let table = scheduler.kvCache.blockTable(for: round.sequence)
            if round.length == 0 {
                let count = min(round.position - state.draftFed, batch.capacity - batch.tokenCount)
                guard count > 0 else { continue }
                scratch.logitSubset?.include(tokens[state.draftFed ..< state.draftFed + count])
                try batch.append(tokens[state.draftFed ..< state.draftFed + count], start: state.draftFed, blockTable: table, logits: .none)
                state.draftFed += count
            } else {
                // The draft scores the rare tokens its sequences use (`LogitSubset`); with more
                // than the subset holds, the oldest text's are dropped.
                scratch.logitSubset?.include(tokens[state.draftFed ... round.position])
                let range = try batch.append(tokens[state.draftFed ... round.position], start: state.draftFed, blockTable: table, logits: .last)
                rows[i] = range.lowerBound
                state.draftFed = round.position + 1
            }
        }
        var pass = 0
        while batch.tokenCount > 0 {
            try model.forward(batch: batch, cache: cache, scratch: scratch)
            spec.totals.draftPasses += 1
            pass += 1
            batch.removeAll()
            for i in rounds.indices {
                guard let row = rows[i], let r = active[rounds[i].sequence], let state = r.speculation else { continue }
                rows[i] = nil
                let logits = UnsafeMutableBufferPointer(mutating: scratch.logits(row: row, vocabularySize: draftVocab))
                for (token, bias) in r.request.logitBias where token < draftVocab { logits[token] += bias }
                let token: Int
                if r.request.sampling.temperature == 0 {
                    token = Sampler.argmax(UnsafeBufferPointer(logits))
                } else {
                    let q = state.draftSampler.distribution(UnsafeBufferPointer(logits))
                    token = state.draftSampler.draw(q)
                    rounds[i].distributions.append(q)
                }
                guard token < targetVocab else {   // an id only the draft's vocabulary has
                    if !rounds[i].distributions.isEmpty { rounds[i].distributions.removeLast() }
                    continue
                }
                rounds[i].tokens.append(token)
                // The last draft is never fed: the target checks it, and the draft reads it next
                // round if it is kept.
                guard rounds[i].tokens.count < rounds[i].length else { continue }
                let position = rounds[i].position + rounds[i].tokens.count
                rows[i] = try batch.append(CollectionOfOne(token), start: position,
                                           blockTable: scheduler.kvCache.blockTable(for: rounds[i].sequence), logits: .last).lowerBound
                state.draftFed = position + 1
            }
        }
    }

    /// After the target's pass: keeps the accepted prefix of `round`'s drafts and one token of
    /// the target's own, from the rows starting at `firstRow` (row i follows the sequence's last
    /// token and the first i drafts). Returns how many drafts were accepted (nil: the request is
    /// gone).
    @discardableResult
    func checkDrafts(_ round: DraftRound, firstRow: Int) -> Int? {
        guard let r = active[round.sequence], let state = r.speculation else { return nil }
        let vocab = model.config.vocabularySize
        for i in 0...round.tokens.count {
            let logits = UnsafeMutableBufferPointer(mutating: scratch.logits(row: firstRow + i, vocabularySize: vocab))
            for (token, bias) in r.request.logitBias { logits[token] += bias }
        }
        let (accepted, next) = DraftVerification.verify(round.tokens, draftDistributions: round.distributions,
                                                        greedy: r.request.sampling.temperature == 0, sampler: &r.sampler) {
            scratch.logits(row: firstRow + $0, vocabularySize: vocab)
        }
        // The draft's cache holds the last token and the drafts it was fed; only the kept stay valid.
        state.draftFed = min(state.draftFed, round.position + 1 + accepted)
        // Counted before delivering: the token that ends the request sends its usage. Accepted
        // drafts count as kept only up to where the request ends (an end-of-generation token, a
        // stop string, its limit); the rest are thrown away as rejected ones are.
        r.usage.draftTokens += round.tokens.count
        speculator?.totals.verifyPasses += 1
        speculator?.totals.drafted += round.tokens.count
        var kept = 0
        var running = true
        while running && kept < accepted {
            r.usage.acceptedDraftTokens += 1
            speculator?.totals.accepted += 1
            running = deliver(r, round.sequence, token: round.tokens[kept], logits: scratch.logits(row: firstRow + kept, vocabularySize: vocab))
            kept += 1
        }
        if running {
            scheduler.markComputed(round.sequence, count: accepted)
            deliver(r, round.sequence, token: next, logits: scratch.logits(row: firstRow + accepted, vocabularySize: vocab))
        }
        return accepted
    }
}
