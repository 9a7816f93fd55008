import ArgumentParser
import Engine
import Foundation
import GGUF
import Kernels
import Models

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt-processing and generation throughput, in the manner of llama-bench.",
        discussion: """
            Reports tokens/s as mean ± sample standard deviation over the repetitions (and the median),
            after one warm-up run. Tokenization and sampling are excluded; token ids are random.
            --output json/jsonl use llama-bench's field names.
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

    func validate() throws {
        guard prompt >= 0, gen >= 0, prompt + gen > 0 else { throw ValidationError("-p and -n must be ≥ 0, and not both 0") }
        guard repetitions >= 1 else { throw ValidationError("-r must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if backend == .blas && !MatmulContext.blasAvailable {
            throw ValidationError("--backend blas: this build has no OpenBLAS (built with --disable-default-traits)")
        }
    }

    func run() throws {
        let gguf = try GGUFFile(path: model)
        let llama = try LlamaModel(gguf: gguf, backend: backend, threads: threads)
        for (n, flag) in [(prompt, "-p"), (gen, "-n")] where n > llama.config.contextLength {
            throw CLIError("\(flag) \(n) exceeds the model's context of \(llama.config.contextLength) tokens")
        }
        let bench = ThroughputBenchmark(model: llama, repetitions: repetitions)
        var results: [ThroughputBenchmark.Result] = []
        if prompt > 0 { results.append(try bench.promptProcessing(tokens: prompt)) }
        if gen > 0 { results.append(try bench.generation(tokens: gen)) }

        let info = BenchReport.ModelInfo(gguf: gguf, model: llama, threads: llama.pool.threadCount, backend: backend)
        switch output {
        case .md: print(BenchReport.markdown(results, info), terminator: "")
        case .json: print(BenchReport.json(results, info, lines: false))
        case .jsonl: print(BenchReport.json(results, info, lines: true), terminator: "")
        }
    }
}

enum BenchOutput: String, ExpressibleByArgument, CaseIterable { case md, json, jsonl }
