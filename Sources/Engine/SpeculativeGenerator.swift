import Foundation
import Models
import Sampling
import Tokenizer

/// Single-sequence generation with speculative decoding: a draft (a small model with the same
/// vocabulary, or prompt lookup) proposes up to K tokens, the target scores the last token and
/// the K drafts in one pass, and keeps the drafts it agrees with plus one token of its own.
///
/// Greedy: a draft token is kept when it is the target's argmax at its position, and the first
/// disagreement is replaced by the target's argmax, so the output is the target's greedy output
/// token for token. Sampling: a draft token x drawn from the draft's distribution q is kept with
/// probability min(1, p(x)/q(x)), p the target's; on a rejection the replacement is drawn from
/// max(0, p − q) renormalized (Leviathan et al. 2023, Chen et al. 2023), so each token follows
/// the target's distribution (with the sampler's filters applied to both). Prompt lookup's draft
/// is one token for sure (q = 1 there).
///
/// The KV caches need no copying back: a rejected draft's keys and values sit past the kept
/// length and are overwritten by the next pass before anything attends to them.
public final class SpeculativeGenerator {
    public let target: any CausalLM
    public let tokenizer: Tokenizer
    public let contextSize: Int
    public let speculation: SpeculationOptions
    public let chunkSize: Int
    private let draft: DraftSource
    private let targetCache: PagedKVCache
    private let targetScratch: ForwardScratch
    private let draftCache: PagedKVCache?
    private let draftScratch: ForwardScratch?
    /// Pass times measured before the first generation (`calibrate`).
    private var passTimes: PassTimes?

    public init(target: any CausalLM, tokenizer: Tokenizer, draft: DraftSource, contextSize: Int,
                speculation: SpeculationOptions = SpeculationOptions(), chunkSize: Int = 256, kvCacheType: KVCacheType = .f16) throws {
        try speculation.validate()
        switch draft {
        case .model(let model, let draftTokenizer):
            try SpeculationError.checkVocabularies(target: tokenizer, draft: draftTokenizer)
            draftCache = try model.makeCache(capacity: contextSize, type: kvCacheType)
            draftScratch = model.makeScratch(maxTokens: chunkSize, contextCapacity: contextSize, allLogits: false)
            draftScratch?.logitSubset = speculation.draftLogitSubset(model: model, tokenizer: draftTokenizer)
        case .promptLookup(let lo, let hi):
            guard 1 <= lo, lo <= hi, hi <= 16 else { throw SpeculationError.invalidNgram(min: lo, max: hi) }
            draftCache = nil
            draftScratch = nil
        }
        self.target = target
        self.tokenizer = tokenizer
        self.draft = draft
        self.contextSize = contextSize
        self.speculation = speculation
        self.chunkSize = chunkSize
        targetCache = try target.makeCache(capacity: contextSize, type: kvCacheType)
        let verifyRows = speculation.maxDraftTokens + 1
        targetScratch = target.makeScratch(maxTokens: max(chunkSize, verifyRows), contextCapacity: contextSize, logitRows: verifyRows)
    }

    public func generate(promptIDs: [Int], options: GenerationOptions, onText: (String) -> Void) throws -> GenerationResult {
        guard !promptIDs.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidMaxTokens(options.maxTokens) }
        guard promptIDs.count < contextSize else { throw GenerationError.promptTooLong(tokens: promptIDs.count, context: contextSize) }
        try options.sampling.validate()
        let vocab = target.config.vocabularySize
        let greedy = options.sampling.temperature == 0
        var sampler = Sampler(options.sampling)
        // The draft's own randomness, so that drafting does not shift the target's draws.
        var draftParameters = options.sampling
        draftParameters.seed = options.sampling.seed ^ 0x5EED_D4AF_7000_0001
        var draftSampler = Sampler(draftParameters)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var stops = StopStringMatcher(stops: options.stopStrings)
        if passTimes == nil && speculation.adaptive { passTimes = try calibrate() }
        var isModel = false
        if case .model = draft { isModel = true }
        var policy = DraftLengthPolicy(maxTokens: speculation.maxDraftTokens, adaptive: speculation.adaptive, draftCostsPasses: isModel,
                                       calibration: passTimes)

        let promptStart = DispatchTime.now().uptimeNanoseconds
        try prefill(target, promptIDs[...], start: 0, cache: targetCache, scratch: targetScratch, chunkSize: chunkSize)
        var sequence = promptIDs
        // Tokens of `sequence` whose keys and values are in the draft model's cache: the prompt
        // goes through the draft model too before the first token (as llama.cpp's does).
        var draftFed = 0
        if case .model(let model, _) = draft, let cache = draftCache, let scratch = draftScratch {
            scratch.logitSubset?.forgetText()
            scratch.logitSubset?.include(promptIDs)
            try prefill(model, promptIDs[...], start: 0, cache: cache, scratch: scratch, chunkSize: chunkSize)
            draftFed = promptIDs.count
        }
        let decodeStart = DispatchTime.now().uptimeNanoseconds

        var stats = SpeculationStats()
        var generated: [Int] = []
        var finish = FinishReason.length
        var endedOnEOG = false
        /// Takes a token into the output; false when generation ends with it (or before it).
        func emit(_ token: Int) -> Bool {
            if tokenizer.isEndOfGeneration(token) { finish = .stop; endedOnEOG = true; return false }
            generated.append(token)
            sequence.append(token)
            let (text, stopped) = stops.feed(decoder.append(token))
            if !text.isEmpty { onText(text) }
            if stopped { finish = .stop; return false }
            return generated.count < options.maxTokens && sequence.count - 1 < contextSize
        }

