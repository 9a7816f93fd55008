import ArgumentParser
import Cost
import Engine
import Foundation
import GGUF
import Kernels
import Models
import Tokenizer

struct CostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "What a token costs self-hosted on cloud instances, beside managed per-token prices, with the break-even.",
        discussion: """
            Throughput is measured, never guessed: give --bench FILE (the JSON of `swiftlet bench
            --concurrency … -o json`, or of a pp/tg bench) or let this command run the benchmark on
            -m MODEL at the workload's lengths (about a minute). Results taken on other instances
            (their JSON records `host.instance`, from `bench --instance`) replace the estimates for
            those instances. Prices come from the built-in catalogue (`swiftlet cost --list-prices`)
            with --prices FILE laid over it. Instances with no result on their CPU family are left
            out of the table; those whose CPU's memory bandwidth the catalogue has (Graviton) get a
            bandwidth model instead, listed apart as "modelled, not measured" (an upper bound on
            single-stream speed; `swiftlet cost roofline MODEL…` prints it from model files alone).

            Example: swiftlet cost --instance c7g.xlarge --compare nova-micro --requests-per-day 200000
            """,
        subcommands: [DistillCommand.self, RooflineCommand.self])

    @OptionGroup var options: CostOptions

    @Option(help: "table, markdown or json.")
    var format: CostReport.Format = .table

    @Flag(help: "Same as --format json.")
    var json = false

    @Flag(help: "List every CPU instance type of the catalogue (default: this one and the 10 cheapest).")
    var allInstances = false

    @Flag(help: "Print the price catalogue (with --prices applied) as JSON and exit.")
    var listPrices = false

    func run() throws {
        if listPrices {
            let data = try JSONEncoder.pretty.encode(try PriceCatalogue.load(overrides: options.prices))
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let analysis = try options.analysis()
        print(CostReport.render(analysis, format: json ? .json : format, instanceRows: allInstances ? .max : 11), terminator: "")
    }
}

/// The workload, the prices and the throughput source shared by `swiftlet cost` and `swiftlet report`.
struct CostOptions: ParsableArguments {
    @Option(name: .customLong("bench"), help: "A bench result (JSON or JSON lines); repeatable, the first is this host's.")
    var benchFiles: [String] = []

    @Option(name: [.customShort("m"), .long], help: "Model to benchmark when no --bench is given.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "The catalogue instance this host is (its price; measured figures apply to it).")
    var instance: String?

    @Option(help: "This host's price in $/hour, when it is not in the catalogue.")
    var pricePerHour: Double?

    @Option(help: "Managed models to compare, comma-separated (default: every one in the catalogue).")
    var compare: String?

    @Option(help: "Requests per day.")
    var requestsPerDay: Double?

    @Option(help: "Tokens per month (prompt + output); sets the request rate instead of --requests-per-day.")
    var tokensPerMonth: Double?

    @Option(help: "Mean prompt tokens per request.")
    var promptTokens: Double = 512

    @Option(help: "Mean output tokens per request.")
    var outputTokens: Double = 128

    @Option(help: "Share of prompt tokens served from the prefix cache, 0…1.")
    var cachedShare: Double = 0

    @Option(help: "With --cached-share: reads of a cached prefix per write (managed caches bill writes at a premium for some models).")
    var cacheReadsPerWrite: Double = 10

    @Option(help: "Average load ÷ peak load, in (0, 1]: the fleet is sized for the peak.")
    var averageToPeak: Double = 0.5

    @Option(help: "Latency bound: p95 time per output token in milliseconds.")
    var maxTpotMs: Double?

    @Option(help: "Concurrency levels to benchmark when no --bench is given.")
    var concurrency = "1,4,16"

    @Option(name: [.customShort("t"), .long], help: "Compute threads for the benchmark (default: all cores).")
    var threads: Int?

    @Option(help: "A price file laid over the built-in catalogue (same JSON format).")
    var prices: String?

    @Option(help: "Runs of each concurrency level when benchmarking here: the median is used, the range shown, a spread over 20% warned about.")
    var repetitions = 3

    @Option(help: "Instances kept running whatever the load, for availability.")
    var minInstances = 2

    @Option(help: "Fixed monthly costs of self-hosting beyond instances (engineering and operations time), dollars.")
    var fixedMonthly: Double = 0

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard minInstances >= 1 else { throw ValidationError("--min-instances must be at least 1") }
        guard fixedMonthly >= 0 && fixedMonthly.isFinite else { throw ValidationError("--fixed-monthly must be ≥ 0") }
        guard promptTokens >= 0, outputTokens >= 1 else { throw ValidationError("--prompt-tokens must be ≥ 0 and --output-tokens ≥ 1") }
        guard (0...1).contains(cachedShare) else { throw ValidationError("--cached-share must be in 0…1") }
        guard cacheReadsPerWrite >= 1 && cacheReadsPerWrite.isFinite else { throw ValidationError("--cache-reads-per-write must be ≥ 1") }
        guard averageToPeak > 0 && averageToPeak <= 1 else { throw ValidationError("--average-to-peak must be in (0, 1]") }
        if let r = requestsPerDay, !(r > 0 && r.isFinite) { throw ValidationError("--requests-per-day must be > 0") }
        if let t = tokensPerMonth, !(t > 0 && t.isFinite) { throw ValidationError("--tokens-per-month must be > 0") }
        if requestsPerDay != nil && tokensPerMonth != nil { throw ValidationError("give --requests-per-day or --tokens-per-month, not both") }
        if let p = pricePerHour, !(p > 0 && p.isFinite) { throw ValidationError("--price-per-hour must be > 0") }
        if let m = maxTpotMs, !(m > 0) { throw ValidationError("--max-tpot-ms must be > 0") }
        guard Bench.levels(concurrency) != nil else { throw ValidationError("--concurrency takes positive integers separated by commas") }
    }

