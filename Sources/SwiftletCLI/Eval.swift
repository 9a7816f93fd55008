import ArgumentParser
import Evaluation
import Foundation
import GGUF
import Kernels
import Models
import Tokenizer

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure accuracy: perplexity, multiple-choice tasks, KL divergence between models, and a sweep over quant types.",
        discussion: """
            Data: scripts/fetch-eval-data puts Botchan, the Britannica "Shakespeare" article and
            BIG-bench tasks (as JSON lines) into data/. Task files are JSON lines of
            {"id","context","choices":[...],"gold":i}; bring your own in that format.
            """,
        subcommands: [EvalPerplexity.self, EvalChoice.self, EvalCompare.self, EvalSweep.self, EvalCascade.self])
}

/// Model loading shared by the eval commands.
struct EvalModelOptions: ParsableArguments {
    @Option(name: [.customShort("t"), .long], help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Matmul path: auto, simd, blas, reference.")
    var backend: MatmulBackend = .auto

    @Option(help: "Element type of cached keys and values: f16 (as llama.cpp's default) or f32.")
    var kvType: KVCacheType = .f16

    func load(_ path: String) throws -> (any CausalLM, Tokenizer) {
        let gguf = try GGUFFile(path: path)
        return (try ModelLoader.load(gguf, backend: backend, threads: threads), try Tokenizer(gguf: gguf))
    }

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

/// The text an eval command scores, and how: shared by perplexity, compare and sweep.
struct EvalTextOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "A UTF-8 text file (for --base-logits: the one the logits were saved from).")
    var file: String

    @Option(help: "Window length in tokens.")
    var ctx = 512

    @Option(help: "Use only the first N tokens of the text.")
    var limit: Int?

    func validate() throws {
        guard ctx >= 2 else { throw ValidationError("--ctx must be at least 2") }
        if let l = limit, l < 2 { throw ValidationError("--limit must be at least 2") }
    }

    func tokens(_ tokenizer: Tokenizer, limit fallback: Int? = nil) throws -> [Int] { try evalTokens(file, tokenizer, limit: limit ?? fallback) }
}

/// Prints a JSON object, keys sorted.
func printJSON(_ object: Any) throws {
    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
}

/// Reads a text file and tokenizes it (no BOS), keeping the first `limit` tokens.
func evalTokens(_ path: String, _ tokenizer: Tokenizer, limit: Int?) throws -> [Int] {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw CLIError("cannot read \(path): \(error.localizedDescription)\(path.hasPrefix("data/") ? " (run scripts/fetch-eval-data)" : "")")
    }
    let ids = tokenizer.encode(text)
    return limit.map { Array(ids.prefix($0)) } ?? ids
}

func stderrLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

