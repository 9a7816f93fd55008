import ArgumentParser
import Cost
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page: throughput, $/1M tokens by instance, monthly cost against volume, break-even.",
        discussion: """
            Takes the same workload, price and benchmark options as `swiftlet cost` (it runs the
            benchmark itself without --bench). Charts are inline SVG; the page loads nothing else.
            --sweep FILE adds accuracy against cost by quantization type (the JSON of `swiftlet eval sweep`).
            --cascade FILE adds a confidence cascade's accuracy against cost (the JSON of `swiftlet eval cascade`);
            with --one-time, its escalation rate also enters the distillation payback.
            With --one-time and the teacher and student options of `swiftlet cost distill`, a
            "Distillation payback" section (traffic: --tokens-per-day, else the workload's tokens).
            """)

    @OptionGroup var options: CostOptions

    @OptionGroup(title: "Distillation payback (optional)") var distill: DistillOptions

    @Option(name: [.customShort("o"), .long], help: "The HTML file to write.")
    var output = "swiftlet-report.html"

    @Option(help: "A quantization sweep (JSON from `swiftlet eval sweep --json`).")
    var sweep: String?

    func validate() throws {
        if distill.oneTime != nil { try distill.check() }
    }

    func run() throws {
        let analysis = try options.analysis()
        var distillation: (DistillationEconomics, [(String, String)])?
        if distill.oneTime != nil {
            let w = analysis.workload
            let perMonth = distill.tokensPerDay.map { $0 * DistillationEconomics.daysPerMonth } ?? w.requestsPerMonth * w.tokensPerRequest
            distillation = try distill.economics(tokensPerMonth: perMonth, catalogue: try PriceCatalogue.load(overrides: options.prices))
        }
        var points: [QuantPoint] = []
        var budget = 2.0
        var recommended: String?
        var caption: String?
        if let sweep {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: sweep))
                let file = try JSONDecoder().decode(SweepFile.self, from: data)
                points = file.points
                budget = file.budget_percent ?? 2
                recommended = file.recommended
                caption = file.caption(path: sweep)
            } catch {
                throw CLIError("cannot read the sweep \(sweep): \(error.localizedDescription)")
            }
        }
        var cascadeChart: CascadeChart?
        // One option for both: the distillation payback reads the same file's escalation rate.
        if let cascade = distill.cascade {
            struct CascadeFile: Decodable { var chart: CascadeChart }
            cascadeChart = try readCascade(cascade, as: CascadeFile.self).chart
        }
        let html = HTMLReport.render(analysis, sweep: points, budgetPercent: budget, recommended: recommended, sweepCaption: caption,
                                     distillation: distillation?.0, distillationInputs: distillation?.1.map { "\($0.0): \($0.1)" } ?? [],
                                     cascade: cascadeChart)
        do { try Data(html.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        FileHandle.standardError.write(Data("wrote \(output) (\(html.utf8.count) bytes)\n".utf8))
    }
}

/// The part of `swiftlet eval sweep --json` the report reads.
struct SweepFile: Decodable {
    struct Row: Decodable {
        let label: String?
        let type: String
        let perplexity: Double
        let accuracy: Double?
        let dollars_per_million_output: Double?
    }
    struct Source: Decodable { let path: String; let type: String }
    let rows: [Row]
    let budget_percent: Double?
    let recommended: String?
    let source: Source?
    let text: String?
    let task: String?
    let deltas_measure: String?
    let speed_basis: String?

    var points: [QuantPoint] {
        rows.compactMap { r in
            r.dollars_per_million_output.map { QuantPoint(type: r.label ?? r.type, perplexity: r.perplexity, accuracy: r.accuracy, dollarsPerMillionOutput: $0) }
        }
    }

    /// What the sweep chart shows: the source, the text and task, and what its dollars are.
    func caption(path: String) -> String {
        var parts = ["From \(path)"]
        if let source { parts.append("source \(source.path) (\(source.type))" + (deltas_measure.map { ": " + $0 } ?? "")) }
        if let text { parts.append("perplexity on \(text)") }
        if let task { parts.append("accuracy on \(task)") }
        parts.append("$ per 1M output tokens: \(speed_basis ?? "single stream") generation on one instance, busy all the time (an estimate from this host), not the batched figures above")
        return parts.joined(separator: ". ") + "."
    }
}
