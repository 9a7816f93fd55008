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
            Each type is made with `swiftlet quantize` into --work-dir. The base is the most
            precise type of the list (f32 > f16 > q8_0 > q4_1 > q4_0): perplexity change, KL
            divergence and top-1 agreement are measured against it, the two models running side by
            side on the same windows. Speed is llama-bench's pp/tg on this host (one stream);
            $/1M output tokens is the instance price (--instance) over that generation rate,
            scaled by vCPU count from this host. The cheapest type whose perplexity is within
            --budget of the base's is marked. --json writes what `swiftlet report --sweep` reads.
            """)

    @Option(name: [.customShort("m"), .long], help: "The source GGUF model.")
    var model: String

    @Option(help: "Comma-separated quant types.")
    var types = "f32,q8_0,q4_1,q4_0"

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

    @Option(help: "Catalogue instance for $/1M output tokens.")
    var instance = "c7g.xlarge"

    @Option(help: "A price file laid over the built-in catalogue.")
    var prices: String?

    @Option(help: "Accuracy budget: largest perplexity increase over the base, in percent.")
    var budget = 2.0

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    static let precision: [Quantizer.Target] = [.f32, .f16, .q8_0, .q4_1, .q4_0]

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
        var type: Quantizer.Target
        var fileBytes = 0, bitsPerWeight = 0.0, pp = 0.0, tg = 0.0
        var perplexity = 0.0, perplexityStderr = 0.0, kl: Double?, top1: Double?
        var acc: Double?, accNorm: Double?, dollarsPerMillionOutput = 0.0
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
        var ids: [Int] = []   // every type shares the tokenizer: the text is tokenized once

        var rows: [Row] = []
        var baseModel: (any CausalLM)?
        var basePerplexity: PerplexityRun.Result?
        for (i, target) in targets.enumerated() {
            let path = "\(workDir)/\(stem)-\(target.rawValue).gguf"
            stderrLine("[\(i + 1)/\(targets.count)] \(target.rawValue): quantizing to \(path)")
            let report = try Quantizer.quantize(input: model, output: path, to: target)
            let (llama, tokenizer) = try options.load(path)
            var row = Row(type: target)
            row.fileBytes = report.outputBytes
            row.bitsPerWeight = report.bitsPerWeight

            stderrLine("[\(i + 1)/\(targets.count)] \(target.rawValue): speed (pp\(benchPrompt), tg\(benchGen))")
            let bench = ThroughputBenchmark(model: llama, repetitions: 2, kvCacheType: options.kvType)
            row.pp = try bench.promptProcessing(tokens: benchPrompt).medianTokensPerSecond
            row.tg = try bench.generation(tokens: benchGen).medianTokensPerSecond
            let scaled = row.tg * Double(price.vcpus) / Double(max(host.cores, 1))
            row.dollarsPerMillionOutput = CostModel.dollarsPerMillion(pricePerHour: price.pricePerHour, tokensPerSecond: scaled)

            if ids.isEmpty { ids = try text.tokens(tokenizer) }
            // Models that add BOS (Gemma) see it at the start of every window, as in eval perplexity.
            let bos = tokenizer.addBOS ? tokenizer.bosID : nil
            if let base = baseModel {
                stderrLine("[\(i + 1)/\(targets.count)] \(target.rawValue): perplexity and KL divergence against \(targets[0].rawValue) (\(ids.count) tokens)")
                let d = try Divergence(base: base, model: llama, ctx: ctx, kvCacheType: options.kvType).run(ids, bos: bos)
                row.perplexity = d.model.perplexity
                row.perplexityStderr = d.model.standardError
                row.kl = d.meanKL
                row.top1 = d.top1Agreement
            } else {
                stderrLine("[\(i + 1)/\(targets.count)] \(target.rawValue): perplexity (\(ids.count) tokens; the base)")
                let p = try PerplexityRun(model: llama, ctx: ctx, kvCacheType: options.kvType).run(ids, bos: bos)
                row.perplexity = p.perplexity
                row.perplexityStderr = p.standardError
                row.kl = 0
                row.top1 = 1
                baseModel = llama
                basePerplexity = p
            }
            if let items {
                stderrLine("[\(i + 1)/\(targets.count)] \(target.rawValue): \(items.count) task items")
                let r = try ChoiceScorer(model: llama, tokenizer: tokenizer, kvCacheType: options.kvType).run(items)
                row.acc = r.acc
                row.accNorm = r.accNorm
            }
            rows.append(row)
        }
        let basePPL = basePerplexity!.perplexity
        let withinBudget = rows.filter { ($0.perplexity / basePPL - 1) * 100 <= budget }
        let pick = withinBudget.min { $0.dollarsPerMillionOutput < $1.dollarsPerMillionOutput }?.type
        if json {
            let o: [String: Any] = [
                "model": model, "text": file, "ctx": ctx, "task": task ?? NSNull(), "base": targets[0].rawValue,
                "instance": price.name, "instance_price_per_hour": price.pricePerHour, "budget_percent": budget,
                "recommended": pick?.rawValue ?? NSNull(),
                "host": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(host))) ?? NSNull(),
                "rows": rows.map { r -> [String: Any] in
                    ["type": r.type.rawValue, "file_size_bytes": r.fileBytes, "bits_per_weight": r.bitsPerWeight,
                     "pp_tokens_per_second": r.pp, "tg_tokens_per_second": r.tg,
                     "perplexity": r.perplexity, "perplexity_stderr": r.perplexityStderr,
                     "perplexity_change_percent": (r.perplexity / basePPL - 1) * 100,
                     "kl_divergence": r.kl ?? NSNull(), "top1_agreement": r.top1 ?? NSNull(),
                     "accuracy": r.acc ?? NSNull(), "accuracy_norm": r.accNorm ?? NSNull(),
                     "dollars_per_million_output": r.dollarsPerMillionOutput]
                },
            ]
            try printJSON(o)
            return
        }
        func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
        var lines = ["| type | size MiB | bits/weight | pp t/s | tg t/s | perplexity | Δ vs \(targets[0].rawValue) | KL vs \(targets[0].rawValue) | top-1 agree | acc | acc_norm | $/1M out (\(price.name)) |",
                     "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows {
            lines.append("| \(r.type.rawValue)\(r.type == pick ? " *" : "") | \(f(Double(r.fileBytes) / 1_048_576, 1)) | \(f(r.bitsPerWeight, 2)) | \(f(r.pp, 0)) | \(f(r.tg, 0)) | \(f(r.perplexity, 3)) ± \(f(r.perplexityStderr, 3)) | \(f(abs(r.perplexity / basePPL - 1) < 5e-5 ? 0 : (r.perplexity / basePPL - 1) * 100, 2))% | \(r.kl.map { f($0, 5) } ?? "—") | \(r.top1.map { f($0 * 100, 2) + "%" } ?? "—") | \(r.acc.map { f($0, 3) } ?? "—") | \(r.accNorm.map { f($0, 3) } ?? "—") | $\(f(r.dollarsPerMillionOutput, 3)) |")
        }
        print(lines.joined(separator: "\n"))
        print("""

            * the cheapest type within \(f(budget, 1))% of \(targets[0].rawValue)'s perplexity.
            Text: \(file)\(limit.map { " (first \($0) tokens)" } ?? ""), windows of \(ctx). \(task.map { "Task: \($0)\(taskLimit.map { " (first \($0) items)" } ?? ""). " } ?? "")Speed: pp\(benchPrompt)/tg\(benchGen), one stream, this host (\(host.cores) cores). $/1M output: \(price.name) at $\(price.pricePerHour)/h (\(price.date)), one stream's generation rate scaled by \(price.vcpus)/\(host.cores) vCPUs, busy all the time (an estimate; batching lowers it: see swiftlet cost).
            """)
    }
}
