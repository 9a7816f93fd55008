import Foundation
import Models
import Sampling
import Scheduling
import Tokenizer

/// Speculative decoding inside continuous batching (`serve --draft`, `--prompt-lookup`).
///
/// In a step where at most `maxSequences` sequences decode, each of them may draft: the draft
/// model runs over every such sequence at once (one batched pass per draft position), and the
/// target's pass checks all their drafts beside the step's other chunks (prompt chunks, plain
/// decodes). Each sequence keeps its accepted drafts and one token of the target's own
/// (`DraftVerification`), so greedy output is the target's alone, token for token.
///
/// The draft model's paged KV cache has the target's block layout and is indexed by the same
/// block tables: a sequence's blocks hold both models' keys and values, and pre-emption, freeing
/// and the prefix cache need nothing new. Drafts are written into lookahead slots past the
/// sequence's tokens (`Scheduler.reserveLookahead`), which never enter the prefix cache; a
/// rejected draft's entries are overwritten by the next pass, so nothing is copied back.
/// The draft catches up on tokens it has not seen (the prompt, the target's replacement tokens)
/// at the start of the sequence's next round, within the step's token budget.
public struct EngineSpeculation {
    public var draft: DraftSource
    public var options: SpeculationOptions
    /// Speculate only in steps where at most this many sequences decode. With more, a step is
    /// already a batch: checking K drafts each multiplies its rows, and decode turns from
    /// memory-bound (where checks are nearly free) to compute-bound. vLLM's
    /// `speculative_disable_by_batch_size` is the same rule.
    public var maxSequences: Int

    public init(draft: DraftSource, options: SpeculationOptions = SpeculationOptions(), maxSequences: Int = 4) {
        self.draft = draft
        self.options = options
        self.maxSequences = maxSequences
    }
}

/// The engine's speculation state: the draft model's cache and buffers, the calibrated pass
/// times, and totals for metrics. Engine thread only.
final class Speculator {
    let source: DraftSource
    let options: SpeculationOptions
    let maxSequences: Int
    let draftModel: (any CausalLM)?
    let draftCache: PagedKVCache?
    let draftScratch: ForwardScratch?
    let draftBatch: ForwardBatch?
    var passTimes: PassTimes?
    var totals = SpeculationStats()

    init(_ s: EngineSpeculation, target: Tokenizer, blockCount: Int, blockSize: Int, kvType: KVCacheType,
         batchTokens: Int, sequences: Int, context: Int) throws {
        try s.options.validate()
        guard s.maxSequences >= 1 else {
            throw EngineError.invalidParameter("speculation needs at least one sequence per step, got \(s.maxSequences)")
        }
        source = s.draft
        options = s.options
        maxSequences = s.maxSequences
        switch s.draft {
        case .model(let model, let tokenizer):
            try SpeculationError.checkVocabularies(target: target, draft: tokenizer)
            draftModel = model
            draftCache = model.makePagedCache(blockCount: blockCount, blockSize: blockSize, type: kvType)
            let scratch = model.makeScratch(maxTokens: batchTokens, contextCapacity: context, logitRows: sequences)
            scratch.logitSubset = s.options.draftLogitSubset(model: model, tokenizer: tokenizer)
            draftScratch = scratch
            draftBatch = ForwardBatch(capacity: batchTokens, maxSequences: sequences,
                                      maxBlockEntries: sequences * ((context + blockSize - 1) / blockSize))
        case .promptLookup(let lo, let hi):
            guard 1 <= lo, lo <= hi, hi <= 16 else { throw SpeculationError.invalidNgram(min: lo, max: hi) }
            draftModel = nil
            draftCache = nil
            draftScratch = nil
            draftBatch = nil
        }
    }

    /// KV bytes per block the draft model adds to the target's.
    static func draftBytesPerBlock(_ s: EngineSpeculation, blockSize: Int, kvType: KVCacheType) -> Int {
        guard case .model(let model, _) = s.draft else { return 0 }
        return PagedKVCache.bytesPerBlock(config: model.config, blockSize: blockSize, type: kvType)
    }

    /// Rows a step adds to its target pass when every speculating sequence drafts the most.
    var extraRows: Int { maxSequences * options.maxDraftTokens }

    func makeState(for request: EngineRequest) -> SequenceSpeculation {
        var isModel = false
        if case .model = source { isModel = true }
        var parameters = request.sampling
        // The draft's own randomness, so that drafting does not shift the target's draws.
        parameters.seed = request.sampling.seed ^ 0x5EED_D4AF_7000_0001
        return SequenceSpeculation(policy: DraftLengthPolicy(maxTokens: options.maxDraftTokens, adaptive: options.adaptive,
                                                             draftCostsPasses: isModel, calibration: passTimes),
                                   draftSampler: Sampler(parameters))
    }

    /// Times single-sequence target passes over 1…K+1 tokens and draft steps (each twice, the
    /// faster kept), after a warm-up pass that faults the weights in: what each sequence's
    /// draft-length policy starts from. Writes blocks 0… of both caches, free at start-up.
    func calibrate(target: any CausalLM, cache: PagedKVCache, scratch: ForwardScratch, batch: ForwardBatch, token: Int) throws {
        let table = Array(0..<((options.maxDraftTokens + 1 + cache.blockSize - 1) / cache.blockSize))
        func pass(_ model: any CausalLM, _ n: Int, start: Int, _ cache: PagedKVCache, _ scratch: ForwardScratch, _ batch: ForwardBatch) throws {
            batch.removeAll()
            try batch.append(repeatElement(min(token, model.config.vocabularySize - 1), count: n), start: start, blockTable: table, logits: .all)
            try model.forward(batch: batch, cache: cache, scratch: scratch)
        }
        var draftStep: ((Int) throws -> Void)?
        if let model = draftModel, let dc = draftCache, let ds = draftScratch, let db = draftBatch {
            draftStep = { try pass(model, 1, start: $0, dc, ds, db) }
        }
        scratch.singleRowNumerics = true   // timed as the checks run
        defer { scratch.singleRowNumerics = false }
        passTimes = try PassTimes.measure(maxDraftTokens: options.maxDraftTokens, targetPass: { try pass(target, $0, start: 0, cache, scratch, batch) },
                                          draftStep: draftStep)
    }
}

/// One sequence's speculation: its draft-length policy, how far the draft model has read it,
/// and the draft's sampler.
final class SequenceSpeculation {
    var policy: DraftLengthPolicy
    /// Tokens of the sequence whose keys and values are in the draft model's cache.
    var draftFed = 0
    var draftSampler: Sampler

    init(policy: DraftLengthPolicy, draftSampler: Sampler) {
        self.policy = policy
        self.draftSampler = draftSampler
    }
}

/// One sequence's drafts for this step's checking pass.
struct DraftRound {
    let sequence: SequenceID
    /// Position of the sequence's last token: the first row checked.
    let position: Int
    /// Draft tokens wanted this round (lookahead slots reserved for them).
    var length: Int
    var tokens: [Int] = []
    /// The draft model's distribution for each token (empty for prompt lookup).
    var distributions: [TokenDistribution] = []
}
