import Foundation
import Models
import Scheduling
import Tokenizer

/// Limits of the engine, fixed at start-up.
public struct EngineConfiguration: Sendable {
    /// Tokens per forward pass (`--max-batch-tokens`): running sequences' next tokens first, then
    /// prompt chunks.
    public var maxBatchTokens = 512
    /// Sequences running at once (`--max-seqs`).
    public var maxSequences = 32
    /// Positions per KV block.
    public var blockSize = 16
    /// KV pool size in bytes (`--kv-memory`), unless `kvBlocks` is given.
    public var kvMemoryBytes = 1 << 30
    public var kvBlocks: Int?
    /// Element type of cached keys and values (`--kv-type`).
    public var kvCacheType = KVCacheType.f16
    /// Longest sequence (prompt + output); default: the model's context length.
    public var contextSize: Int?
    public var prefixCaching = true

    public init() {}
}

/// Counters for metrics, read from any thread.
public struct EngineStats: Sendable, Equatable {
    public var running = 0
    public var waiting = 0
    public var usedBlocks = 0
    public var totalBlocks = 0
    public var prefixQueryTokens = 0
    public var prefixHitTokens = 0
    /// Times a running request lost its KV blocks to make room and was put back to wait.
    public var preemptions = 0
    public var steps = 0
    /// Uptime seconds of the last scheduler step that did work (0: none yet).
    public var lastStepUptime = 0.0
    /// Draft tokens proposed and accepted, checks and draft passes since start; nil when the
    /// engine does not speculate.
    public var speculation: SpeculationStats?
}

/// Continuous batching over one model (vLLM's engine core): callers submit requests from any
/// thread or task and read a stream of events; one engine thread runs scheduler steps, each one
/// forward pass over a flat batch of tokens from every scheduled sequence. The engine thread is a
/// plain thread, so compute never blocks Swift's cooperative pool; the model's compute pool does
/// the parallel work inside each pass.
public final class InferenceEngine: @unchecked Sendable {
    public let model: any CausalLM
    public let tokenizer: Tokenizer
    public let configuration: EngineConfiguration
    public let contextSize: Int
    public let blockSize: Int
    public let blockCount: Int

    // Engine thread only.
    let scheduler: Scheduler
    let cache: PagedKVCache
    let scratch: ForwardScratch
    let batch: ForwardBatch
    let speculator: Speculator?
    var active: [SequenceID: ActiveRequest] = [:]
    var sampled: [(sequence: SequenceID, row: Int)] = []
    /// Requests that took their first step or ended since the last `publish` (leaving `unscheduled`).
    var leftQueue = 0
    var preemptionTotal = 0

    // Shared with callers, under `inbox`.
    private let inbox = NSCondition()
    private var submissions: [(SequenceID, ActiveRequest)] = []
    private var cancellations: [SequenceID] = []
    private var stopping = false
    private var failUnfinished = false
    private var stopped = false
    private var nextID = 0
    /// Submitted requests that have not yet had a step, nor ended: what a queue limit counts.
    private var unscheduled = 0
    private var published = EngineStats()
    private var thread: Thread?

