import ArgumentParser
import Cost
import Evaluation
import Foundation

struct EvalCascade: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cascade",
        abstract: "A confidence cascade on a multiple-choice task: the student answers, items it is unsure of go to the teacher.",
        discussion: """
            Both models score every item (as `eval choice`, acc). The student's confidence in an item is
            its probability of its own pick among the choices. For each threshold, items below it are
            escalated: the cascade's accuracy takes the teacher's answer there, and its cost is the
            student's compute time on every item plus the teacher's on the escalated ones, measured per
            item on this host (with --instance or --price-per-hour, in dollars). The chosen threshold is
            the cheapest within --within points of the teacher's accuracy, or none. --json writes the
            table for `swiftlet report --cascade FILE`.
            """)

    @Option(help: "The student (small, cheap) GGUF model, which answers first.")
    var student: String

    @Option(help: "The teacher GGUF model, which answers what the student is unsure of.")
    var teacher: String

    @Option(help: "A task file: JSON lines of {\"id\",\"context\",\"choices\",\"gold\"}.")
    var task: String

    @Option(help: "Score only the first N items.")
    var limit: Int?

    @Option(help: "Accuracy points the cascade may lose against the teacher when choosing a threshold.")
    var within: Double = 2

    @Option(help: "The catalogue instance this host is: its price turns compute seconds into dollars.")
    var instance: String?

    @Option(help: "This host's price in $/hour, when it is not in the catalogue.")
    var pricePerHour: Double?

    @Option(help: "A price file laid over the built-in catalogue.")
    var prices: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var options: EvalModelOptions

    func validate() throws {
        if let l = limit, l < 1 { throw ValidationError("--limit must be at least 1") }
        guard within >= 0, within < 100 else { throw ValidationError("--within is in accuracy points, 0…100") }
        if let p = pricePerHour, !(p > 0) { throw ValidationError("--price-per-hour must be positive") }
    }

    func run() throws {
        let host = try PriceCatalogue.load(overrides: prices).hostInstance(name: instance, pricePerHour: pricePerHour)
        let items = try ChoiceItem.load(task, limit: limit)
        func answers(_ path: String, _ role: String) throws -> ChoiceAnswers {
            let (model, tokenizer) = try options.load(path)
            let r = try ChoiceScorer(model: model, tokenizer: tokenizer, kvCacheType: options.kvType).run(items) { done, correct in
                if done % 50 == 0 || done == items.count {
                    stderrLine("\(role) [\(done)/\(items.count)] acc \(String(format: "%.3f", Double(correct) / Double(done)))")
                }
            }
            return r.answers
        }
        let s = try answers(student, "student"), t = try answers(teacher, "teacher")
        let rows = CascadeAnalysis.rows(student: s, teacher: t, thresholds: CascadeAnalysis.thresholds(s))
        let chosen = CascadeAnalysis.choose(rows, teacherAccuracy: t.accuracy, within: within / 100)
        let dollarsPerSecond = host.map { $0.pricePerHour / 3600 }
        let caption = "Measured on this host: \(items.count) items of \(URL(fileURLWithPath: task).lastPathComponent); student "
            + "\(URL(fileURLWithPath: student).lastPathComponent), teacher \(URL(fileURLWithPath: teacher).lastPathComponent); cost = compute seconds "
            + "(student on every item, teacher on escalated ones)"
            + (host.map { " × \($0.name) at $\($0.pricePerHour)/h (\($0.source), \($0.date))" } ?? "; no price given (--instance or --price-per-hour)")
        let chart = CascadeChart(caption: caption, studentAccuracy: s.accuracy, teacherAccuracy: t.accuracy,
                                 studentCostFraction: t.totalSeconds > 0 ? s.totalSeconds / t.totalSeconds : 0,
                                 points: rows.map { CascadeChart.Point(threshold: $0.threshold, accuracy: $0.accuracy, costFraction: $0.costFraction,
                                                                       escalationRate: $0.escalationRate) },
                                 chosenThreshold: chosen?.threshold, withinPoints: within)
        if json {
            struct Output: Encodable {
                var chart: CascadeChart
                var student: ChoiceAnswers, teacher: ChoiceAnswers
                var rows: [CascadeRow]
                var dollarsPerSecond: Double?
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Output(chart: chart, student: s, teacher: t, rows: rows, dollarsPerSecond: dollarsPerSecond)),
                         as: UTF8.self))
            return
        }
        print(Self.markdown(student: s, teacher: t, rows: rows, chosen: chosen, within: within, dollarsPerSecond: dollarsPerSecond,
                            items: items.count, caption: caption))
    }

    static func markdown(student s: ChoiceAnswers, teacher t: ChoiceAnswers, rows: [CascadeRow], chosen: CascadeRow?, within: Double,
                         dollarsPerSecond: Double?, items: Int, caption: String) -> String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        func cost(_ seconds: Double) -> String {
            let per1000 = seconds / Double(max(items, 1)) * 1000
            return dollarsPerSecond.map { String(format: "$%.4f", per1000 * $0) } ?? String(format: "%.1f s", per1000)
        }
        let unit = dollarsPerSecond == nil ? "compute seconds per 1,000 items" : "$ per 1,000 items"
        var lines = [caption + ".", "",
                     "| answered by | threshold | escalated | accuracy | vs teacher (95% CI) | \(unit) | cost ÷ teacher |",
                     "|---|---|---|---|---|---|---|"]
        let teacherSeconds = t.totalSeconds
        lines.append("| student alone | — | 0% | \(pct(s.accuracy)) | \(String(format: "%+.1f", 100 * (s.accuracy - t.accuracy))) points | \(cost(s.totalSeconds)) | \(String(format: "%.2f", teacherSeconds > 0 ? s.totalSeconds / teacherSeconds : 0)) |")
        lines.append("| teacher alone | — | 100% | \(pct(t.accuracy)) | — | \(cost(teacherSeconds)) | 1.00 |")
        // The grid's rows (every 0.1) and the chosen one, not every percentile.
        for r in rows where (r.threshold * 10).rounded() == r.threshold * 10 && r.threshold > 0 && r.threshold < 1 || r.threshold == chosen?.threshold {
            let d = r.againstTeacher
            lines.append("| cascade\(r.threshold == chosen?.threshold ? " (chosen)" : "") | \(String(format: "%.3f", r.threshold)) | \(pct(r.escalationRate)) | \(pct(r.accuracy)) "
                         + "| \(String(format: "%+.1f [%+.1f, %+.1f]", 100 * d.estimate, 100 * d.low, 100 * d.high)) | \(cost(r.seconds)) | \(String(format: "%.2f", r.costFraction)) |")
        }
        lines.append("")
        if let c = chosen {
            lines.append("Chosen: threshold \(String(format: "%.3f", c.threshold)) escalates \(pct(c.escalationRate)) of items, \(pct(c.accuracy)) accurate against the teacher's \(pct(t.accuracy)) "
                         + "(within \(String(format: "%g", within)) points), at \(String(format: "%.0f%%", 100 * c.costFraction)) of the teacher's cost. "
                         + "On \(items) items the accuracy difference has the confidence interval shown: check it on more of your own items before relying on it.")
        } else {
            lines.append("No threshold brings the cascade within \(String(format: "%g", within)) points of the teacher's accuracy (\(pct(t.accuracy))) at less than the teacher's cost on this task.")
        }
        return lines.joined(separator: "\n")
    }
}
