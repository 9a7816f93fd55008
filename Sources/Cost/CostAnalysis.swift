import Foundation

/// Everything `swiftlet cost` reports for one workload: the self-hosted cost on the declared
/// instance and on the other CPU instances of the catalogue, the managed models' bills for the
/// same traffic, the break-even volumes, and every assumption behind the figures.
public struct CostAnalysis: Sendable {
    public struct InstanceRow: Sendable {
        public var cost: SelfHostCost
        /// "measured on this instance", or how the figure was estimated.
        public var basis: String
        public var declared: Bool
    }

    public struct ManagedRow: Sendable {
        public var cost: ManagedCost
        /// Monthly requests at which the managed bill reaches the reference instance's; nil: never
        /// within one instance's capacity (self-hosting does not pay at any volume).
        public var breakEvenRequestsPerMonth: Double?
    }

    public var workload: Workload
    public var measurement: BenchMeasurement
    public var instances: [InstanceRow]
    public var managed: [ManagedRow]
    /// The instance the break-even is computed against: the declared one, else the cheapest.
    public var reference: InstanceRow?
    public var assumptions: [String]
    public var notes: [String]

    /// - Parameters:
    ///   - measurements: the first is the host's own; others taken on a named instance
    ///     (`host.instance`) replace the estimate for that instance.
    ///   - declaredInstance: the catalogue entry for the host (`--instance`), if any.
    ///   - compare: managed models to list (all of them when empty).
    public init(catalogue: PriceCatalogue, measurements: [BenchMeasurement], workload w: Workload,
                declaredInstance: InstancePrice?, compare: [ManagedPrice]) throws(CostError) {
        guard let primary = measurements.first else { throw .noMeasurement }
        workload = w
        measurement = primary
        var notes: [String] = []
        var assumptions: [String] = []
        let hostCores = primary.host?.cores

        // One row per CPU instance: measured where a result was taken on it, else scaled from the
        // host by vCPUs.
        var rows: [InstanceRow] = []
        var candidates = catalogue.instances.filter { $0.accelerator == nil }
        if let d = declaredInstance, !candidates.contains(where: { $0.name == d.name }) { candidates.insert(d, at: 0) }
        for instance in candidates {
            // A result recorded on this instance type (`bench --instance`) whose host matches it.
            let own = measurements.first { m in
                guard let h = m.host, h.instance?.lowercased() == instance.name.lowercased() else { return false }
                return h.cores == instance.vcpus && h.architecture == instance.architecture
            }
            let isDeclared = declaredInstance?.name == instance.name
            var levels: [Throughput]
            var basis: String
            var measured = false
            if let own {
                levels = own.levels
                basis = "measured on \(instance.name) (\(own.origin))"
                measured = true
            } else if isDeclared, let host = primary.host, host.cores == instance.vcpus, host.architecture == instance.architecture {
                levels = primary.levels
                basis = "measured on this host (\(host.cores) cores, \(host.architecture)), declared \(instance.name)"
                measured = true
            } else if let hostCores, hostCores > 0 {
                let factor = Double(instance.vcpus) / Double(hostCores)
                levels = primary.levels.map { $0.scaled(by: factor) }
                let archNote = primary.host.map { $0.architecture == instance.architecture ? "" : ", other architecture (\($0.architecture) measured)" } ?? ""
                basis = "estimate: \(hostCores)-core host × \(instance.vcpus)/\(hostCores) vCPUs\(archNote)"
            } else {
                levels = primary.levels
                basis = "estimate: host size unknown, figures used as measured"
            }
            guard let best = levels.cheapest(for: w) else {
                if isDeclared { notes.append("\(instance.name): no measured concurrency meets p95 time per output token ≤ \(Self.ms(w.maxTPOT!))") }
                continue
            }
            let discounts = catalogue.discounts
            rows.append(InstanceRow(cost: SelfHostCost(instance: instance, throughput: best, measured: measured, workload: w, discounts: discounts),
                                    basis: basis, declared: isDeclared))
        }
        rows.sort { a, b in
            if a.declared != b.declared { return a.declared }
            return a.cost.perThousandRequests < b.cost.perThousandRequests
        }
        instances = rows
        let reference = rows.first { $0.declared } ?? rows.first
        self.reference = reference

        let models = compare.isEmpty ? catalogue.managed : compare
        managed = models.map { m in
            let c = ManagedCost(model: m, workload: w)
            return ManagedRow(cost: c, breakEvenRequestsPerMonth: reference.flatMap { c.breakEven(against: $0.cost) })
        }

        if let host = primary.host {
            notes.append("measured: \(primary.model), \(host.cpu), \(host.cores) cores \(host.architecture)"
                         + (host.features.isEmpty ? "" : " (\(host.features.joined(separator: " ")))")
                         + "; \(primary.origin); -p \(primary.promptTokens) -n \(primary.outputTokens)")
        } else {
            notes.append("measured: \(primary.model); \(primary.origin); host not recorded")
        }
        let measuredPrompt = Double(primary.promptTokens), measuredOutput = Double(primary.outputTokens)
        if abs(measuredPrompt - w.uncachedPromptTokens) > 0.25 * max(w.uncachedPromptTokens, 1) || abs(measuredOutput - w.outputTokens) > 0.25 * w.outputTokens {
            notes.append("the benchmark ran -p \(primary.promptTokens) -n \(primary.outputTokens); the workload has \(Int(w.uncachedPromptTokens.rounded())) uncached prompt and \(Int(w.outputTokens)) output tokens per request: rates at other lengths differ (attention grows with context); rerun bench at the workload's lengths for exact figures")
        }
        if let d = declaredInstance, let row = rows.first(where: { $0.declared }), !row.cost.measured {
            notes.append("\(d.name) was not measured: its figures are scaled from this host (\(row.basis))")
        }

        assumptions.append("$ per 1M tokens = $/hour ÷ (tokens/s × 3600) × 10⁶, divided by the utilization (average load ÷ fleet capacity); 'full' columns assume 100% utilization")
        assumptions.append("instance time per request = uncached prompt tokens ÷ prefill rate + output tokens ÷ decode rate, at the concurrency with the lowest cost\(w.maxTPOT.map { " whose p95 time per output token is ≤ \(Self.ms($0))" } ?? "")")
        assumptions.append("prompt tokens served from the prefix cache (\(Self.percent(w.cachedShare))) need no prefill when self-hosted; managed, they are billed at the cached-input price where one exists (batch: no caching)")
        assumptions.append("fleet sized for the peak: average ÷ peak = \(Self.percent(w.averageToPeak)); instances rounded up; \(Int(CostModel.hoursPerMonth)) hours a month, always on")
        assumptions.append("other instances: throughput scaled linearly by vCPU count from the measured host, marked 'estimate'; accelerator instances (GPU, Inferentia) are left out")
        for d in catalogue.discounts {
            assumptions.append("\(d.label) = \(Self.fixed(d.multiplier, 2)) × On-Demand (\(d.assumption ? "assumption" : "figure"): \(d.basis); \(d.source), \(d.date))")
        }
        var dated = Set<String>()
        for r in rows where r.declared || rows.first?.cost.instance == r.cost.instance { dated.insert("\(r.cost.instance.name) $\(r.cost.instance.pricePerHour)/h: \(r.cost.instance.source), \(r.cost.instance.date)") }
        for m in models { dated.insert("\(m.displayName): \(m.source), \(m.date)") }
        assumptions.append(contentsOf: dated.sorted().map { "price: " + $0 })
        self.assumptions = assumptions
        self.notes = notes
    }

    static func ms(_ seconds: Double) -> String { "\(fixed(seconds * 1000, 1)) ms" }
    static func percent(_ x: Double) -> String { "\(fixed(x * 100, 0))%" }
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}

public enum CostError: Error, CustomStringConvertible, Equatable {
    case noMeasurement
    case invalidWorkload(String)

    public var description: String {
        switch self {
        case .noMeasurement: return "no throughput measurement: give --bench FILE or a model to benchmark"
        case .invalidWorkload(let m): return m
        }
    }
}