    /// With `speculation`, decoding sequences draft and the target checks (`EngineSpeculation`);
    /// a draft model's KV cache shares the pool's blocks, so `kvMemoryBytes` holds both.
    public init(model: any CausalLM, tokenizer: Tokenizer, configuration: EngineConfiguration = EngineConfiguration(),
                speculation: EngineSpeculation? = nil) throws {
        let c = configuration
        guard c.maxBatchTokens >= 1, c.maxSequences >= 1, c.blockSize >= 1 else {
            throw EngineError.invalidParameter("max batch tokens, max sequences and block size must each be at least 1")
        }
        let context = min(c.contextSize ?? model.config.contextLength, model.config.contextLength)
        guard context >= 2 else { throw EngineError.invalidParameter("the context must hold at least 2 tokens, got \(context)") }
        let blocksPerSequence = (context + c.blockSize - 1) / c.blockSize
        let bytesPerBlock = PagedKVCache.bytesPerBlock(config: model.config, blockSize: c.blockSize, type: c.kvCacheType)
            + (speculation.map { Speculator.draftBytesPerBlock($0, blockSize: c.blockSize, kvType: c.kvCacheType) } ?? 0)
        // At least one full-length sequence must fit, or a long request could never run.
        let blocks = max(c.kvBlocks ?? c.kvMemoryBytes / bytesPerBlock, blocksPerSequence)
        self.model = model
        self.tokenizer = tokenizer
        self.configuration = c
        contextSize = context
        blockSize = c.blockSize
        blockCount = blocks
        scheduler = Scheduler(config: SchedulerConfig(maxBatchTokens: c.maxBatchTokens, maxSequences: c.maxSequences),
                              kvCache: KVCacheManager(blockCount: blocks, blockSize: c.blockSize, prefixCaching: c.prefixCaching))
        cache = model.makePagedCache(blockCount: blocks, blockSize: c.blockSize, type: c.kvCacheType)
        let speculator = try speculation.map {
            try Speculator($0, target: tokenizer, blockCount: blocks, blockSize: c.blockSize, kvType: c.kvCacheType,
                           batchTokens: c.maxBatchTokens, sequences: c.maxSequences, context: context)
        }
        self.speculator = speculator
        // Checks add up to K rows per speculating sequence to a step's scheduled tokens.
        let extraRows = speculator?.extraRows ?? 0
        scratch = model.makeScratch(maxTokens: c.maxBatchTokens + extraRows, contextCapacity: context, logitRows: c.maxSequences + extraRows)
        batch = ForwardBatch(capacity: c.maxBatchTokens + extraRows, maxSequences: c.maxSequences,
                           maxBlockEntries: c.maxSequences * blocksPerSequence)
        if let speculator, speculator.options.adaptive {
            try speculator.calibrate(target: model, cache: cache, scratch: scratch, batch: batch, token: tokenizer.bosID ?? 0)
        }
        published.totalBlocks = blocks
        // Unretained, not `unowned`: `deinit` (through `shutdown`) waits for this thread to stop,
        // so the engine outlives every use here — even a thread that only starts during `deinit`,
        // where an `unowned` read would trap.
        let engine = Unmanaged.passUnretained(self)
        let thread = Thread { engine._withUnsafeGuaranteedRef { $0.run() } }
        thread.name = "swiftlet-engine"
        thread.qualityOfService = .userInitiated
        self.thread = thread
        thread.start()
    }

    deinit { shutdown() }

    /// Called once when a request ends, however it ends (finished, cancelled by its reader, failed,
    /// or cut off by a shutdown), with its usage up to that moment. Runs on the engine thread: keep
    /// it short.
    public typealias EndObserver = @Sendable (FinishReason, RequestUsage) -> Void

    public typealias EventStream = AsyncThrowingStream<EngineEvent, Error>

    /// Checks a request and queues it. The stream yields its tokens and ends with `.finished`; it
    /// throws only if the forward pass fails. Ending the stream early (cancelling the task that
    /// reads it) cancels the request: it leaves the batch at the next step and frees its blocks.
    public func submit(_ request: EngineRequest, onEnd: EndObserver? = nil) throws(EngineError) -> EventStream {
        try submit([request], waitingLimit: nil, onEnd: onEnd)[0]
    }

    /// Queues all of `requests` or none: refused with `.overloaded` when more than `waitingLimit`
    /// requests would then be waiting. Waiting means submitted, not yet stepped, and beyond the
    /// running batch's free places (those start at the next step). The count is kept under the
    /// submission lock as requests arrive (not refreshed once per step), so a burst cannot
    /// overshoot the limit; requests finishing between steps only make it stricter.
    public func submit(_ requests: [EngineRequest], waitingLimit: Int?, onEnd: EndObserver? = nil) throws(EngineError) -> [EventStream] {
        for r in requests { try validate(r) }
        inbox.lock()
        defer { inbox.unlock() }
        guard !stopping else { throw .shutDown }
        if let limit = waitingLimit {
            let freePlaces = max(0, configuration.maxSequences - published.running)
            let waiting = max(0, unscheduled - freePlaces)
            if max(0, unscheduled + requests.count - freePlaces) > limit { throw .overloaded(waiting: waiting, limit: limit) }
        }
        unscheduled += requests.count
        var streams: [EventStream] = []
        for request in requests {
            let (stream, continuation) = EventStream.makeStream(bufferingPolicy: .unbounded)
            let id = nextID
            nextID += 1
            submissions.append((id, ActiveRequest(request: request, tokenizer: tokenizer, continuation: continuation, onEnd: onEnd)))
            continuation.onTermination = { [weak self] termination in
                if case .cancelled = termination { self?.cancel(id) }
            }
            streams.append(stream)
        }
        inbox.signal()
        return streams
    }

