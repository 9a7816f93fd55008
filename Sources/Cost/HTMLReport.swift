import Foundation

/// One quantization type's figures from `swiftlet eval sweep`, for the report's accuracy-against-
/// cost chart.
public struct QuantPoint: Codable, Sendable, Equatable {
    public var type: String
    public var perplexity: Double
    public var accuracy: Double?
    public var dollarsPerMillionOutput: Double

    public init(type: String, perplexity: Double, accuracy: Double?, dollarsPerMillionOutput: Double) {
        self.type = type; self.perplexity = perplexity; self.accuracy = accuracy; self.dollarsPerMillionOutput = dollarsPerMillionOutput
    }
}

/// `swiftlet report`: one self-contained HTML page (inline SVG and CSS, no scripts, no external
/// assets) with throughput against concurrency, $/1M output tokens by instance type, monthly cost
/// against volume (self-hosted steps against each managed model, break-even marked) and, given a
/// sweep, accuracy against cost by quantization type.
public enum HTMLReport {
    static let palette = ["#1f6fb2", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#c76d3a"]

    /// - Parameters:
    ///   - budgetPercent: the accuracy budget: largest perplexity increase over the best type.
    ///   - recommended: the sweep's pick; computed here from the budget when nil.
    public static func render(_ a: CostAnalysis, sweep: [QuantPoint] = [], budgetPercent: Double = 2, recommended: String? = nil,
                              sweepCaption: String? = nil, distillation: DistillationEconomics? = nil, distillationInputs: [String] = [],
                              cascade: CascadeChart? = nil, generated: Date = Date()) -> String {
        let e = SVGChart.escape
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Swiftlet cost report</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; line-height: 1.4; }
            h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
            table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
            th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            .note { color: #555; font-size: 0.9em; } svg { max-width: 100%; height: auto; }
            </style></head><body>
            <h1>Swiftlet cost report</h1>

            """
        let w = a.workload
        html += "<p>\(e(a.measurement.model)) — workload: \(CostReport.count(w.requestsPerDay)) requests/day, \(CostReport.count(w.promptTokens)) prompt + \(CostReport.count(w.outputTokens)) output tokens per request, \(CostReport.percent(w.cachedShare)) of prompt tokens cached, average ÷ peak \(CostReport.percent(w.averageToPeak)). Generated \(ISO8601DateFormatter().string(from: generated)).</p>\n"
        if let r = a.reference {
            let c = r.cost
            html += "<p><b>\(e(c.instance.name))</b> (\(r.declared ? "declared" : "cheapest"); \(e(r.basis))): "
                + "<b>\(CostReport.money(c.outputPerMillion))</b> per 1M output tokens and \(CostReport.money(c.inputPerMillion)) per 1M input tokens at this workload "
                + "(\(CostReport.percent(c.utilization)) busy; \(CostReport.money(c.outputPerMillionFull)) / \(CostReport.money(c.inputPerMillionFull)) busy all the time); "
                + "\(CostReport.money(c.perThousandRequests)) per 1,000 requests; \(c.instances) instance\(c.instances == 1 ? "" : "s") at peak, \(CostReport.money(c.monthlyOnDemand))/month On-Demand.</p>\n"
        }

        html += "<h2>Throughput against concurrency</h2>\n" + throughputChart(a.measurement)
        html += "<p class=\"note\">Measured: \(e(a.measurement.origin)); -p \(a.measurement.promptTokens) -n \(a.measurement.outputTokens).</p>\n"
        html += "<h2>$ per 1M output tokens by instance type</h2>\n" + instanceChart(a)
        html += "<p class=\"note\">At this workload's utilization. Dark bars were measured on that instance type; light bars are estimates scaled by vCPU count from the measured host.</p>\n"
        html += "<h2>Monthly cost against volume</h2>\n" + volumeChart(a)
        html += "<h2>Accuracy against cost by quantization type</h2>\n"
        if sweep.isEmpty {
            html += "<p class=\"note\">No quantization sweep given: `swiftlet eval sweep … --json` writes one, and `swiftlet report --sweep FILE` charts it here.</p>\n"
        } else {
            html += sweepChart(sweep, budgetPercent: budgetPercent, recommended: recommended)
            html += "<p class=\"note\">\(SVGChart.escape(sweepCaption ?? "Source, text and task not recorded in the sweep file; $ per 1M output tokens: single-stream generation on one instance (an estimate), not the batched figures above."))</p>\n"
        }

        if let d = distillation { html += "<h2>Distillation payback</h2>\n" + distillationSection(d, inputs: distillationInputs) }
        if let cascade {
            html += "<h2>Confidence cascade</h2>\n" + cascade.svg()
            html += "<p class=\"note\">\(e(cascade.caption)). "
                + (cascade.chosenThreshold.map { String(format: "Chosen threshold %.3f: the cheapest within %g points of the teacher's accuracy.", $0, cascade.withinPoints) }
                   ?? String(format: "No threshold comes within %g points of the teacher's accuracy at less than its cost.", cascade.withinPoints))
                + "</p>\n"
        }
        html += "<h2>Instances</h2>\n" + table(["instance", "vCPU", "arch", "$/h", "conc", "out tok/s", "$/1M in", "$/1M out", "$/1k req", "fleet", "$/month", "basis"],
                                                a.instances.prefix(15).map { r in
            let c = r.cost
            return [c.instance.name + (r.declared ? " (declared)" : ""), "\(c.instance.vcpus)", c.instance.architecture, "\(c.instance.pricePerHour)",
                    "\(c.throughput.concurrency)", CostReport.fixed(c.throughput.outputTokensPerSecond, 0), CostReport.money(c.inputPerMillion),
                    CostReport.money(c.outputPerMillion), CostReport.money(c.perThousandRequests), "\(c.instances)", CostReport.money(c.monthlyOnDemand),
                    c.measured ? "measured" : "estimate"]
        })
        if !a.modelled.isEmpty {
            html += "<h2>Modelled, not measured (bandwidth model)</h2>\n<p class=\"note\">No result on these CPUs: \(e(CostReport.modelledLead)) \(e(BandwidthCeiling.caveat("NAME")))</p>\n"
                + table(CostReport.modelledHeaders, a.modelled.map(CostReport.modelledRow))
                + "<p class=\"note\">\(e(CostReport.modelledFootnote(a.modelled[0])))</p>\n"
        }
        html += "<h2>Managed models</h2>\n" + table(["model", "$/1M in", "$/1M out", "cached in", "$/month", "$/month batch", "break-even (requests/month)", "price date"],
                                                     a.managed.map { m in
            let p = m.cost.model
            return [p.displayName, CostReport.money(p.inputPerMillion), CostReport.money(p.outputPerMillion), p.cachedInputPerMillion.map(CostReport.money) ?? "—",
                    CostReport.money(m.cost.monthly), m.cost.batchMonthly.map(CostReport.money) ?? "—",
                    m.breakEvenRequestsPerMonth.map(CostReport.count) ?? "never", p.date]
        })
        html += "<h2>Notes</h2>\n<ul>\n" + a.notes.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        html += "<h2>Assumptions</h2>\n<ul>\n" + a.assumptions.map { "<li>\(e($0))</li>\n" }.joined() + "</ul>\n"
        return html + "</body></html>\n"
    }

    /// The teacher's and the student's bills, the saving and the payback, with a chart of the net
    /// saving month by month (it crosses zero at the payback).
    static func distillationSection(_ d: DistillationEconomics, inputs: [String]) -> String {
        let money = CostReport.money
        var rows = [["tokens per month", CostReport.count(d.tokensPerMonth)],
                    ["teacher", "\(money(d.teacherMonthly))/month (\(money(d.teacherPerMillion)) per 1M tokens)"],
                    ["student", "\(money(d.studentMonthly))/month (\(money(d.studentPerMillion)) per 1M tokens)"]]
        if d.studentFixedMonthly > 0 { rows.append(["student fixed costs", "\(money(d.studentFixedMonthly))/month"]) }
        rows.append(["monthly saving", money(d.monthlySaving)])
        rows.append(["one-time cost", money(d.oneTimeCost)])
        rows.append(["payback", d.paybackMonths.map { String(format: "%.3f months = %.1f days", $0, d.paybackDays!) } ?? "never"])
        var html = table(["", ""], rows)
        let months = max(3.0, min(24, (d.paybackMonths ?? 6) * 3))
        let net = stride(from: 0.0, through: months, by: months / 48).map { ($0, d.netSaving(afterMonths: $0)) }
        let ys = net.map(\.1)
        var c = SVGChart(title: "Net saving after the one-time cost", xLabel: "months after the switch", yLabel: "$ saved, net",
                         x: 0...months, y: SVGChart.niceRange(max(ys.max()!, 1), low: min(ys.min()!, 0)))
        c.line(net, colour: palette[0], label: "net saving")
        c.line([(0, 0), (months, 0)], colour: "#999", label: "break-even", dashed: true)
        if let p = d.paybackMonths, p <= months { c.point(p, 0, colour: palette[1], note: String(format: "payback %.1f days", d.paybackDays!)) }
        html += c.svg()
        html += "<p class=\"note\">Inputs: \(SVGChart.escape(inputs.joined(separator: "; "))). Months of 730 h. "
            + "The student is not a drop-in for the teacher: measure its quality on your own task before moving traffic.</p>\n"
        return html
    }

    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let e = SVGChart.escape
        // Typed pieces: as one expression it is too much for Swift 6.2's type checker.
        let head: String = headers.map { "<th>\(e($0))</th>" }.joined()
        let body: String = rows.map { (row: [String]) -> String in
            "<tr>" + row.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n"
        }.joined()
        return "<table><tr>" + head + "</tr>\n" + body + "</table>\n"
    }

    /// Output and prompt tokens/s at each measured concurrency (x on a log₂ scale).
    static func throughputChart(_ m: BenchMeasurement) -> String {
        let levels = m.levels.sorted { $0.concurrency < $1.concurrency }
        let xs = levels.map { log2(Double(max($0.concurrency, 1))) }
        let top = levels.map { max($0.outputTokensPerSecond, $0.promptTokensPerSecond) }.max() ?? 1
        var c = SVGChart(title: "Aggregate tokens/s", xLabel: "concurrent requests", yLabel: "tokens/s",
                         x: (xs.first ?? 0) - 0.3...(xs.last ?? 1) + 0.3, y: SVGChart.niceRange(top))
        c.line(zip(xs, levels).map { ($0, $1.outputTokensPerSecond) }, colour: palette[0], label: "output (decode)", markers: true)
        c.line(zip(xs, levels).map { ($0, $1.promptTokensPerSecond) }, colour: palette[1], label: "prompt (prefill)", markers: true)
        return c.svg(xTicks: xs, xTickLabels: levels.map { "\($0.concurrency)" })
    }

    /// Horizontal bars, cheapest first.
    static func instanceChart(_ a: CostAnalysis) -> String {
        let rows = Array(a.instances.sorted { $0.cost.outputPerMillion < $1.cost.outputPerMillion }.prefix(16))
        guard let maxValue = rows.map(\.cost.outputPerMillion).filter(\.isFinite).max(), maxValue > 0 else { return "" }
        let rowHeight = 20.0, left = 130.0, width = 720.0, plot = 480.0
        let height = Double(rows.count) * rowHeight + 40
        let range = SVGChart.niceRange(maxValue)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"system-ui, sans-serif\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for (i, r) in rows.enumerated() {
            let y = 10 + Double(i) * rowHeight
            let v = r.cost.outputPerMillion
            let barWidth = v.isFinite ? v / range.upperBound * plot : 0
            let colour = r.declared ? palette[1] : palette[0]
            s += "<text x=\"\(SVGChart.f(left - 8))\" y=\"\(SVGChart.f(y + 13))\" font-size=\"11\" text-anchor=\"end\"\(r.declared ? " font-weight=\"700\"" : "")>\(SVGChart.escape(r.cost.instance.name))</text>\n"
            s += "<rect x=\"\(SVGChart.f(left))\" y=\"\(SVGChart.f(y + 2))\" width=\"\(SVGChart.f(barWidth))\" height=\"\(SVGChart.f(rowHeight - 5))\" fill=\"\(colour)\" fill-opacity=\"\(r.cost.measured ? "1" : "0.45")\"/>\n"
            s += "<text x=\"\(SVGChart.f(left + barWidth + 5))\" y=\"\(SVGChart.f(y + 13))\" font-size=\"11\">\(CostReport.money(v))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// The reference instance's monthly bill (a step per added instance, On-Demand and the
    /// cheapest discount) against each managed model's line; break-even points circled.
    static func volumeChart(_ a: CostAnalysis) -> String {
        guard let ref = a.reference else { return "<p class=\"note\">No instance to compare.</p>\n" }
        let capacity = ref.cost.monthlyRequestCapacity
        let breakEvens = a.managed.compactMap(\.breakEvenRequestsPerMonth)
        let maxVolume = max(4 * capacity, 1.5 * (breakEvens.max() ?? 0), 1.2 * a.workload.requestsPerMonth)
        // The cheapest few, and every one that breaks even (those are the decisions).
        let sorted = a.managed.sorted { $0.cost.perRequest < $1.cost.perRequest }
        let managed = Array((sorted.prefix(3) + sorted.dropFirst(3).filter { $0.breakEvenRequestsPerMonth != nil }).prefix(7))
        let yTop = max(ref.cost.monthlyBill(requestsPerMonth: maxVolume), (managed.map { $0.cost.perRequest * maxVolume }.min() ?? 0) * 1.2)
        var c = SVGChart(title: "Monthly bill, \(ref.cost.instance.name) against managed models", xLabel: "requests per month",
                         yLabel: "$ per month", x: 0...maxVolume, y: SVGChart.niceRange(yTop))
        // The minimum fleet covers volumes up to its capacity; then one step per instance, each
        // with the team's fixed monthly costs on top.
        let team = ref.cost.team
        func steps(_ multiplier: Double) -> [(Double, Double)] {
            var points: [(Double, Double)] = []
            var n = Double(team.minInstances), from = 0.0
            while from < maxVolume {
                let cost = n * ref.cost.instance.pricePerHour * multiplier * CostModel.hoursPerMonth + team.fixedMonthly
                points.append((from, cost))
                points.append((min(n * capacity, maxVolume), cost))
                from = n * capacity
                n += 1
            }
            return points
        }
        c.line(steps(1), colour: "#222", label: "\(ref.cost.instance.name) On-Demand")
        if let cheapest = ref.cost.monthlyDiscounted.min(by: { $0.dollars < $1.dollars }) {
            c.line(steps(cheapest.discount.multiplier), colour: "#777", label: "\(ref.cost.instance.name) \(cheapest.discount.name)", dashed: true)
        }
        for (i, m) in managed.enumerated() {
            let colour = palette[(i + 1) % palette.count]
            let end = min(maxVolume, c.yRange.upperBound / max(m.cost.perRequest, 1e-12))
            let name = m.cost.model.displayName
            let label = (name.count > 18 ? String(name.prefix(17)) + "…" : name)
                + (m.breakEvenRequestsPerMonth.map { " = at \(c.axisLabel(($0 / 1000).rounded() * 1000))" } ?? "")
            c.line([(0, 0), (end, m.cost.perRequest * end)], colour: colour, label: label)
            if let v = m.breakEvenRequestsPerMonth { c.point(v, m.cost.perRequest * v, colour: colour, note: "") }
        }
        let x = c.px(a.workload.requestsPerMonth)
        c.raw("<line x1=\"\(SVGChart.f(x))\" x2=\"\(SVGChart.f(x))\" y1=\"\(SVGChart.f(c.top))\" y2=\"\(SVGChart.f(c.top + c.plotHeight))\" stroke=\"#999\" stroke-dasharray=\"2 3\"/>\n")
        c.raw("<text x=\"\(SVGChart.f(x + 4))\" y=\"\(SVGChart.f(c.top + 12))\" font-size=\"11\" fill=\"#555\">this workload</text>\n")
        return c.svg() + "<p class=\"note\">Circles: break-even volumes, where a managed model's bill first reaches the self-hosted one (the volume is in the legend); models with no circle are cheaper than self-hosting at every volume. The steps are instances added as the peak grows; the dotted line is this workload.</p>\n"
    }

    /// Perplexity (lower is better) against $/1M output tokens, one point per quant type; the
    /// cheapest type within the budget of the best perplexity is marked.
    static func sweepChart(_ points: [QuantPoint], budgetPercent: Double, recommended: String?) -> String {
        let best = points.map(\.perplexity).min() ?? 0
        let pick = recommended.flatMap { name in points.first { $0.type == name } }
            ?? points.filter { $0.perplexity <= best * (1 + budgetPercent / 100) }.min { $0.dollarsPerMillionOutput < $1.dollarsPerMillionOutput }
        let xs = points.map(\.dollarsPerMillionOutput), ys = points.map(\.perplexity)
        let xPad = max((xs.max()! - xs.min()!) * 0.2, xs.max()! * 0.05), yPad = max((ys.max()! - ys.min()!) * 0.2, 0.05 * ys.max()!)
        var c = SVGChart(title: "Perplexity against $ per 1M output tokens", xLabel: "$ per 1M output tokens", yLabel: "perplexity (lower is better)",
                         x: max(0, xs.min()! - xPad)...(xs.max()! + xPad), y: max(0, ys.min()! - yPad)...(ys.max()! + yPad))
        for (i, p) in points.enumerated() {
            let acc = p.accuracy.map { String(format: ", acc %.1f%%", $0 * 100) } ?? ""
            c.point(p.dollarsPerMillionOutput, p.perplexity, colour: p == pick ? palette[1] : palette[i % 2 == 0 ? 0 : 3],
                    note: "\(p.type)\(acc)\(p == pick ? " ← cheapest within \(String(format: "%g", budgetPercent))%" : "")")
        }
        return c.svg()
    }
}
