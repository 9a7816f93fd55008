import Foundation

/// Renders a `CostAnalysis` as a terminal table, Markdown, or JSON.
public enum CostReport {
    public enum Format: String, Sendable, CaseIterable { case table, markdown, json }

    /// - Parameter instanceRows: instance types listed in the text formats (the declared one and
    ///   the cheapest others); JSON always has every one.
    public static func render(_ a: CostAnalysis, format: Format, instanceRows: Int = .max) -> String {
        switch format {
        case .json:
            let data = (try? JSONSerialization.data(withJSONObject: json(a), options: [.prettyPrinted, .sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        case .table, .markdown:
            return text(a, markdown: format == .markdown, instanceRows: instanceRows)
        }
    }

    // MARK: text

    static func text(_ a: CostAnalysis, markdown md: Bool, instanceRows: Int) -> String {
        let w = a.workload
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        func heading(_ s: String) { line(md ? "## \(s)" : s.uppercased()); line() }
        line(md ? "# Swiftlet cost report" : "Swiftlet cost report")
        line()
        line("Workload: \(count(w.requestsPerDay)) requests/day (\(count(w.requestsPerMonth)) a month, \(count(w.requestsPerMonth * w.tokensPerRequest)) tokens), "
             + "\(count(w.promptTokens)) prompt + \(count(w.outputTokens)) output tokens per request, \(percent(w.cachedShare)) of prompt tokens cached, "
             + "average ÷ peak \(percent(w.averageToPeak))\(w.maxTPOT.map { ", p95 time per output token ≤ \(fixed($0 * 1000, 1)) ms" } ?? "").")
        line()

        if let r = a.reference {
            let c = r.cost
            heading(r.declared ? "This instance: \(c.instance.name)" : "Cheapest instance: \(c.instance.name)")
            // With several runs: the median's figure, then the range from the fastest run to the slowest.
            func ranged(_ v: Double, _ pick: (SelfHostCost) -> Double) -> String {
                guard let range = r.range else { return money(v) }
                return "\(money(v)) (\(money(pick(range.fastest)))–\(money(pick(range.slowest))))"
            }
            let rows: [[String]] = [
                ["$ per 1M input tokens", ranged(c.inputPerMillion, \.inputPerMillion), ranged(c.inputPerMillionFull, \.inputPerMillionFull)],
                ["$ per 1M output tokens", ranged(c.outputPerMillion, \.outputPerMillion), ranged(c.outputPerMillionFull, \.outputPerMillionFull)],
                ["$ per 1,000 requests", ranged(c.perThousandRequests, \.perThousandRequests),
                 ranged(c.perThousandRequests * c.utilization, { $0.perThousandRequests * $0.utilization })],
            ]
            out += table(["", "at this workload (\(percent(c.utilization)) busy)", "busy all the time"], rows, markdown: md, numeric: [1, 2])
            line()
            if r.range != nil {
                line("Median of \(c.throughput.outputRuns.count) runs; in brackets, the fastest run's figure to the slowest's"
                     + (c.throughput.spread.map { " (the runs differ by \(percent($0)))" } ?? "") + ".")
            }
            line("\(c.instance.name): \(c.instance.vcpus) vCPU \(c.instance.architecture) \(c.instance.cpu), $\(c.instance.pricePerHour)/h On-Demand (\(c.instance.region)); "
                 + "concurrency \(c.throughput.concurrency): \(fixed(c.throughput.promptTokensPerSecond, 0)) prompt tok/s, \(fixed(c.throughput.outputTokensPerSecond, 0)) output tok/s, "
                 + "p95 time per output token \(fixed(c.throughput.tpotP95 * 1000, 1)) ms; \(r.basis).")
            var fleet = "Fleet at peak: \(c.instances) instance\(c.instances == 1 ? "" : "s"), \(money(c.monthlyOnDemand))/month On-Demand"
            for d in c.monthlyDiscounted { fleet += ", \(money(d.dollars)) \(d.discount.label)" }
            line(fleet + ".")
            line()
        }

        heading("Self-hosted, per instance type")
        let discountNames = a.instances.first?.cost.monthlyDiscounted.map(\.discount.name) ?? []
        var headers = ["instance", "vCPU", "arch", "$/h", "conc", "out tok/s", "$/1M in", "$/1M out", "$/1M out full", "$/1k req", "fleet", "$/month"]
        headers += discountNames.map { "$/month \($0)" }
        headers.append("basis")
        let shown = Array(a.instances.prefix(instanceRows))
        let rows = shown.map { r -> [String] in
            let c = r.cost
            var row = [c.instance.name + (r.declared ? " *" : ""), "\(c.instance.vcpus)", c.instance.architecture, "\(c.instance.pricePerHour)",
                       "\(c.throughput.concurrency)", fixed(c.throughput.outputTokensPerSecond, 0), money(c.inputPerMillion), money(c.outputPerMillion),
                       money(c.outputPerMillionFull), money(c.perThousandRequests), "\(c.instances)", money(c.monthlyOnDemand)]
            row += c.monthlyDiscounted.map { money($0.dollars) }
            row.append(r.cost.measured ? "measured" : "estimate")
            return row
        }
        out += table(headers, rows, markdown: md, numeric: Set(1..<(headers.count - 1)).subtracting([2]))
        line()
        if a.instances.contains(where: \.declared) { line("* the declared instance (--instance).") }
        if shown.count < a.instances.count { line("\(a.instances.count - shown.count) more instance types, dearer per request: --all-instances lists them.") }
        let labels = (a.instances.first?.cost.monthlyDiscounted ?? []).map { "\($0.discount.name) = \($0.discount.label)" }
        line("Sorted by $ per 1,000 requests. \"$/month\" is the fleet sized for the peak\(labels.isEmpty ? "" : "; " + labels.joined(separator: ", ")) (assumed multipliers below).")
        line()

        if !a.modelled.isEmpty {
            heading("Modelled, not measured (bandwidth model)")
            out += modelledSection(a.modelled, markdown: md)
            line()
        }

        heading("Managed models, same workload")
        let ref = a.reference?.cost.instance.name ?? "self-hosted"
        let mrows = a.managed.map { m -> [String] in
            let c = m.cost, p = c.model
            return [p.displayName, money(p.inputPerMillion), money(p.outputPerMillion), p.cachedInputPerMillion.map(money) ?? "—",
                    c.batchInputPerMillionLabel, money(c.perRequest * 1000), money(c.monthly), c.batchMonthly.map(money) ?? "—",
                    (m.breakEvenRequestsPerMonth.map { "\(count($0)) req/month" } ?? "never")
                        + (m.breakEvenRange.map { " (\($0.fastest.map(count) ?? "never")–\($0.slowest.map(count) ?? "never"))" } ?? ""),
                    m.breakEvenRequestsPerMonth.map { money($0 * c.perRequest) + "/month" } ?? "—", p.date]
        }
        out += table(["model", "$/1M in", "$/1M out", "$/1M cached in", "batch in/out", "$/1k req", "$/month", "$/month batch",
                      "break-even vs \(ref)", "managed bill there", "price date"], mrows, markdown: md, numeric: [1, 2, 3, 5, 6, 7, 9])
        line()
        if let r = a.reference {
            let team = r.cost.team
            line("Break-even: the monthly volume at which the managed bill reaches the self-hosted one on \(r.cost.instance.name) On-Demand "
                 + "(\(money(r.cost.instance.pricePerHour * CostModel.hoursPerMonth))/month each, carrying up to \(count(r.cost.monthlyRequestCapacity)) requests/month "
                 + "at this average ÷ peak; at least \(team.minInstances) instance\(team.minInstances == 1 ? "" : "s")"
                 + (team.fixedMonthly > 0 ? ", plus \(money(team.fixedMonthly))/month fixed" : ", no engineering or operations time entered (--fixed-monthly)")
                 + "). \"never\": the managed model is cheaper at any volume. The managed model is a price comparator, not a drop-in: compare quality on your task.")
            line()
        }

        heading("Notes")
        for n in a.notes { line("- " + n) }
        line()
        heading("Assumptions")
        for s in a.assumptions { line("- " + s) }
        return out
    }

    /// The bandwidth model's rows, apart from the measured and estimated ones, with what they are
    /// and are not.
    static func modelledSection(_ m: [BandwidthCeiling], markdown md: Bool) -> String {
        var out = "No result on these CPUs: " + modelledLead + " " + BandwidthCeiling.caveat("NAME") + "\n\n"
        out += table(modelledHeaders, m.map(modelledRow), markdown: md, numeric: [1, 3, 4, 5, 6, 7])
        if let first = m.first {
            out += "\n" + modelledFootnote(first) + "\n"
        }
        return out
    }

    static let modelledLead = "single-stream decode is memory-bandwidth bound, so output tokens/s ≤ the instance's share of its socket's memory bandwidth "
        + "(socket GB/s × vCPUs ÷ cores per socket; AWS publishes no per-instance bandwidth, and an instance may get more while its neighbours are idle: "
        + "a share, not a guarantee) ÷ bytes read per output token. Not used for the break-even."
    static let modelledHeaders = ["instance", "vCPU", "CPU", "$/h", "GB/s share", "MB/token", "out tok/s ≤", "$/1M out ≥ (full)"]

    static func modelledRow(_ c: BandwidthCeiling) -> [String] {
        [c.instance.name, "\(c.instance.vcpus)", c.instance.cpu, "\(c.instance.pricePerHour)", fixed(c.bandwidthShare / 1e9, 1),
         fixed(c.bytesPerToken / 1e6, 1), fixed(c.outputTokensPerSecond, 0), money(c.dollarsPerMillionOutputFloor)]
    }

    static func modelledFootnote(_ c: BandwidthCeiling) -> String {
        "MB/token = weights \(BandwidthCeiling.mb(c.weightBytes)) (\(c.weightBasis)) + \(c.kvBasis). "
            + "$/1M out ≥ = $/hour ÷ (3600 × ceiling) × 10⁶, busy all the time, On-Demand."
    }

    /// Columns padded to width (terminal) or a Markdown table.
    static func table(_ headers: [String], _ rows: [[String]], markdown: Bool, numeric: Set<Int>) -> String {
        if markdown {
            var s = "| " + headers.joined(separator: " | ") + " |\n"
            s += "| " + headers.indices.map { numeric.contains($0) ? "---:" : "---" }.joined(separator: " | ") + " |\n"
            for r in rows { s += "| " + r.joined(separator: " | ") + " |\n" }
            return s
        }
        let widths = headers.indices.map { i in ([headers[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func pad(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                let fill = String(repeating: " ", count: widths[i] - c.count)
                return numeric.contains(i) ? fill + c : c + fill
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        return pad(headers) + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n" + rows.map(pad).joined()
    }

    // MARK: JSON

    static func json(_ a: CostAnalysis) -> [String: Any] {
        let w = a.workload
        func instance(_ r: CostAnalysis.InstanceRow) -> [String: Any] {
            let c = r.cost
            return [
                "instance": c.instance.name, "vcpus": c.instance.vcpus, "architecture": c.instance.architecture,
                "price_per_hour": c.instance.pricePerHour, "price_source": c.instance.source, "price_date": c.instance.date,
                "declared": r.declared, "measured": c.measured, "basis": r.basis,
                "concurrency": c.throughput.concurrency, "prompt_tokens_per_second": c.throughput.promptTokensPerSecond,
                "output_tokens_per_second": c.throughput.outputTokensPerSecond, "tpot_ms_p95": c.throughput.tpotP95 * 1000,
                "utilization": c.utilization, "instances_at_peak": c.instances,
                "dollars_per_million_input": c.inputPerMillion, "dollars_per_million_output": c.outputPerMillion,
                "output_tokens_per_second_runs": c.throughput.outputRuns, "runs_spread": c.throughput.spread ?? NSNull(),
                "dollars_per_million_output_fastest_run": r.range.map { $0.fastest.outputPerMillion as Any } ?? NSNull(),
                "dollars_per_million_output_slowest_run": r.range.map { $0.slowest.outputPerMillion as Any } ?? NSNull(),
                "dollars_per_million_input_full_utilization": c.inputPerMillionFull,
                "dollars_per_million_output_full_utilization": c.outputPerMillionFull,
                "dollars_per_thousand_requests": c.perThousandRequests,
                "monthly_on_demand": c.monthlyOnDemand, "monthly_total_with_fixed_costs": c.monthlyTotal,
                "min_instances": c.team.minInstances, "fixed_monthly": c.team.fixedMonthly,
                "monthly_discounted": Dictionary(uniqueKeysWithValues: c.monthlyDiscounted.map { ($0.discount.name, $0.dollars) }),
                "monthly_request_capacity_per_instance": c.monthlyRequestCapacity,
            ]
        }
        return [
            "workload": [
                "requests_per_day": w.requestsPerDay, "requests_per_month": w.requestsPerMonth, "prompt_tokens": w.promptTokens,
                "output_tokens": w.outputTokens, "cached_share": w.cachedShare, "average_to_peak": w.averageToPeak,
                "max_tpot_ms_p95": w.maxTPOT.map { $0 * 1000 as Any } ?? NSNull(),
            ] as [String: Any],
            "measurement": [
                "model": a.measurement.model, "origin": a.measurement.origin, "n_prompt": a.measurement.promptTokens,
                "n_gen": a.measurement.outputTokens,
                "host": a.measurement.host.map { h -> Any in
                    ["cpu": h.cpu, "architecture": h.architecture, "cores": h.cores, "features": h.features,
                     "memory_bytes": h.memoryBytes, "instance": h.instance ?? NSNull()] as [String: Any]
                } ?? NSNull(),
                "levels": a.measurement.levels.map {
                    ["concurrency": $0.concurrency, "prompt_tokens_per_second": $0.promptTokensPerSecond,
                     "output_tokens_per_second": $0.outputTokensPerSecond, "tpot_ms_p95": $0.tpotP95 * 1000]
                },
            ] as [String: Any],
            "reference_instance": a.reference.map { instance($0) as Any } ?? NSNull(),
            "instances": a.instances.map(instance),
            "managed": a.managed.map { m -> [String: Any] in
                let c = m.cost, p = c.model
                return [
                    "model": p.name, "display_name": p.displayName, "provider": p.provider, "region": p.region,
                    "input_per_million": p.inputPerMillion, "output_per_million": p.outputPerMillion,
                    "cached_input_per_million": p.cachedInputPerMillion.map { $0 as Any } ?? NSNull(),
                    "batch_input_per_million": p.batchInputPerMillion.map { $0 as Any } ?? NSNull(),
                    "batch_output_per_million": p.batchOutputPerMillion.map { $0 as Any } ?? NSNull(),
                    "dollars_per_request": c.perRequest, "monthly": c.monthly,
                    "monthly_batch": c.batchMonthly.map { $0 as Any } ?? NSNull(),
                    "break_even_requests_per_month": m.breakEvenRequestsPerMonth.map { $0 as Any } ?? NSNull(),
                    "break_even_requests_per_month_fastest_run": m.breakEvenRange.map { ($0.fastest as Any?) ?? NSNull() } ?? NSNull(),
                    "break_even_requests_per_month_slowest_run": m.breakEvenRange.map { ($0.slowest as Any?) ?? NSNull() } ?? NSNull(),
                    "managed_monthly_at_break_even": m.breakEvenRequestsPerMonth.map { ($0 * m.cost.perRequest) as Any } ?? NSNull(),
                    "source": p.source, "date": p.date,
                ]
            },
            "modelled": a.modelled.map(modelledObject),
            "notes": a.notes,
            "assumptions": a.assumptions,
        ]
    }

    /// One instance's bandwidth model as JSON: every input, the ceiling, the floor and the basis.
    public static func modelledObject(_ c: BandwidthCeiling) -> [String: Any] {
        [
            "instance": c.instance.name, "vcpus": c.instance.vcpus, "cpu": c.instance.cpu, "architecture": c.instance.architecture,
            "price_per_hour": c.instance.pricePerHour, "price_source": c.instance.source, "price_date": c.instance.date,
            "measured": false, "socket_bandwidth_gb_per_second": c.socket.bandwidthGBPerSecond,
            "cores_per_socket": c.socket.coresPerSocket, "threads_per_core": c.socket.threadsPerCore, "memory": c.socket.memory,
            "bandwidth_source": c.socket.source, "bandwidth_date": c.socket.date,
            "bandwidth_share_gb_per_second": c.bandwidthShare / 1e9,
            "model_bytes": c.footprint.modelBytes, "weight_bytes_per_token": c.weightBytes, "weight_bytes_basis": c.weightBasis,
            "kv_bytes_per_position": c.footprint.kvBytesPerPosition.map { $0 as Any } ?? NSNull(), "context_positions": c.contextTokens,
            "kv_bytes_per_token": c.kvBytes.map { $0 as Any } ?? NSNull(), "bytes_per_output_token": c.bytesPerToken,
            "output_tokens_per_second_ceiling": c.outputTokensPerSecond,
            "dollars_per_million_output_floor_full_utilization": c.dollarsPerMillionOutputFloor,
            "basis": c.basis,
        ]
    }

    // MARK: numbers

    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    static func percent(_ x: Double) -> String { "\(fixed(x * 100, 0))%" }

    /// Dollars with enough digits to see small per-token prices: $0.0312, $1.23, $1,234.
    static func money(_ x: Double) -> String {
        guard x.isFinite else { return "—" }
        if x >= 1000 { return "$" + grouped(x.rounded()) }
        if x >= 1 { return "$" + fixed(x, 2) }
        if x >= 0.01 { return "$" + fixed(x, 3) }
        return "$" + fixed(x, 4)
    }

    /// Counts with thousands separators; millions and billions shortened.
    static func count(_ x: Double) -> String {
        if x >= 1e9 { return fixed(x / 1e9, 2) + "B" }
        if x >= 1e7 { return fixed(x / 1e6, 1) + "M" }
        return grouped(x.rounded())
    }

    /// An integer with thousands separators: 912500000 → "912,500,000".
    public static func grouped(_ x: Double) -> String {
        let digits = String(Int(x))
        var out = ""
        for (i, ch) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && ch != "-" { out.append(",") }
            out.append(ch)
        }
        return String(out.reversed())
    }
}

extension ManagedCost {
    var batchInputPerMillionLabel: String {
        guard let i = model.batchInputPerMillion, let o = model.batchOutputPerMillion else { return "—" }
        return "\(CostReport.money(i)) / \(CostReport.money(o))"
    }
}
