import Foundation
import Models
import Tokenizer

/// One multiple-choice item in Swiftlet's task format (JSON lines):
/// `{"id": "...", "context": "...", "choices": ["...", ...], "gold": i}`.
public struct ChoiceItem: Codable, Sendable, Equatable {
    public var id: String
    public var context: String
    public var choices: [String]
    public var gold: Int

    public init(id: String, context: String, choices: [String], gold: Int) {
        self.id = id; self.context = context; self.choices = choices; self.gold = gold
    }

    /// Reads a task file, checking every line: a bad line is an error naming the file and line.
    public static func load(_ path: String, limit: Int? = nil) throws(EvaluationError) -> [ChoiceItem] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw .invalid("cannot read task \(path): \(error.localizedDescription)") }
        var items: [ChoiceItem] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy(\.isWhitespace) { continue }
            if let limit, items.count >= limit { break }
            let item: ChoiceItem
            do { item = try JSONDecoder().decode(ChoiceItem.self, from: Data(line.utf8)) } catch {
                throw .badTask(path, line: n + 1, "not a {\"id\",\"context\",\"choices\",\"gold\"} object")
            }
            guard item.choices.count >= 2 else { throw .badTask(path, line: n + 1, "needs at least 2 choices") }
            guard item.choices.indices.contains(item.gold) else { throw .badTask(path, line: n + 1, "gold \(item.gold) is not a choice index") }
            guard !item.context.isEmpty else { throw .badTask(path, line: n + 1, "the context is empty") }
            guard item.choices.allSatisfy({ !$0.isEmpty }) else { throw .badTask(path, line: n + 1, "a choice is empty") }
            items.append(item)
        }
        guard !items.isEmpty else { throw .invalid("task \(path) has no items") }
        return items
    }
}

/// Scores each choice as the continuation of the context, as lm-evaluation-harness does: `acc`
/// picks the largest sum of log-probabilities, `acc_norm` the largest sum ÷ the choice's length
/// in characters. Per item, the context is computed once into paged KV blocks; then every choice
/// runs in one batched forward pass, each as its own sequence whose block table shares the
/// context's full blocks and continues in a private copy of its partial last block — vLLM's
/// prefix sharing with copy-on-write.
public struct ChoiceScorer {
    public struct Result: Sendable, Equatable {
        public var items: Int
        public var acc: Double
        public var accNorm: Double
        public var accStderr: Double
        public var accNormStderr: Double
        /// Per item: the choice picked by `acc` and by `acc_norm`.
        public var picks: [(acc: Int, accNorm: Int)]
        /// Per item: whether `acc` and `acc_norm` picked the gold choice (for paired comparisons).
        public var correct: [Bool] = []
        public var correctNorm: [Bool] = []
        /// Accuracy of picking at random: the mean of 1 ÷ choices over the items.
        public var chance = 0.0
        /// Per item: `acc`'s correctness, the model's confidence in its pick, seconds and tokens
        /// (for `CascadeAnalysis`).
        public var answers = ChoiceAnswers(correct: [], confidence: [], seconds: [], tokens: [])

        public static func == (a: Self, b: Self) -> Bool {
            a.items == b.items && a.acc == b.acc && a.accNorm == b.accNorm && a.picks.map(\.acc) == b.picks.map(\.acc)
        }
    }

    public let model: any CausalLM
    public let tokenizer: Tokenizer
    static let blockSize = 16
    public let kvCacheType: KVCacheType

    public init(model: any CausalLM, tokenizer: Tokenizer, kvCacheType: KVCacheType = .f16) {
        self.model = model
        self.tokenizer = tokenizer
        self.kvCacheType = kvCacheType
    }

    /// The harness's split: trailing spaces of the context move to the front of the choice; the
    /// choice's ids are those of tokenize(context + choice) after the context's ids when that
    /// split is clean, else tokenize(choice) alone.
    public func split(context: String, choice: String) -> (context: [Int], continuation: [Int]) {
        var ctx = context, cont = choice
        while ctx.hasSuffix(" ") { ctx.removeLast(); cont = " " + cont }
        let ctxIDs = tokenizer.encode(ctx)
        let whole = tokenizer.encode(ctx + cont)
        if whole.count > ctxIDs.count && Array(whole.prefix(ctxIDs.count)) == ctxIDs {
            return (ctxIDs, Array(whole.dropFirst(ctxIDs.count)))
        }
        return (ctxIDs, tokenizer.encode(cont))
    }

    /// An item tokenized: the context's ids and each choice's continuation ids.
    struct Tokenized {
        let context: [Int]
        let continuations: [[Int]]

        /// KV blocks: the context's, then each choice's private ones.
        func blocks(_ bs: Int) -> Int {
            let full = context.count / bs
            return (context.count + bs - 1) / bs + continuations.reduce(0) { $0 + (context.count + $1.count - 1 + bs - 1) / bs - full }
        }
        var batchTokens: Int { max(context.count, continuations.reduce(0) { $0 + $1.count - 1 }) }
    }

    func tokenize(_ item: ChoiceItem) throws -> Tokenized {
        let splits = item.choices.map { split(context: item.context, choice: $0) }
        guard let ctx = splits.first?.context, !ctx.isEmpty, splits.allSatisfy({ !$0.continuation.isEmpty && $0.context == ctx }) else {
            throw EvaluationError.invalid("item \(item.id): empty context or choice after tokenization")
        }
        return Tokenized(context: ctx, continuations: splits.map(\.continuation))
    }

