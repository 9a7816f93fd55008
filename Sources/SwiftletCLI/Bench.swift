import ArgumentParser
import Cost
import Engine
import Foundation
import GGUF
import Kernels
import Models
import Tokenizer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt-processing and generation throughput, in the manner of llama-bench.",
        discussion: """
            Reports tokens/s as mean ± sample standard deviation over the repetitions (and the median),
            after one warm-up run. Tokenization and sampling are excluded; token ids are random.
            --output json/jsonl use llama-bench's field names.

            With --draft MODEL or --prompt-lookup it instead compares speculative decoding with the
            target alone on real prompts (--prompt-file, or four built-in ones), greedy, -n tokens
            each, -r alternating runs: decode tokens/s, speed-up, acceptance, and whether the
            output was the target's own.

            With both, it compares the engine with speculation (as `serve --draft` runs it) with the
            same engine without: that many greedy requests at once over the prompts, generated
            tokens/s over the wall time (prompts included), speed-up, acceptance.

            With --concurrency 1,4,8,… it instead runs that many requests at once through the
            continuous-batching engine (as llama-batched-bench does) and reports aggregate
            generation and prompt tokens/s, time to first token and time per output token
            (p50/p95); --shared-prefix N gives every prompt the same N-token prefix and compares
            time to first token with and without prefix caching.

            Every JSON result records the host (CPU, cores, SIMD features, memory, and the cloud
            instance type given by --instance): `swiftlet cost --bench FILE` reads it.
            """)

    @Option(name: [.customShort("m"), .long], help: "Path to the GGUF model.")
    var model: String

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens per pp test (0 skips it).")
    var prompt: Int = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens per tg test (0 skips it).")
    var gen: Int = 128

    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed repetitions of each test.")
    var repetitions: Int = 5

    @Option(name: [.customShort("t"), .long], help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Matmul path: auto, simd, blas, reference.")
    var backend: MatmulBackend = .auto

    @Option(name: [.customShort("o"), .long], help: "Output format: md, json or jsonl.")
    var output: BenchOutput = .md

    @Option(help: "Comma-separated numbers of concurrent requests, e.g. 1,4,8,16,32 (runs the engine benchmark).")
    var concurrency: String?

    @Option(help: "Tokens of prompt prefix shared by every request of a concurrency level.")
    var sharedPrefix: Int = 0

    @Option(help: "The cloud instance type this host is (recorded as host.instance for `swiftlet cost`).")
    var instance: String?

    @OptionGroup var engineOptions: EngineOptions

    @OptionGroup(title: "Speculative decoding (with --draft or --prompt-lookup, compares it with the target alone)")
    var speculation: SpeculationArguments

    @Option(help: "With --draft and --concurrency: speculate only while at most this many sequences decode (default: every level's all).")
    var draftMaxSeqs: Int?

    @Option(help: "Prompts for the speculative comparison: JSON lines with \"prompt\" (text) or \"prompt_ids\" (default: four built-in prompts).")
    var promptFile: String?

    func validate() throws {
        if let list = concurrency {
            guard let levels = Self.levels(list), !levels.isEmpty else {
                throw ValidationError("--concurrency takes positive integers separated by commas, got '\(list)'")
            }
        }
        guard sharedPrefix >= 0 else { throw ValidationError("--shared-prefix must be ≥ 0") }
        guard prompt >= 0, gen >= 0, prompt + gen > 0 else { throw ValidationError("-p and -n must be ≥ 0, and not both 0") }
        guard repetitions >= 1 else { throw ValidationError("-r must be at least 1") }
        if speculation.isActive {
            guard sharedPrefix == 0 else { throw ValidationError("--shared-prefix is for the engine benchmark without a draft") }
            guard gen >= 1 else { throw ValidationError("the speculative comparison needs -n ≥ 1") }
        } else if promptFile != nil {
            throw ValidationError("--prompt-file is for the speculative comparison (--draft or --prompt-lookup)")
        }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if backend == .blas && !MatmulContext.blasAvailable {
            throw ValidationError("--backend blas: this build has no OpenBLAS (built with --disable-default-traits)")
        }
    }

    func run() throws {
        let gguf = try GGUFFile(path: model)
        let llama = try ModelLoader.load(gguf, backend: backend, threads: threads)
        for (n, flag) in [(prompt, "-p"), (gen, "-n")] where n > llama.config.contextLength {
            throw CLIError("\(flag) \(n) exceeds the model's context of \(llama.config.contextLength) tokens")
        }
        if let list = concurrency, let levels = Self.levels(list) {
            if speculation.isActive {
                try runServedSpeculative(llama, gguf: gguf, levels: levels)
            } else {
                try runConcurrency(llama, gguf: gguf, levels: levels)
            }
            return
        }
        if speculation.isActive {
            try runSpeculative(llama, gguf: gguf)
            return
        }
        let bench = ThroughputBenchmark(model: llama, repetitions: repetitions, kvCacheType: engineOptions.kvType)
        var results: [ThroughputBenchmark.Result] = []
        if prompt > 0 { results.append(try bench.promptProcessing(tokens: prompt)) }
        if gen > 0 { results.append(try bench.generation(tokens: gen)) }

        var info = BenchReport.ModelInfo(gguf: gguf, model: llama, threads: llama.pool.threadCount, backend: backend, kvType: engineOptions.kvType)
        info.host.instance = instance
        switch output {
        case .md: print(BenchReport.markdown(results, info), terminator: "")
        case .json: print(BenchReport.json(results, info, lines: false))
        case .jsonl: print(BenchReport.json(results, info, lines: true), terminator: "")
        }
    }
}