        var next = sampler.sample(targetScratch.logits(row: 0, vocabularySize: vocab))
        var running = emit(next)
        while running {
            let position = sequence.count - 1   // `next`'s, not yet in the target's cache
            let limit = min(options.maxTokens - generated.count - 1, contextSize - 1 - position)
            let k = policy.next(limit: limit)

            // Draft up to k tokens.
            let draftStart = DispatchTime.now().uptimeNanoseconds
            var drafts: [Int] = []
            var draftDistributions: [TokenDistribution] = []
            if k > 0 {
                switch draft {
                case .promptLookup(let lo, let hi):
                    drafts = PromptLookup.draft(sequence, minNgram: lo, maxNgram: hi, limit: k)
                case .model(let model, _):
                    guard let cache = draftCache, let scratch = draftScratch else { break }
                    scratch.logitSubset?.include(sequence[draftFed...])
                    try prefill(model, sequence[draftFed...], start: draftFed, cache: cache, scratch: scratch, chunkSize: chunkSize)
                    stats.draftPasses += (sequence.count - draftFed + chunkSize - 1) / chunkSize
                    draftFed = sequence.count
                    // The catch-up pass gives the first draft token's logits: in steady state it
                    // is one of the round's K draft passes (over the 1 or 2 tokens the target
                    // added), so the policy's per-token draft time includes it.
                    for i in 0..<k {
                        let distribution = draftSampler.distribution(scratch.logits(row: 0, vocabularySize: model.config.vocabularySize))
                        let token = greedy ? distribution.ids[0] : draftSampler.draw(distribution)
                        guard token < vocab else { break }   // an id only the draft's vocabulary has
                        drafts.append(token)
                        draftDistributions.append(distribution)
                        guard i < k - 1 else { break }
                        try model.forward(token: token, position: position + 1 + i, cache: cache, scratch: scratch)
                        stats.draftPasses += 1
                        draftFed += 1
                    }
                }
            }
            let verifyStart = DispatchTime.now().uptimeNanoseconds

            guard !drafts.isEmpty else {
                try target.forward(token: next, position: position, cache: targetCache, scratch: targetScratch)
                policy.recordPlain(seconds: Double(DispatchTime.now().uptimeNanoseconds - verifyStart) / 1e9)
                stats.plainPasses += 1
                next = sampler.sample(targetScratch.logits(row: 0, vocabularySize: vocab))
                running = emit(next)
                continue
            }

            // One target pass over `next` and the drafts: row i predicts the token after input i.
            // With decode's numerics, so that each row's logits are those of a plain step.
            let input = [next] + drafts
            targetScratch.singleRowNumerics = true
            defer { targetScratch.singleRowNumerics = false }
            try input.withUnsafeBufferPointer {
                try target.forward($0, start: position, cache: targetCache, scratch: targetScratch, allLogits: true)
            }
            let (accepted, extra) = DraftVerification.verify(drafts, draftDistributions: draftDistributions, greedy: greedy, sampler: &sampler) {
                targetScratch.logits(row: $0, vocabularySize: vocab)
            }
            let end = DispatchTime.now().uptimeNanoseconds
            stats.verifyPasses += 1
            stats.drafted += drafts.count
            stats.accepted += accepted
            stats.draftSeconds += Double(verifyStart - draftStart) / 1e9
            stats.verifySeconds += Double(end - verifyStart) / 1e9
            policy.recordRound(drafted: drafts.count, accepted: accepted, draftSeconds: Double(verifyStart - draftStart) / 1e9,
                               verifySeconds: Double(end - verifyStart) / 1e9)
            // The draft cache holds `next` and the drafts it was fed; only the accepted stay valid.
            draftFed = min(draftFed, position + 1 + accepted)
            for token in drafts[..<accepted] where running { running = emit(token) }
            if running {
                next = extra
                running = emit(extra)
            }
        }
        if finish == .length || endedOnEOG {
            let (text, _) = stops.feed(decoder.finish())
            let rest = text + stops.finish()
            if !rest.isEmpty { onText(rest) }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        var result = GenerationResult(promptTokens: promptIDs.count, generatedIDs: generated, finishReason: finish,
                                      promptSeconds: Double(decodeStart - promptStart) / 1e9,
                                      generationSeconds: Double(end - decodeStart) / 1e9,
                                      decodeSteps: max(0, generated.count - 1))
        result.speculation = stats
        return result
    }

    /// Times target passes of each length 1…K+1 and draft steps, after a warm-up pass that
    /// faults the weights in: what the draft-length policy weighs before any round has run. The
    /// passes write the caches at positions 0…K, which the prompt overwrites.
    private func calibrate() throws -> PassTimes {
        let token = min(tokenizer.bosID ?? 0, target.config.vocabularySize - 1)
        var draftStep: ((Int) throws -> Void)?
        if case .model(let model, _) = draft, let cache = draftCache, let scratch = draftScratch {
            let draftToken = min(token, model.config.vocabularySize - 1)
            draftStep = { try model.forward(token: draftToken, position: $0, cache: cache, scratch: scratch) }
        }
        targetScratch.singleRowNumerics = true   // timed as the checks run
        defer { targetScratch.singleRowNumerics = false }
        return try PassTimes.measure(maxDraftTokens: speculation.maxDraftTokens, targetPass: { n in
            try [Int](repeating: token, count: n).withUnsafeBufferPointer {
                try target.forward($0, start: 0, cache: targetCache, scratch: targetScratch, allLogits: true)
            }
        }, draftStep: draftStep)
    }
}
