import Engine
import Foundation
import GGUF
import LLMBase
import Models
import Tokenizer

/// `swiftlet bench --draft MODEL` / `--prompt-lookup`: speculative decoding against the target
/// alone on real prompts (speculation depends on the text, so random token ids say nothing).
extension Bench {
    /// Used when no --prompt-file is given: code, prose, a fact and an edit of given text.
    static let speculativePrompts: [String] = [
        "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
        "Once upon a time, in a small village by the sea,",
        "The capital of France is",
        "Add type hints to this code.\n\ndef add(a, b):\n    return a + b\n\ndef scale(values, factor):\n    return [v * factor for v in values]\n\nWith type hints:\n\n",
    ]

    struct PromptRecord: Decodable {
        var prompt: String?
        var promptIDs: [Int]?
        enum CodingKeys: String, CodingKey { case prompt, promptIDs = "prompt_ids" }
    }

    /// (label, token ids) of each prompt: the file's, or the built-in ones.
    func speculativePromptIDs(_ tokenizer: Tokenizer) throws -> [(String, [Int])] {
        guard let promptFile else {
            return Self.speculativePrompts.map { ($0, tokenizer.encode($0)) }
        }
        let text: String
        do { text = try String(contentsOfFile: promptFile, encoding: .utf8) } catch {
            throw CLIError("--prompt-file \(promptFile): \(error.localizedDescription)")
        }
        var prompts: [(String, [Int])] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let record = try? JSONDecoder().decode(PromptRecord.self, from: Data(line.utf8)) else {
                throw CLIError("--prompt-file \(promptFile), line \(number + 1): not a JSON object with \"prompt\" or \"prompt_ids\"")
            }
            if let ids = record.promptIDs, !ids.isEmpty {
                prompts.append((record.prompt ?? tokenizer.decode(ids), ids))
            } else if let prompt = record.prompt, !prompt.isEmpty {
                prompts.append((prompt, tokenizer.encode(prompt, parseSpecial: true)))
            } else {
                throw CLIError("--prompt-file \(promptFile), line \(number + 1): no \"prompt\" or \"prompt_ids\"")
            }
        }
        guard !prompts.isEmpty else { throw CLIError("--prompt-file \(promptFile) has no prompts") }
        return prompts
    }

    func runSpeculative(_ llama: any CausalLM, gguf: GGUFFile) throws {
        let tokenizer = try Tokenizer(gguf: gguf)
        guard let source = try speculation.source(backend: backend, threads: threads) else { return }
        let prompts = try speculativePromptIDs(tokenizer)
        let context = min(llama.config.contextLength, (prompts.map(\.1.count).max() ?? 0) + gen + speculation.draftTokens + 1)
        let bench = try SpeculativeBenchmark(target: llama, tokenizer: tokenizer, draft: source, contextSize: context,
                                             speculation: speculation.options, kvCacheType: engineOptions.kvType)
        var results: [SpeculativeBenchmark.PromptResult] = []
        for (label, ids) in prompts {
            for id in ids where id < 0 || id >= llama.config.vocabularySize {
                throw CLIError("prompt \(label.prefix(30).debugDescription): token id \(id) is outside the vocabulary")
            }
            let r = try bench.run(promptIDs: ids, label: label, tokens: gen, repetitions: repetitions)
            FileHandle.standardError.write(Data("\(label.prefix(30).debugDescription): \(BenchReport.fixed(Statistics.median(r.speedups), 2))×\n".utf8))
            results.append(r)
        }
        let draftName: String
        switch source {
        case .model: draftName = "draft model \((speculation.draft.map { URL(fileURLWithPath: $0).lastPathComponent }) ?? "")"
        case .promptLookup(let lo, let hi): draftName = "prompt lookup, n-grams of \(lo)–\(hi) tokens"
        }
        var vocabulary = ""
        if case .model(let draftModel, _) = source, let n = speculation.draftVocabulary.leading(vocabularySize: draftModel.config.vocabularySize) {
            vocabulary = ", scoring its first \(n) token ids, its control tokens and the text's (--draft-vocab)"
        }
        let setup = "\(draftName)\(vocabulary); up to \(speculation.draftTokens) draft tokens per pass, \(speculation.fixedDraft ? "always" : "adaptive")"
        switch output {
        case .md:
            print("""
                Speculative decoding, measured: target \(URL(fileURLWithPath: model).lastPathComponent), \(setup).
                Single stream, greedy, up to \(gen) tokens per prompt; decode tokens/s after the first token (prompt
                processing excluded from both), \(llama.pool.threadCount) threads. Medians (and ranges) of \(repetitions) runs, the target
                alone and with speculation alternating; speed-up is the median (and lowest) of the per-pair ratios.
                Draft ms per token: drafting time ÷ draft tokens; check ms: time per target pass that checked drafts.

                | prompt | prompt tokens | generated | target alone, tok/s | speculative, tok/s | speed-up | draft tokens accepted | tokens per target pass | draft ms per token | check ms | same output |
                |---|---|---|---|---|---|---|---|---|---|---|
                """)
            for r in results {
                func rate(_ xs: [Double]) -> String {
                    "\(BenchReport.fixed(Statistics.median(xs), 1)) (\(BenchReport.fixed(xs.min() ?? 0, 1))–\(BenchReport.fixed(xs.max() ?? 0, 1)))"
                }
                let label = r.label.prefix(32).replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "|", with: "\\|")
                print("| `\(label)` | \(r.promptTokens) | \(r.generatedTokens) | \(rate(r.plainTokensPerSecond)) | \(rate(r.speculativeTokensPerSecond)) "
                      + "| \(BenchReport.fixed(Statistics.median(r.speedups), 2))× (\(BenchReport.fixed(r.speedups.min() ?? 0, 2))×) "
                      + "| \(r.accepted) of \(r.drafted) (\(BenchReport.fixed(100 * r.acceptanceRate, 0))%) | \(BenchReport.fixed(r.tokensPerTargetPass, 2)) "
                      + "| \(BenchReport.fixed(r.draftMillisecondsPerToken, 1)) | \(BenchReport.fixed(r.checkMillisecondsPerPass, 1)) "
                      + "| \(r.identicalOutput ? "yes" : "NO") |")
            }
        case .json, .jsonl:
            let encoder = JSONEncoder()
            encoder.outputFormatting = output == .json ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
            struct Report: Encodable { var target: String; var setup: String; var threads: Int; var results: [SpeculativeBenchmark.PromptResult] }
            let report = Report(target: model, setup: setup, threads: llama.pool.threadCount, results: results)
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        }
        if results.contains(where: { !$0.identicalOutput }) {
            throw CLIError("speculative output differed from the target's alone on some prompt (a bug: please report it)")
        }
    }

    /// `bench --draft MODEL --concurrency 1,2,4`: the engine with speculation against itself
    /// without (`ServedSpeculativeBenchmark`).
    func runServedSpeculative(_ llama: any CausalLM, gguf: GGUFFile, levels: [Int]) throws {
        let tokenizer = try Tokenizer(gguf: gguf)
        guard let source = try speculation.source(backend: backend, threads: threads) else { return }
        let prompts = try speculativePromptIDs(tokenizer).map(\.1)
        var config = try engineOptions.configuration(model: llama)
        config.maxSequences = max(config.maxSequences, levels.max() ?? 1)
        let speculation = EngineSpeculation(draft: source, options: self.speculation.options, maxSequences: draftMaxSeqs ?? config.maxSequences)
        let bench = try ServedSpeculativeBenchmark(target: llama, tokenizer: tokenizer, configuration: config, speculation: speculation)
        var results: [ServedSpeculativeBenchmark.Level] = []
        for level in levels {
            let (gen, repetitions) = (self.gen, self.repetitions)
            let r = try runBlocking { try await bench.run(prompts: prompts, concurrency: level, tokens: gen, repetitions: repetitions) }
            FileHandle.standardError.write(Data("concurrency \(level): \(BenchReport.fixed(Statistics.median(r.speedups), 2))×\n".utf8))
            results.append(r)
        }
        var draftName = "prompt lookup"
        if case .model = source { draftName = "draft model \((self.speculation.draft.map { URL(fileURLWithPath: $0).lastPathComponent }) ?? "")" }
        let setup = "\(draftName); up to \(self.speculation.draftTokens) draft tokens per check, \(self.speculation.fixedDraft ? "always" : "adaptive"), "
            + "speculating while at most \(speculation.maxSequences) sequences decode"
        switch output {
        case .md:
            print("""
                Speculative decoding in the engine (`serve --draft`), measured: target \(URL(fileURLWithPath: model).lastPathComponent), \(setup).
                Greedy requests at once, request i taking prompt i mod \(prompts.count), up to \(gen) tokens each; generated tokens/s over
                the wall time from submission to the last end (prompt processing included), \(llama.pool.threadCount) threads, no prefix
                caching. Medians (and ranges) of \(repetitions) runs, plain and speculative alternating; speed-up is the median (and lowest)
                of the per-pair ratios. Same output: the speculative engine's tokens equal the plain engine's for every request.

                | concurrent requests | tokens generated | plain engine, tok/s | with speculation, tok/s | speed-up | draft tokens accepted | same output |
                |---|---|---|---|---|---|---|
                """)
            for r in results {
                func rate(_ xs: [Double]) -> String {
                    "\(BenchReport.fixed(Statistics.median(xs), 1)) (\(BenchReport.fixed(xs.min() ?? 0, 1))–\(BenchReport.fixed(xs.max() ?? 0, 1)))"
                }
                print("| \(r.concurrency) | \(r.generatedTokens) | \(rate(r.plainTokensPerSecond)) | \(rate(r.speculativeTokensPerSecond)) "
                      + "| \(BenchReport.fixed(Statistics.median(r.speedups), 2))× (\(BenchReport.fixed(r.speedups.min() ?? 0, 2))×) "
                      + "| \(r.accepted) of \(r.drafted) (\(BenchReport.fixed(100 * r.acceptanceRate, 0))%) | \(r.identicalOutput ? "yes" : "no") |")
            }
        case .json, .jsonl:
            let encoder = JSONEncoder()
            encoder.outputFormatting = output == .json ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
            struct Report: Encodable { var target: String; var setup: String; var threads: Int; var levels: [ServedSpeculativeBenchmark.Level] }
            print(String(decoding: try encoder.encode(Report(target: model, setup: setup, threads: llama.pool.threadCount, levels: results)), as: UTF8.self))
        }
    }
}