extension Bench {
    static func levels(_ list: String) -> [Int]? {
        let parts = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        return parts.compactMap { $0 }
    }

    func runConcurrency(_ llama: any CausalLM, gguf: GGUFFile, levels: [Int]) throws {
        let tokenizer = try Tokenizer(gguf: gguf)
        var config = try engineOptions.configuration(model: llama)
        config.maxSequences = max(config.maxSequences, levels.max() ?? 1)
        let needed = sharedPrefix + prompt + gen
        guard needed <= (config.contextSize ?? llama.config.contextLength) else {
            throw CLIError("--shared-prefix + -p + -n = \(needed) tokens exceeds the context of \(config.contextSize ?? llama.config.contextLength)")
        }
        let bench = ConcurrencyBenchmark(model: llama, tokenizer: tokenizer, configuration: config)
        var rows: [ConcurrencyReport.Row] = []
        for level in levels {
            let (prompt, gen, sharedPrefix) = (self.prompt, self.gen, self.sharedPrefix)
            func measure(caching: Bool) throws -> ConcurrencyBenchmark.Level {
                let runs = try (0..<repetitions).map { rep in
                    try runBlocking {
                        try await bench.run(concurrency: level, promptTokens: prompt, genTokens: gen, sharedPrefix: sharedPrefix,
                                            prefixCaching: caching, seed: UInt64(rep + 1))
                    }
                }
                return ConcurrencyReport.median(runs)
            }
            let cached = try measure(caching: config.prefixCaching)
            let uncached = sharedPrefix > 0 ? try measure(caching: false) : nil
            rows.append(ConcurrencyReport.Row(cached: cached, uncached: uncached))
            if output == .md {
                FileHandle.standardError.write(Data("concurrency \(level): \(BenchReport.fixed(cached.genTokensPerSecond, 1)) gen t/s\n".utf8))
            }
        }
        var info = BenchReport.ModelInfo(gguf: gguf, model: llama, threads: llama.pool.threadCount, backend: backend, kvType: engineOptions.kvType)
        info.host.instance = instance
        switch output {
        case .md: print(ConcurrencyReport.markdown(rows, info), terminator: "")
        case .json: print(ConcurrencyReport.json(rows, info, lines: false))
        case .jsonl: print(ConcurrencyReport.json(rows, info, lines: true), terminator: "")
        }
    }
}

enum BenchOutput: String, ExpressibleByArgument, CaseIterable { case md, json, jsonl }
