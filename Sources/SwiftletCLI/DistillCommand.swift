import ArgumentParser
import Cost
import Foundation

/// `swiftlet cost distill`: what moving traffic from a teacher to a distilled student saves, and
/// when the distillation pays for itself. Every input is printed beside the figure it produces.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Distillation payback: the teacher's bill, the student's, the monthly saving and the payback period.",
        discussion: """
            The teacher's bill: --teacher-monthly DOLLARS, --teacher-price $/1M tokens, or --teacher
            NAME (a managed model of the catalogue, with --prompt-share of the tokens billed as
            input). The student's: --student-fraction F of the teacher's price, --student-price
            $/1M tokens, or --student-monthly DOLLARS. Traffic: --tokens-per-day, or `cost`'s
            --tokens-per-month. Months are 730 hours (30.42 days).

            The seeds' example (30M tokens a day, about $18,000 a month, a student at one fifth of
            the rate, $9,000 to distil):
              swiftlet cost distill --tokens-per-day 30000000 --teacher-monthly 18000 \\
                                    --student-fraction 0.2 --one-time 9000
            """)

    @OptionGroup var distill: DistillOptions

    /// `cost`'s own --tokens-per-month, --prices and --json apply here too (one option, one meaning).
    @ParentCommand var cost: CostCommand

    func validate() throws {
        guard distill.oneTime != nil else { throw ValidationError("--one-time is required: the distillation's one-time cost in dollars") }
        guard (distill.tokensPerDay == nil) != (cost.options.tokensPerMonth == nil) else { throw ValidationError("give one of --tokens-per-day and --tokens-per-month") }
        try distill.check()
    }

    func run() throws {
        let perMonth = cost.options.tokensPerMonth ?? distill.tokensPerDay! * DistillationEconomics.daysPerMonth
        let (e, inputs) = try distill.economics(tokensPerMonth: perMonth, catalogue: try PriceCatalogue.load(overrides: cost.options.prices))
        if cost.json || cost.format == .json {
            var o: [String: Any] = ["tokens_per_month": e.tokensPerMonth, "teacher_monthly": e.teacherMonthly, "student_monthly": e.studentMonthly,
                                    "student_fixed_monthly": e.studentFixedMonthly, "one_time_cost": e.oneTimeCost,
                                    "teacher_per_million": e.teacherPerMillion, "student_per_million": e.studentPerMillion,
                                    "monthly_saving": e.monthlySaving, "payback_months": e.paybackMonths ?? NSNull(),
                                    "payback_days": e.paybackDays ?? NSNull(), "net_after_12_months": e.netSaving(afterMonths: 12),
                                    "days_per_month": DistillationEconomics.daysPerMonth]
            o["inputs"] = Dictionary(inputs, uniquingKeysWith: { a, _ in a })
            try printJSON(o)
            return
        }
        print(DistillReport.text(e, inputs: inputs, tokensPerDay: distill.tokensPerDay))
    }
}

/// The distillation inputs, shared by `cost distill` and `report` (its "Distillation payback"
/// section appears when --one-time is given).
struct DistillOptions: ParsableArguments {
    @Option(help: "Tokens per day (prompt + output).")
    var tokensPerDay: Double?

    @Option(help: "The teacher's bill for this traffic, dollars per month.")
    var teacherMonthly: Double?

    @Option(help: "The teacher's blended price, dollars per 1M tokens.")
    var teacherPrice: Double?

    @Option(help: "The teacher as a managed model of the catalogue (e.g. nova-pro).")
    var teacher: String?

    @Option(help: "With --teacher: the share of tokens that are prompt (billed at the input price), 0…1.")
    var promptShare: Double = 0.8

    @Option(help: "The student's price as a fraction of the teacher's, in (0, 1].")
    var studentFraction: Double?

    @Option(help: "The student's price, dollars per 1M tokens (e.g. self-hosted $/1M from `swiftlet cost`).")
    var studentPrice: Double?

    @Option(help: "The student's bill for this traffic, dollars per month.")
    var studentMonthly: Double?