struct EvalPerplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text: windows of --ctx tokens from token 0, each from an empty cache, every token but each window's first scored.")

    @Option(name: [.customShort("m"), .long], help: "The GGUF model.")
    var model: String

    @OptionGroup var text: EvalTextOptions

    @Option(help: "Save the top --top-k log-probabilities of every scored position here (JSON lines), for `eval compare --base-logits`.")
    var saveLogits: String?

    @Option(help: "Log-probabilities kept per position by --save-logits.")
    var topK = 32

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    func validate() throws {
        guard (1...1000).contains(topK) else { throw ValidationError("--top-k must be in 1…1000") }
    }

    func run() throws {
        let (llama, tokenizer) = try options.load(model)
        let ids = try text.tokens(tokenizer)
        let (file, ctx) = (text.file, text.ctx)
        let run = try PerplexityRun(model: llama, ctx: ctx, kvCacheType: options.kvType)
        // A model whose tokenizer adds BOS (Gemma) sees it at the start of every window.
        let bos = tokenizer.addBOS ? tokenizer.bosID : nil
        if bos != nil && saveLogits != nil {
            throw CLIError("--save-logits does not support models that add BOS to every window (as Gemma) yet: their windows hold ctx - 1 text tokens, which the saved-logits format does not record")
        }
        let writer = try saveLogits.map { try TopLogitsWriter(path: $0, model: model, text: file, ctx: ctx, tokens: ids, k: topK) }
        let windows = PerplexityRun.windows(ids.count, ctx: bos == nil ? ctx : ctx - 1).count
        stderrLine("\(ids.count) tokens, \(windows) windows of \(ctx)\(bos == nil ? "" : " (BOS and \(ctx - 1) text tokens)")")
        let start = Date()
        let r = try run.run(ids, bos: bos, visit: writer.map { w in { try w.write(position: $0, logits: $1, next: $2) } }) { w in
            stderrLine(String(format: "[%d/%d] running perplexity %.4f", w.index + 1, windows, w.runningPerplexity))
        }
        try writer?.close()
        let seconds = Date().timeIntervalSince(start)
        if json {
            let o: [String: Any] = ["model": model, "text": file, "ctx": ctx, "tokens": ids.count, "scored": r.scoredTokens, "windows": r.windows,
                                    "perplexity": r.perplexity, "perplexity_stderr": r.standardError, "nll_per_token": r.meanNLL,
                                    "seconds": seconds]
            try printJSON(o)
        } else {
            print(String(format: "perplexity %.4f ± %.4f over %d tokens (%d windows of %d; NLL %.6f per token; %.1f s, %.0f tokens/s)",
                         r.perplexity, r.standardError, r.scoredTokens, r.windows, ctx, r.meanNLL, seconds, Double(ids.count) / seconds))
        }
    }
}

struct EvalChoice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "choice",
        abstract: "Multiple-choice accuracy (acc, acc_norm) with standard errors, as lm-evaluation-harness scores it.")

    @Option(name: [.customShort("m"), .long], help: "The GGUF model.")
    var model: String

    @Option(help: "A task file: JSON lines of {\"id\",\"context\",\"choices\",\"gold\"}.")
    var task: String

    @Option(help: "Score only the first N items.")
    var limit: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    func validate() throws {
        if let l = limit, l < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let (llama, tokenizer) = try options.load(model)
        let items = try ChoiceItem.load(task, limit: limit)
        let start = Date()
        let r = try ChoiceScorer(model: llama, tokenizer: tokenizer, kvCacheType: options.kvType).run(items) { done, correct in
            if done % 25 == 0 || done == items.count { stderrLine("[\(done)/\(items.count)] acc \(String(format: "%.3f", Double(correct) / Double(done)))") }
        }
        if json {
            let o: [String: Any] = ["model": model, "task": task, "n": r.items, "acc": r.acc, "acc_stderr": r.accStderr,
                                    "acc_norm": r.accNorm, "acc_norm_stderr": r.accNormStderr, "chance": r.chance,
                                    "seconds": Date().timeIntervalSince(start)]
            try printJSON(o)
        } else {
            print(String(format: "%@: %d items\nacc      %.4f ± %.4f\nacc_norm %.4f ± %.4f\nchance   %.4f (picking at random)", task, r.items, r.acc, r.accStderr,
                         r.accNorm, r.accNormStderr, r.chance))
        }
    }
}