    /// The catalogue, the measurements (read or taken now) and the workload, analysed.
    func analysis() throws -> CostAnalysis {
        let catalogue = try PriceCatalogue.load(overrides: prices)
        let declared = try catalogue.hostInstance(name: instance, pricePerHour: pricePerHour)
        let compared = try catalogue.managedModels(compare?.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } ?? [])
        let perRequest = promptTokens + outputTokens
        let perDay = requestsPerDay ?? tokensPerMonth.map { $0 / perRequest / (CostModel.hoursPerMonth / 24) } ?? 100_000
        var workload = Workload(requestsPerDay: perDay, promptTokens: promptTokens, outputTokens: outputTokens, cachedShare: cachedShare,
                                averageToPeak: averageToPeak, maxTPOT: maxTpotMs.map { $0 / 1000 })
        workload.cacheReadsPerWrite = cacheReadsPerWrite

        var measurements = try benchFiles.map { (path) throws -> BenchMeasurement in try BenchMeasurement.load(path) }
        if measurements.isEmpty { measurements = [try measure(workload)] }
        var analysis = try CostAnalysis(catalogue: catalogue, measurements: measurements, workload: workload,
                                        declaredInstance: declared, compare: compared,
                                        team: TeamCosts(minInstances: minInstances, fixedMonthly: fixedMonthly))
        if requestsPerDay == nil && tokensPerMonth == nil {
            analysis.assumptions.insert("traffic: 100,000 requests/day (default; set --requests-per-day or --tokens-per-month)", at: 0)
        }
        return analysis
    }

    /// Runs the concurrency benchmark on this host at the workload's uncached prompt and output
    /// lengths (`repetitions` runs per level, alternating levels so that a busy spell touches
    /// each), with progress on stderr.
    private func measure(_ w: Workload) throws -> BenchMeasurement {
        guard FileManager.default.fileExists(atPath: model) else {
            throw CLIError("no --bench result and no model at \(model): run scripts/fetch-model, or give -m MODEL or --bench FILE")
        }
        let gguf = try GGUFFile(path: model)
        let llama = try ModelLoader.load(gguf, backend: .auto, threads: threads)
        let tokenizer = try Tokenizer(gguf: gguf)
        let levels = Bench.levels(concurrency)!
        // The cached share of the prompt is a shared prefix served from the prefix cache: it
        // costs no prefill, but the decode steps attend to it, as they would in production.
        let prompt = max(1, Int(w.uncachedPromptTokens.rounded())), gen = Int(w.outputTokens.rounded())
        let cached = Int(w.cachedPromptTokens.rounded())
        var config = EngineConfiguration()
        config.maxSequences = max(config.maxSequences, levels.max()!)
        config.contextSize = min(llama.config.contextLength, max(2048, cached + prompt + gen + 8))
        guard cached + prompt + gen < config.contextSize! else {
            throw CLIError("prompt + output = \(cached + prompt + gen) tokens exceeds the model's context of \(llama.config.contextLength)")
        }
        let bench = ConcurrencyBenchmark(model: llama, tokenizer: tokenizer, configuration: config)
        var runs: [Int: [Throughput]] = [:]
        for repetition in 1...repetitions {
            for level in levels {
                FileHandle.standardError.write(Data("benchmarking concurrency \(level) (-p \(prompt)\(cached > 0 ? " after a cached prefix of \(cached)" : "") -n \(gen)), run \(repetition) of \(repetitions)…\n".utf8))
                let l = try runBlocking {
                    try await bench.run(concurrency: level, promptTokens: prompt, genTokens: gen, sharedPrefix: cached, prefixCaching: cached > 0, seed: UInt64(repetition))
                }
                // The prefill rate of computed (uncached) tokens: the cost model charges only those.
                runs[level, default: []].append(Throughput(concurrency: level, promptTokensPerSecond: Throughput.computedPromptRate(l.promptTokensPerSecond, cacheHitRate: l.cacheHitRate),
                                                           outputTokensPerSecond: l.genTokensPerSecond, tpotP95: l.tpotP95))
            }
        }
        let results = levels.map { Throughput.median(of: runs[$0]!) }
        let info = BenchReport.ModelInfo(gguf: gguf, model: llama, threads: llama.pool.threadCount, backend: .auto, kvType: config.kvCacheType)
        return BenchMeasurement(host: info.host, model: info.type, promptTokens: prompt, outputTokens: gen,
                                levels: results, origin: "measured now on this host\(cached > 0 ? " with a cached prefix of \(cached) tokens in context" : ""), \(llama.pool.threadCount) threads, median of \(repetitions) run\(repetitions == 1 ? "" : "s") per level",
                                footprint: info.footprint)
    }
}

extension CostReport.Format: ExpressibleByArgument {}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