    @Option(help: "Monthly costs the student adds beyond its tokens (operations, evaluation), dollars.")
    var studentFixedMonthly: Double = 0

    @Option(help: "One-time distillation cost (data, training, evaluation), dollars.")
    var oneTime: Double?

    @Option(help: "A confidence cascade serves the traffic: this share of requests (0…1) is re-answered by the teacher, on top of the student.")
    var escalationRate: Double?

    @Option(help: "As --escalation-rate, measured: the chosen threshold's rate in `swiftlet eval cascade --json` output.")
    var cascade: String?

    func check() throws {
        for (name, v) in [("--tokens-per-day", tokensPerDay), ("--teacher-monthly", teacherMonthly),
                          ("--teacher-price", teacherPrice), ("--student-price", studentPrice), ("--student-monthly", studentMonthly)] {
            if let v, !(v > 0 && v.isFinite) { throw ValidationError("\(name) must be > 0") }
        }
        guard [teacherMonthly != nil, teacherPrice != nil, teacher != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of --teacher-monthly, --teacher-price and --teacher")
        }
        guard [studentFraction != nil, studentPrice != nil, studentMonthly != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of --student-fraction, --student-price and --student-monthly")
        }
        if let f = studentFraction, !(f > 0 && f <= 1) { throw ValidationError("--student-fraction must be in (0, 1]") }
        guard (0...1).contains(promptShare) else { throw ValidationError("--prompt-share must be in 0…1") }
        guard (oneTime ?? 0) >= 0 && (oneTime ?? 0).isFinite, studentFixedMonthly >= 0 && studentFixedMonthly.isFinite else {
            throw ValidationError("--one-time and --student-fixed-monthly must be ≥ 0")
        }
        if let r = escalationRate, !(0...1).contains(r) { throw ValidationError("--escalation-rate must be in 0…1") }
        if escalationRate != nil && cascade != nil { throw ValidationError("give --escalation-rate or --cascade, not both") }
    }

    /// The economics and, per side, the input it came from (for printing beside the figures).
    func economics(tokensPerMonth perMonth: Double, catalogue: PriceCatalogue) throws -> (DistillationEconomics, [(String, String)]) {
        var inputs: [(String, String)] = []
        let teacherBill: Double
        if let teacherMonthly {
            teacherBill = teacherMonthly
            inputs.append(("teacher", "$\(money(teacherMonthly))/month (--teacher-monthly)"))
        } else if let teacherPrice {
            teacherBill = teacherPrice * perMonth / 1e6
            inputs.append(("teacher", "$\(fixed(teacherPrice, 2)) per 1M tokens (--teacher-price)"))
        } else {
            guard let m = try catalogue.managedModels([teacher!]).first else { throw CLIError("no managed model '\(teacher!)' in the catalogue") }
            teacherBill = m.dollars(uncachedInput: perMonth * promptShare, cachedInput: 0, output: perMonth * (1 - promptShare))
            inputs.append(("teacher", "\(m.displayName) (\(m.provider)): $\(fixed(m.inputPerMillion, 3)) in / $\(fixed(m.outputPerMillion, 3)) out per 1M, "
                                      + "\(fixed(promptShare * 100, 0))% of tokens prompt (--prompt-share); \(m.source), \(m.date)"))
        }
        var studentBill: Double
        if let studentFraction {
            studentBill = teacherBill * studentFraction
            inputs.append(("student", "\(fixed(studentFraction * 100, 1))% of the teacher's price (--student-fraction)"))
        } else if let studentPrice {
            studentBill = studentPrice * perMonth / 1e6
            inputs.append(("student", "$\(fixed(studentPrice, 3)) per 1M tokens (--student-price)"))
        } else {
            studentBill = studentMonthly!
            inputs.append(("student", "$\(money(studentBill))/month (--student-monthly)"))
        }
        if let (rate, origin) = try escalation() {
            // Escalated requests are answered twice: by the student, then by the teacher.
            studentBill += teacherBill * rate
            inputs[inputs.count - 1].1 += "; with a cascade, \(fixed(rate * 100, 1))% of requests also go to the teacher (\(origin))"
        }
        let e = DistillationEconomics(tokensPerMonth: perMonth, teacherMonthly: teacherBill, studentMonthly: studentBill,
                                      studentFixedMonthly: studentFixedMonthly, oneTimeCost: oneTime ?? 0)
        return (e, inputs)
    }
}