struct EvalCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "KL divergence of --model from --base per token, top-1 agreement, and both perplexities (as llama.cpp's --kl-divergence).",
        discussion: """
            With --base MODEL both models run on the same windows and the divergence is exact over
            the whole vocabulary. With --base-logits FILE (saved by `eval perplexity --save-logits`)
            only the base's top-k log-probabilities are known: the rest of its probability mass is
            one bucket, which gives a lower bound on the divergence.
            """)

    @Option(help: "The base (reference) GGUF model.")
    var base: String?

    @Option(help: "The base's saved top-k log-probabilities instead of the base model.")
    var baseLogits: String?

    @Option(name: [.customShort("m"), .long], help: "The model compared with the base.")
    var model: String

    @OptionGroup var text: EvalTextOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    func validate() throws {
        guard (base == nil) != (baseLogits == nil) else { throw ValidationError("give either --base MODEL or --base-logits FILE") }
    }

    func run() throws {
        let (llama, tokenizer) = try options.load(model)
        let (file, ctx) = (text.file, text.ctx)
        var o: [String: Any] = ["model": model, "text": file]
        if let baseLogits {
            let saved = try TopLogitsFile(path: baseLogits)
            let ids = try text.tokens(tokenizer, limit: saved.tokens.count)
            guard ids == saved.tokens else {
                throw CLIError("\(file) does not tokenize to the \(saved.tokens.count) tokens the logits in \(baseLogits) were saved from")
            }
            let r = try saved.compare(model: llama, ids: ids)
            o.merge(["base_logits": baseLogits, "top_k": saved.k, "mean_kl_lower_bound": r.meanKL, "top1_agreement": r.top1Agreement,
                     "positions": r.positions, "perplexity": r.perplexity, "base_perplexity_lower_bound": r.basePerplexity,
                     "positions_with_next_token_in_top_k": r.nextInTopK]) { $1 }
            if !json {
                print(String(format: "KL(base ‖ model) ≥ %.6f per token (top-%d of the base)\ntop-1 agreement %.2f%%\nperplexity: model %.4f (%d positions)",
                             r.meanKL, saved.k, r.top1Agreement * 100, r.perplexity, r.positions))
                print(String(format: "base perplexity ≥ %.4f: a lower bound, not the base's perplexity. The saved top-%d hold the next token at %.1f%% of positions; "
                             + "elsewhere the whole tail's probability is credited to it. Compare two models on full logits (--base MODEL) for exact figures.",
                             r.basePerplexity, saved.k, Double(r.nextInTopK) / Double(max(r.positions, 1)) * 100))
            }
        } else {
            let (baseModel, baseTokenizer) = try options.load(base!)
            guard baseTokenizer.vocabularySize == tokenizer.vocabularySize else {
                throw CLIError("the two models have different tokenizers: KL divergence compares distributions over the same vocabulary")
            }
            let ids = try text.tokens(tokenizer)
            let bos = tokenizer.addBOS ? tokenizer.bosID : nil
            let r = try Divergence(base: baseModel, model: llama, ctx: ctx, kvCacheType: options.kvType).run(ids, bos: bos) { w, n, kl in
                stderrLine(String(format: "[%d/%d] mean KL %.6f", w, n, kl))
            }
            o.merge(["base": base!, "ctx": ctx, "positions": r.positions, "mean_kl": r.meanKL, "kl_stderr": r.klStandardError,
                     "kl_p99": r.klP99, "kl_max": r.klMax, "top1_agreement": r.top1Agreement,
                     "base_perplexity": r.base.perplexity, "perplexity": r.model.perplexity,
                     "base_perplexity_stderr": r.base.standardError, "perplexity_stderr": r.model.standardError,
                     "perplexity_change_percent": r.perplexityChangePercent.estimate,
                     "perplexity_change_percent_ci95": [r.perplexityChangePercent.low, r.perplexityChangePercent.high],
                     "perplexity_change_significant": r.perplexityChangePercent.significant]) { $1 }
            if !json {
                print(String(format: "KL(base ‖ model) %.6f ± %.6f per token (p99 %.4f, max %.4f)\ntop-1 agreement %.2f%%\nperplexity: base %.4f ± %.4f, model %.4f ± %.4f (%d positions)",
                             r.meanKL, r.klStandardError, r.klP99, r.klMax, r.top1Agreement * 100,
                             r.base.perplexity, r.base.standardError, r.model.perplexity, r.model.standardError, r.positions))
                print("perplexity change " + r.perplexityChangePercent.describe { String(format: "%+.2f%%", $0) }
                      + " (95% interval, paired bootstrap over windows, 2,000 resamples)")
            }
        }
        if json { try printJSON(o) }
    }
}
