import Foundation
import Models

/// `eval perplexity --save-logits FILE`: the top-k log-probabilities of every scored position, as
/// JSON lines. The first line is a header — `{"format":"swiftlet-top-logprobs-1","model","text",
/// "ctx","k","tokens":[ids…]}` — then one line per scored position in order:
/// `{"p": position, "top": [[id, logprob], …]}` (k pairs, most probable first).
public final class TopLogitsWriter {
    let handle: FileHandle
    let path: String
    let k: Int

    public init(path: String, model: String, text: String, ctx: Int, tokens: [Int], k: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw EvaluationError.invalid("cannot create \(path)") }
        guard let h = FileHandle(forWritingAtPath: path) else { throw EvaluationError.invalid("cannot write \(path)") }
        handle = h
        self.path = path
        self.k = k
        let header: [String: Any] = ["format": TopLogitsFile.format, "model": model, "text": text, "ctx": ctx, "k": k, "tokens": tokens]
        try write(header)
    }

    private func write(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    public func write(position: Int, logits: UnsafeBufferPointer<Float>, next: Int) throws {
        let ls = LogSoftmax(logits)
        // Partial selection of the k largest: keep a small sorted list.
        var top: [(Int, Float)] = []
        top.reserveCapacity(k + 1)
        for (i, v) in logits.enumerated() where top.count < k || v > top[top.count - 1].1 {
            let at = top.firstIndex { $0.1 < v } ?? top.count
            top.insert((i, v), at: at)
            if top.count > k { top.removeLast() }
        }
        try write(["p": position, "top": top.map { [$0.0, (ls.logProb($0.1) * 1e6).rounded() / 1e6] as [Any] }])
    }

    public func close() throws { try handle.close() }
}

/// A file written by `TopLogitsWriter`, and the comparison of a model against it.
public struct TopLogitsFile {
    static let format = "swiftlet-top-logprobs-1"
    public let ctx: Int
    public let k: Int
    public let tokens: [Int]
    /// Per scored position, in order: (position, [(id, logprob)]).
    public let rows: [(position: Int, top: [(Int, Double)])]

    public init(path: String) throws(EvaluationError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw .invalid("cannot read \(path): \(error.localizedDescription)") }
        var lines = text.split(separator: "\n").makeIterator()
        guard let first = lines.next(), let header = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
              header["format"] as? String == Self.format, let ctx = header["ctx"] as? Int, let k = header["k"] as? Int,
              let tokens = header["tokens"] as? [Int] else {
            throw .invalid("\(path) is not a file saved by `eval perplexity --save-logits` (bad header)")
        }
        var rows: [(Int, [(Int, Double)])] = []
        var n = 1
        while let line = lines.next() {
            n += 1
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let p = o["p"] as? Int,
                  let top = o["top"] as? [[Any]] else { throw .badTask(path, line: n, "not a {\"p\",\"top\"} line") }
            var pairs: [(Int, Double)] = []
            for pair in top {
                guard pair.count == 2, let id = pair[0] as? Int, let lp = (pair[1] as? NSNumber)?.doubleValue else {
                    throw .badTask(path, line: n, "a top entry is not [id, logprob]")
                }
                pairs.append((id, lp))
            }
            rows.append((p, pairs))
        }
        let expected = PerplexityRun.windows(tokens.count, ctx: ctx).reduce(0) { $0 + $1.count - 1 }
        guard rows.count == expected else { throw .invalid("\(path) has \(rows.count) positions; its header's text needs \(expected) (truncated file?)") }
        self.ctx = ctx
        self.k = k
        self.tokens = tokens
        self.rows = rows
    }

    public struct Result: Sendable {
        /// Σ over positions of the KL with the base's tail as one bucket, ÷ positions: a lower
        /// bound on the true mean KL (log-sum inequality).
        public var meanKL: Double
        public var top1Agreement: Double
        public var perplexity: Double
        /// From the saved log-probabilities of the actual next tokens where they are in the top k;
        /// positions where the next token is outside the base's top k use the tail bucket, so
        /// this is an upper bound on the base's perplexity.
        /// A lower bound of the base's perplexity: where the next token is not among the saved
        /// top-k, the whole tail's probability is credited to it.
        public var basePerplexity: Double
        public var positions: Int
        /// Positions whose next token is among the saved top-k (there the base's NLL is exact).
        public var nextInTopK: Int
    }

    public func compare(model: any CausalLM, ids: [Int]) throws -> Result {
        guard model.config.vocabularySize > (tokens.max() ?? 0) else { throw EvaluationError.mismatch("the saved tokens are outside this model's vocabulary") }
        var row = 0
        var kl = 0.0, agree = 0, baseNLL = 0.0, exact = 0
        let run = try PerplexityRun(model: model, ctx: ctx)
        let r = try run.run(ids, visit: { position, logits, next in
            let saved = rows[row]
            row += 1
            guard saved.position == position else { throw EvaluationError.mismatch("saved position \(saved.position) where \(position) was expected") }
            let lq = LogSoftmax(logits)
            var pTop = 0.0, qTop = 0.0, d = 0.0
            for (id, lp) in saved.top {
                let lqi = lq.logProb(logits[id])
                let p = exp(lp)
                d += p * (lp - lqi)
                pTop += p
                qTop += exp(lqi)
            }
            // The tail as one bucket; below 1e-6 it is the rounding of the saved log-probabilities.
            let pRest = max(0, 1 - pTop), qRest = max(1e-12, 1 - qTop)
            if pRest > 1e-6 { d += pRest * (log(pRest) - log(qRest)) }
            kl += max(0, d)
            var best = 0
            for t in 0..<logits.count where logits[t] > logits[best] { best = t }
            if best == saved.top.first?.0 { agree += 1 }
            if let lp = saved.top.first(where: { $0.0 == next })?.1 {
                baseNLL -= lp
                exact += 1
            } else {
                baseNLL -= log(max(pRest, 1e-300))
            }
        })
        let n = Double(r.scoredTokens)
        return Result(meanKL: kl / n, top1Agreement: Double(agree) / n, perplexity: r.perplexity, basePerplexity: exp(baseNLL / n), positions: r.scoredTokens,
                      nextInTopK: exact)
    }
}