extension DistillOptions {
    /// The cascade's escalation rate and where it came from, if one is configured.
    func escalation() throws -> (Double, String)? {
        if let escalationRate { return (escalationRate, "--escalation-rate") }
        guard let cascade else { return nil }
        struct CascadeFile: Decodable {
            struct Chart: Decodable { var chosenThreshold: Double?; var withinPoints: Double }
            struct Row: Decodable { var threshold: Double; var escalationRate: Double }
            var chart: Chart
            var rows: [Row]
        }
        let file = try readCascade(cascade, as: CascadeFile.self)
        guard let t = file.chart.chosenThreshold, let row = file.rows.first(where: { $0.threshold == t }) else {
            throw CLIError("the cascade \(cascade) chose no threshold (none came within \(file.chart.withinPoints) points of the teacher): no escalation rate to use")
        }
        return (row.escalationRate, "measured by eval cascade, threshold \(String(format: "%.3f", t)), \(URL(fileURLWithPath: cascade).lastPathComponent)")
    }
}

/// The part of `swiftlet eval cascade --json` output that `type` reads, or a one-line error.
func readCascade<T: Decodable>(_ path: String, as type: T.Type) throws -> T {
    do { return try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: path))) } catch {
        throw CLIError("cannot read the cascade \(path) (JSON from `swiftlet eval cascade --json`): \(error.localizedDescription)")
    }
}

enum DistillReport {
    static func text(_ e: DistillationEconomics, inputs: [(String, String)], tokensPerDay: Double?) -> String {
        let given = Dictionary(inputs, uniquingKeysWith: { a, _ in a })
        var lines = ["Distillation payback (a month is 730 h = \(fixed(DistillationEconomics.daysPerMonth, 2)) days)"]
        let traffic = tokensPerDay.map { "\(count($0)) tokens/day = " } ?? ""
        lines.append("  traffic          \(traffic)\(count(e.tokensPerMonth)) tokens/month")
        lines.append("  teacher          $\(money(e.teacherMonthly))/month = $\(fixed(e.teacherPerMillion, 3)) per 1M tokens   [\(given["teacher"] ?? "")]")
        lines.append("  student          $\(money(e.studentMonthly))/month = $\(fixed(e.studentPerMillion, 3)) per 1M tokens   [\(given["student"] ?? "")]")
        if e.studentFixedMonthly > 0 { lines.append("  student fixed    $\(money(e.studentFixedMonthly))/month   [--student-fixed-monthly]") }
        lines.append("  monthly saving   $\(money(e.monthlySaving))")
        lines.append("  one-time cost    $\(money(e.oneTimeCost))   [--one-time]")
        if let months = e.paybackMonths, let days = e.paybackDays {
            lines.append("  payback          \(fixed(months, 3)) months = \(fixed(days, 1)) days (\(fixed(days / 7, 1)) weeks)")
            lines.append("  after 12 months  $\(money(e.netSaving(afterMonths: 12))) saved, net of the one-time cost")
        } else {
            lines.append("  payback          never: the student saves nothing at these prices")
        }
        lines.append("")
        lines.append("The student is not a drop-in for the teacher: measure its quality on your own task (swiftlet eval) before moving traffic.")
        return lines.joined(separator: "\n")
    }
}

private func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

/// Dollars with thousands separators and cents: 18000 → "18,000.00" (the payback is read to the
/// cent, unlike the rounded dollars of `CostReport.money`).
private func money(_ x: Double) -> String {
    let cents = (abs(x) * 100).rounded()
    let frac = Int(cents.truncatingRemainder(dividingBy: 100))
    return (x < 0 ? "-" : "") + CostReport.grouped((cents / 100).rounded(.down)) + "." + (frac < 10 ? "0" : "") + "\(frac)"
}

private func count(_ x: Double) -> String { CostReport.grouped(x.rounded()) }
