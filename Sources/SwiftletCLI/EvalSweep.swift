import ArgumentParser
import Cost
import Engine
import Evaluation
import Foundation
import GGUF
import Kernels
import Models
import Tokenizer

struct EvalSweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Quantize a model to each type and compare them: size, speed, perplexity, KL divergence, task accuracy, $/1M output tokens.",
        discussion: """
            The source is the file given with -m, named in every output: give the highest-precision
            GGUF you have (F32, F16 or BF16), or the deltas measure re-quantizing an already
            quantized file, and the report says so. The base of every comparison is the source on
            the exact path (F32 activations, --backend blas); a second row runs the source on the
            fast path (8-bit activations), so the runtime's own activation error is told apart
            from the weights'. Each type is then made from the source with `swiftlet quantize`
            into --work-dir. Perplexity change and accuracy difference carry 95% paired bootstrap
            intervals ("not significant" when they hold 0); accuracy is shown beside chance.
            Speed is pp/tg on this host, one stream; $/1M output tokens is the instance price
            (--instance) over that single-stream generation rate, scaled by vCPU count from this
            host (an estimate; batching lowers it: see swiftlet cost). The cheapest type whose
            perplexity is within --budget of the base's is marked. --json writes what
            `swiftlet report --sweep` reads.
            """)

    @Option(name: [.customShort("m"), .long], help: "The source GGUF model.")
    var model: String

    @Option(help: "Comma-separated quant types to make from the source.")
    var types = "q8_0,q4_1,q4_0"

    @OptionGroup var text: EvalTextOptions

    @Option(help: "A multiple-choice task file (JSON lines).")
    var task: String?

    @Option(help: "Score only the first N task items.")
    var taskLimit: Int?

    @Option(help: "Where the quantized files go (kept, reused if present).")
    var workDir = "/tmp/swiftlet-sweep"

    @Option(help: "Prompt tokens of the speed test.")
    var benchPrompt = 128

    @Option(help: "Generated tokens of the speed test.")
    var benchGen = 64

    @Option(help: "Catalogue instance for $/1M output tokens (best of this host's CPU family).")
    var instance = "c7a.large"

    @Option(help: "A price file laid over the built-in catalogue.")
    var prices: String?

    @Option(help: "Accuracy budget: largest perplexity increase over the base, in percent.")
    var budget = 2.0

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    /// Every target, most bits first (the order rows are reported in).
    static let precision: [Quantizer.Target] = [
        .f32, .f16, .q8_0, .q6_k, .q5_k_m, .q5_k, .q5_1, .q5_0, .q4_k_m, .q4_k, .q4_1, .q4_0, .q3_k_m, .q2_k,
    ]

    func validate() throws {
        guard parsedTypes != nil else { throw ValidationError("--types takes a comma list of \(Quantizer.Target.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard benchPrompt >= 1, benchGen >= 2, budget >= 0 else { throw ValidationError("--bench-prompt ≥ 1, --bench-gen ≥ 2, --budget ≥ 0") }
        if let l = taskLimit, l < 1 { throw ValidationError("--task-limit must be at least 1") }
    }

    var parsedTypes: [Quantizer.Target]? {
        let list = types.split(separator: ",").map { Quantizer.Target(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else { return nil }
        return Array(Set(list.compactMap { $0 })).sorted { Self.precision.firstIndex(of: $0)! < Self.precision.firstIndex(of: $1)! }
    }

    struct Row {
        /// "source, exact", "source, auto", or the type made from the source.
        var label: String
        var type: String
        var fileBytes = 0, bitsPerWeight = 0.0, pp = 0.0, tg = 0.0
        var perplexity = 0.0, perplexityStderr = 0.0, kl: Double?, klStderr: Double?, top1: Double?
        var perplexityChange: DifferenceInterval?
        var acc: Double?, accStderr: Double?, accNorm: Double?, accDifference: DifferenceInterval?
        var dollarsPerMillionOutput = 0.0
        var note: String?
    }

    func run() throws {
        let targets = parsedTypes!
        let catalogue = try PriceCatalogue.load(overrides: prices)
        let price = try catalogue.hostInstance(name: instance, pricePerHour: nil)!
        let host = HostInfo.current()
        let items = try task.map { try ChoiceItem.load($0, limit: taskLimit) }
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let stem = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        let (file, ctx, limit) = (text.file, text.ctx, text.limit)
        guard let source = Quantizer.mainWeightType(try GGUFFile(path: model)) else { throw CLIError("\(model) holds no 2-D weights") }
        let sourceType = "\(source.type)".lowercased()
        let sourceBytes = (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0
        let measures = source.fullPrecision
            ? "The source is full precision (\(sourceType)): each type's deltas measure quantizing its weights from it, plus the runtime's 8-bit activations, whose share alone is the 'source, auto' row."
            : "The source is already quantized (\(sourceType)): the deltas measure re-quantizing a \(sourceType) file plus the runtime's 8-bit activations, NOT quantization from full precision (the source's own error is invisible here). For a weight-quantization study, sweep from an F16, BF16 or F32 GGUF of the same model."

        var ids: [Int] = []   // every row shares the tokenizer: the text is tokenized once
        var exactModel: (any CausalLM)?
        var baseCorrect: [Bool]?
        var chance: Double?
        var rows: [Row] = []
        // The runs: the source exact and fast, then each type made from it.
        var runs: [(label: String, type: String, path: String, backend: MatmulBackend, report: Quantizer.Report?, note: String?)] = [
            ("source, exact", sourceType, model, .blas, nil, "F32 activations (--backend blas): the base"),
            ("source, auto", sourceType, model, .auto, nil, "the runtime's fast path: 8-bit activations"),
        ]
        for target in targets {
            if target.rawValue == sourceType {
                stderrLine("\(target.rawValue): the source's own type; its row is 'source, auto'")
                continue
            }
            let path = "\(workDir)/\(stem)-\(target.rawValue).gguf"
            stderrLine("\(target.rawValue): quantizing the source to \(path)")
            let report = try Quantizer.quantize(input: model, output: path, to: target)
            let finer = !source.fullPrecision && Self.precision.firstIndex(of: target)! < (Self.precision.firstIndex { $0.rawValue == sourceType } ?? Self.precision.count)
            runs.append((target.rawValue, target.rawValue, path, options.backend, report,
                         finer ? "more bits than the \(sourceType) source: it cannot add back precision the source lost" : nil))
        }
        for (i, run) in runs.enumerated() {
            let step = "[\(i + 1)/\(runs.count)] \(run.label)"
            let gguf = try GGUFFile(path: run.path)
            let llama = try ModelLoader.load(gguf, backend: run.backend, threads: options.threads)
            let tokenizer = try Tokenizer(gguf: gguf)
            var row = Row(label: run.label, type: run.type, note: run.note)
            row.fileBytes = run.report?.outputBytes ?? sourceBytes
            row.bitsPerWeight = run.report?.bitsPerWeight ?? source.bitsPerWeight

            stderrLine("\(step): speed (pp\(benchPrompt), tg\(benchGen))")
            let bench = ThroughputBenchmark(model: llama, repetitions: 2, kvCacheType: options.kvType)
            row.pp = try bench.promptProcessing(tokens: benchPrompt).medianTokensPerSecond
            row.tg = try bench.generation(tokens: benchGen).medianTokensPerSecond
            let scaled = row.tg * Double(price.vcpus) / Double(max(host.cores, 1))
            row.dollarsPerMillionOutput = CostModel.dollarsPerMillion(pricePerHour: price.pricePerHour, tokensPerSecond: scaled)

            if ids.isEmpty { ids = try text.tokens(tokenizer) }
            // Models that add BOS (Gemma) see it at the start of every window, as in eval perplexity.
            let bos = tokenizer.addBOS ? tokenizer.bosID : nil
            if let base = exactModel {
                stderrLine("\(step): perplexity and KL divergence against the source, exact (\(ids.count) tokens)")
                let d = try Divergence(base: base, model: llama, ctx: ctx, kvCacheType: options.kvType).run(ids, bos: bos)
                row.perplexity = d.model.perplexity
                row.perplexityStderr = d.model.standardError
                row.kl = d.meanKL
                row.klStderr = d.klStandardError
                row.top1 = d.top1Agreement
                row.perplexityChange = d.perplexityChangePercent
            } else {
                stderrLine("\(step): perplexity (\(ids.count) tokens; the base)")
                let p = try PerplexityRun(model: llama, ctx: ctx, kvCacheType: options.kvType).run(ids, bos: bos)
                row.perplexity = p.perplexity
                row.perplexityStderr = p.standardError
                exactModel = llama
            }
            if let items {
                stderrLine("\(step): \(items.count) task items")
                let r = try ChoiceScorer(model: llama, tokenizer: tokenizer, kvCacheType: options.kvType).run(items)
                row.acc = r.acc
                row.accStderr = r.accStderr
                row.accNorm = r.accNorm
                chance = r.chance
                if let baseCorrect { row.accDifference = PairedBootstrap.accuracyDifference(model: r.correct, base: baseCorrect) } else { baseCorrect = r.correct }
            }
            rows.append(row)
        }
        let basePPL = rows[0].perplexity
        let candidates = rows.dropFirst().filter { ($0.perplexity / basePPL - 1) * 100 <= budget }
        let pick = candidates.min { $0.dollarsPerMillionOutput < $1.dollarsPerMillionOutput }?.label
        let familyWarning = HostInfo.cpuFamily(price.cpu) == HostInfo.cpuFamily(host.cpu) ? ""
            : " WARNING: \(price.name) is \(price.cpu) (\(price.architecture)) and this host is \(host.cpu) (\(host.architecture)): the $ figure assumes equal per-vCPU speed, which nothing here measured; pick an instance of this host's family."
        let speedNote = "Speed: pp\(benchPrompt)/tg\(benchGen), single stream, this host (\(host.cores) cores). $/1M output: \(price.name) at $\(price.pricePerHour)/h (\(price.date)), the single-stream generation rate scaled by \(price.vcpus)/\(host.cores) vCPUs, busy all the time — an estimate; batching lowers it (swiftlet cost).\(familyWarning)"
        if json {
            let o: [String: Any] = [
                "model": model, "source": ["path": model, "type": sourceType, "full_precision": source.fullPrecision],
                "deltas_measure": measures, "text": file, "ctx": ctx, "task": task ?? NSNull(), "chance": chance ?? NSNull(),
                "base": rows[0].label, "instance": price.name, "instance_price_per_hour": price.pricePerHour, "budget_percent": budget,
                "recommended": pick ?? NSNull(), "speed_basis": "single stream", "speed_note": speedNote,
                "host": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(host))) ?? NSNull(),
                "rows": rows.map { r -> [String: Any] in
                    ["label": r.label, "type": r.type, "file_size_bytes": r.fileBytes, "bits_per_weight": r.bitsPerWeight,
                     "pp_tokens_per_second": r.pp, "tg_tokens_per_second": r.tg,
                     "perplexity": r.perplexity, "perplexity_stderr": r.perplexityStderr,
                     "perplexity_change_percent": (r.perplexity / basePPL - 1) * 100,
                     "perplexity_change_percent_ci95": r.perplexityChange.map { [$0.low, $0.high] as Any } ?? NSNull(),
                     "perplexity_change_significant": r.perplexityChange.map { $0.significant as Any } ?? NSNull(),
                     "kl_divergence": r.kl ?? 0, "kl_divergence_stderr": r.klStderr ?? 0, "top1_agreement": r.top1 ?? 1,
                     "accuracy": r.acc ?? NSNull(), "accuracy_stderr": r.accStderr ?? NSNull(), "accuracy_norm": r.accNorm ?? NSNull(),
                     "accuracy_difference": r.accDifference.map { $0.estimate as Any } ?? NSNull(),
                     "accuracy_difference_ci95": r.accDifference.map { [$0.low, $0.high] as Any } ?? NSNull(),
                     "accuracy_difference_significant": r.accDifference.map { $0.significant as Any } ?? NSNull(),
                     "dollars_per_million_output": r.dollarsPerMillionOutput, "note": r.note ?? NSNull()]
                },
            ]
            try printJSON(o)
            return
        }
        func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
        print("Source: \(model) (\(sourceType)). \(measures)\n")
        var lines = ["| row | size MiB | bits/weight | pp t/s | tg t/s | perplexity | Δ perplexity vs exact [95%] | KL vs exact | top-1 agree | acc | Δacc vs exact [95%] | $/1M out (\(price.name)) |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows {
            let change = r.perplexityChange.map { $0.describe { String(format: "%+.2f%%", $0) } } ?? "(base)"
            let kl = r.kl.map { "\(f($0, 5)) ± \(f(r.klStderr ?? 0, 5))" } ?? "—"
            let acc = r.acc.map { "\(f($0, 3)) ± \(f(r.accStderr ?? 0, 3))" } ?? "—"
            let dacc = r.accDifference.map { $0.describe { String(format: "%+.3f", $0) } } ?? (r.acc == nil ? "—" : "(base)")
            lines.append("| \(r.label)\(r.label == pick ? " *" : "") | \(f(Double(r.fileBytes) / 1_048_576, 1)) | \(f(r.bitsPerWeight, 2)) | \(f(r.pp, 0)) | \(f(r.tg, 0)) | \(f(r.perplexity, 3)) ± \(f(r.perplexityStderr, 3)) | \(change) | \(kl) | \(r.top1.map { f($0 * 100, 2) + "%" } ?? "—") | \(acc) | \(dacc) | $\(f(r.dollarsPerMillionOutput, 3)) |")
        }
        print(lines.joined(separator: "\n"))
        print("")
        for r in rows { if let note = r.note { print("\(r.label): \(note).") } }
        print("""
            * the cheapest row within \(f(budget, 1))% of the exact source's perplexity.
            Text: \(file)\(limit.map { " (first \($0) tokens)" } ?? ""), windows of \(ctx). \(task.map { "Task: \($0)\(taskLimit.map { " (first \($0) items)" } ?? "")\(chance.map { "; chance \(f($0, 3))" } ?? ""). " } ?? "")Intervals: 95%, paired bootstrap (2,000 resamples; tokens in blocks of a window), against the exact source on the same tokens and items; "not significant" when they hold 0.
            \(speedNote)
            """)
    }
}