    /// Runs a request to the end and returns its tokens, reason and usage (tests, benchmarks).
    public func generate(_ request: EngineRequest) async throws -> (tokens: [GeneratedToken], reason: FinishReason, usage: RequestUsage) {
        var tokens: [GeneratedToken] = []
        for try await event in try submit(request) {
            switch event {
            case .token(let t): tokens.append(t)
            case .text: break
            case .finished(let reason, let usage): return (tokens, reason, usage)
            }
        }
        return (tokens, .cancelled, RequestUsage())
    }

    func cancel(_ id: SequenceID) {
        inbox.lock()
        cancellations.append(id)
        inbox.signal()
        inbox.unlock()
    }

    public var stats: EngineStats {
        inbox.lock()
        defer { inbox.unlock() }
        return published
    }

    /// Stops the engine thread after the current step. Unfinished requests end as cancelled, or,
    /// with `failingUnfinished`, their streams throw `EngineError.shutDown` (a server that gave up
    /// waiting for them at shutdown tells their clients why). New submissions are refused from
    /// here on.
    public func shutdown(failingUnfinished: Bool = false) {
        inbox.lock()
        if !stopping { failUnfinished = failingUnfinished }
        stopping = true
        inbox.signal()
        while thread != nil && !stopped { inbox.wait() }
        inbox.unlock()
    }

    private func validate(_ r: EngineRequest) throws(EngineError) {
        guard !r.promptTokens.isEmpty else { throw .emptyPrompt }
        guard r.promptTokens.count < contextSize else { throw .promptTooLong(tokens: r.promptTokens.count, context: contextSize) }
        let vocab = model.config.vocabularySize
        if let bad = r.promptTokens.first(where: { $0 < 0 || $0 >= vocab }) { throw .tokenOutOfRange(id: bad, vocabularySize: vocab) }
        if let bad = r.logitBias.keys.first(where: { $0 < 0 || $0 >= vocab }) { throw .tokenOutOfRange(id: bad, vocabularySize: vocab) }
        if let bad = r.logitBias.values.first(where: { !$0.isFinite }) { throw .invalidParameter("a logit bias must be finite, got \(bad)") }
        guard r.maxTokens >= 1 else { throw .invalidMaxTokens(r.maxTokens) }
        if let n = r.logprobs, n < 0 || n > EngineRequest.maxLogprobs { throw .tooManyLogprobs(n) }
        do {
            try r.sampling.validate()
            try r.penalties.validate()
        } catch { throw .invalidParameter(error.description) }
    }

    // MARK: engine thread

    private func run() {
        while true {
            inbox.lock()
            while submissions.isEmpty && cancellations.isEmpty && !stopping && !scheduler.hasWork { inbox.wait() }
            let newRequests = submissions, cancelled = cancellations, stop = stopping, fail = failUnfinished
            submissions.removeAll()
            cancellations.removeAll()
            inbox.unlock()

            for (id, request) in newRequests {
                active[id] = request
                scheduler.add(id, prompt: request.request.promptTokens)
            }
            for id in cancelled where active[id] != nil { finish(id, reason: .cancelled) }
            if stop {
                for id in Array(active.keys).sorted() {
                    finish(id, reason: fail ? .error : .cancelled, error: fail ? .shutDown : nil)
                }
                break
            }
            let worked = step()
            publish(worked: worked)
        }
        inbox.lock()
        stopped = true
        publish(worked: false, locked: true)
        inbox.broadcast()
        inbox.unlock()
    }

    private func publish(worked: Bool, locked: Bool = false) {
        let kv = scheduler.kvCache
        if !locked { inbox.lock() }
        published.running = scheduler.runningCount
        published.waiting = scheduler.waitingCount + submissions.count
        published.usedBlocks = kv.usedBlocks
        published.prefixQueryTokens = kv.prefixQueryTokens
        published.prefixHitTokens = kv.prefixHitTokens
        published.preemptions = preemptionTotal
        published.speculation = speculator?.totals
        unscheduled -= leftQueue
        leftQueue = 0
        if worked {
            published.steps += 1
            published.lastStepUptime = Clock.now
        }
        if !locked { inbox.unlock() }
    }
}

enum Clock {
    static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
