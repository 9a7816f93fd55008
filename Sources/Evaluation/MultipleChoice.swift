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
/// in characters. The context is computed once per item; every choice then continues from its
/// KV cache entries (the effect of prefix caching, on one sequence).
public struct ChoiceScorer {
    public struct Result: Sendable, Equatable {
        public var items: Int
        public var acc: Double
        public var accNorm: Double
        public var accStderr: Double
        public var accNormStderr: Double
        /// Per item: the choice picked by `acc` and by `acc_norm`.
        public var picks: [(acc: Int, accNorm: Int)]

        public static func == (a: Self, b: Self) -> Bool {
            a.items == b.items && a.acc == b.acc && a.accNorm == b.accNorm && a.picks.map(\.acc) == b.picks.map(\.acc)
        }
    }

    public let model: LlamaModel
    public let tokenizer: Tokenizer

    public init(model: LlamaModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
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

    /// Sum of log p(choice | context) for each choice of `item`.
    public func logLikelihoods(_ item: ChoiceItem, cache: LlamaKVCache, scratch: LlamaScratch) throws -> [Double] {
        let splits = item.choices.map { split(context: item.context, choice: $0) }
        let vocab = model.config.vocabularySize
        var sums: [Double] = []
        var computedContext: [Int]?
        var lastRow: [Float] = []
        for (ctxIDs, cont) in splits {
            guard !ctxIDs.isEmpty, !cont.isEmpty else { throw EvaluationError.invalid("item \(item.id): empty context or choice after tokenization") }
            // Every split has the same context ids unless the harness fell back; compute each
            // distinct context once.
            if computedContext != ctxIDs {
                try ctxIDs.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: false) }
                lastRow = Array(scratch.logits(row: 0, vocabularySize: vocab))
                computedContext = ctxIDs
            }
            var sum = lastRow.withUnsafeBufferPointer { row in LogSoftmax(row).logProb(row[cont[0]]) }
            if cont.count > 1 {
                try cont.dropLast().withUnsafeBufferPointer {
                    try model.forward($0, start: ctxIDs.count, cache: cache, scratch: scratch, allLogits: true)
                }
                for j in 1..<cont.count {
                    let row = scratch.logits(row: j - 1, vocabularySize: vocab)
                    sum += LogSoftmax(row).logProb(row[cont[j]])
                }
            }
            sums.append(sum)
        }
        return sums
    }

    public func run(_ items: [ChoiceItem], progress: ((_ done: Int, _ correct: Int) -> Void)? = nil) throws -> Result {
        // One cache and scratch sized for the longest item.
        var longest = 2
        for item in items {
            for c in item.choices {
                let s = split(context: item.context, choice: c)
                longest = max(longest, s.context.count + s.continuation.count)
            }
        }
        guard longest <= model.config.contextLength else {
            throw EvaluationError.invalid("an item needs \(longest) tokens; the model's context holds \(model.config.contextLength)")
        }
        let cache = try model.makeCache(capacity: longest)
        let scratch = model.makeScratch(maxTokens: longest, contextCapacity: longest)
        var picks: [(Int, Int)] = []
        var correct = 0, correctNorm = 0
        for item in items {
            let ll = try logLikelihoods(item, cache: cache, scratch: scratch)
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
        return Result(items: items.count, acc: acc, accNorm: accNorm, accStderr: stderr(acc), accNormStderr: stderr(accNorm),
                      picks: picks.map { (acc: $0.0, accNorm: $0.1) })
    }
}