    /// Scratch, cache and batch sized for the largest item.
    final class State {
        let cache: PagedKVCache
        let scratch: ForwardScratch
        let batch: ForwardBatch

        init(model: any CausalLM, items: [Tokenized], kvCacheType: KVCacheType) {
            let bs = ChoiceScorer.blockSize
            let blocks = items.map { $0.blocks(bs) }.max() ?? 1
            let tokens = items.map(\.batchTokens).max() ?? 1
            let longest = items.map { $0.context.count + ($0.continuations.map(\.count).max() ?? 0) }.max() ?? 1
            let choices = items.map(\.continuations.count).max() ?? 1
            cache = model.makePagedCache(blockCount: blocks, blockSize: bs, type: kvCacheType)
            scratch = model.makeScratch(maxTokens: tokens, contextCapacity: longest, logitRows: tokens)
            batch = ForwardBatch(capacity: tokens, maxSequences: choices, maxBlockEntries: blocks + choices * ((longest + bs - 1) / bs))
        }
    }

    /// Sum of log p(choice | context) for each choice.
    func logLikelihoods(_ t: Tokenized, _ s: State) throws -> [Double] {
        let bs = Self.blockSize, vocab = model.config.vocabularySize
        let n = t.context.count, full = n / bs, contextBlocks = (n + bs - 1) / bs
        s.batch.removeAll()
        try s.batch.append(t.context, start: 0, blockTable: 0..<contextBlocks, logits: .last)
        try model.forward(batch: s.batch, cache: s.cache, scratch: s.scratch)
        let first = s.scratch.logits(row: 0, vocabularySize: vocab)
        let firstLS = LogSoftmax(first)
        var sums = t.continuations.map { firstLS.logProb(first[$0[0]]) }

        // Every choice with more than one token continues in one batch.
        s.batch.removeAll()
        var nextBlock = contextBlocks
        var rows: [Range<Int>?] = []
        for cont in t.continuations {
            guard cont.count > 1 else { rows.append(nil); continue }
            let own = (n + cont.count - 1 + bs - 1) / bs - full
            let table = Array(0..<full) + Array(nextBlock..<(nextBlock + own))
            if n % bs != 0 { s.cache.copyBlock(full, to: nextBlock) }
            nextBlock += own
            rows.append(try s.batch.append(cont.dropLast(), start: n, blockTable: table, logits: .all))
        }
        if s.batch.tokenCount > 0 { try model.forward(batch: s.batch, cache: s.cache, scratch: s.scratch) }
        for (j, cont) in t.continuations.enumerated() {
            guard let range = rows[j] else { continue }
            for (k, row) in range.enumerated() {
                let logits = s.scratch.logits(row: row, vocabularySize: vocab)
                sums[j] += LogSoftmax(logits).logProb(logits[cont[k + 1]])
            }
        }
        return sums
    }

    public func run(_ items: [ChoiceItem], progress: ((_ done: Int, _ correct: Int) -> Void)? = nil) throws -> Result {
        let tokenized = try items.map(tokenize)
        let longest = tokenized.map { $0.context.count + ($0.continuations.map(\.count).max() ?? 0) }.max() ?? 0
        guard longest <= model.config.contextLength else {
            throw EvaluationError.invalid("an item needs \(longest) tokens; the model's context holds \(model.config.contextLength)")
        }
        let state = State(model: model, items: tokenized, kvCacheType: kvCacheType)
        var picks: [(Int, Int)] = []
        var correct = 0, correctNorm = 0
        var confidence: [Double] = [], seconds: [Double] = [], tokens: [Int] = []
        for (item, t) in zip(items, tokenized) {
            let start = DispatchTime.now().uptimeNanoseconds
            let ll = try logLikelihoods(t, state)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            confidence.append(ChoiceAnswers.confidence(ll))
            tokens.append(t.context.count + t.continuations.reduce(0) { $0 + $1.count })
            let norm = zip(ll, item.choices).map { $0 / Double($1.count) }
            let pick = ll.indices.max { ll[$0] < ll[$1] }!
            let pickNorm = norm.indices.max { norm[$0] < norm[$1] }!
            if pick == item.gold { correct += 1 }
            if pickNorm == item.gold { correctNorm += 1 }
            picks.append((pick, pickNorm))
            progress?(picks.count, correct)
        }
        let n = Double(items.count)
        func stderr(_ p: Double) -> Double { items.count > 1 ? (p * (1 - p) / (n - 1)).squareRoot() : 0 }
        let acc = Double(correct) / n, accNorm = Double(correctNorm) / n
        let correctItems = zip(picks, items).map { $0.0 == $1.gold }
        return Result(items: items.count, acc: acc, accNorm: accNorm, accStderr: stderr(acc), accNormStderr: stderr(accNorm),
                      picks: picks.map { (acc: $0.0, accNorm: $0.1) },
                      correct: correctItems, correctNorm: zip(picks, items).map { $0.1 == $1.gold },
                      chance: items.map { 1 / Double($0.choices.count) }.reduce(0, +) / n,
                      answers: ChoiceAnswers(correct: correctItems, confidence: confidence, seconds: seconds, tokens: tokens))
    }
}
