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
        /// The same cost at the slowest and the fastest of several runs (nil: one run).
        public var range: (slowest: SelfHostCost, fastest: SelfHostCost)?
    }

    public struct ManagedRow: Sendable {
        public var cost: ManagedCost
        /// Monthly requests at which the managed bill reaches the reference instance's; nil: never
        /// within one instance's capacity (self-hosting does not pay at any volume).
        public var breakEvenRequestsPerMonth: Double?
        /// The break-even at the fastest and the slowest run (nil inside: never at that end).
        public var breakEvenRange: (fastest: Double?, slowest: Double?)?
    }

    /// Runs that disagree by more than this (largest − smallest over the median) are warned about.
    public static let spreadWarning = 0.20

    public var workload: Workload
    public var measurement: BenchMeasurement
    public var instances: [InstanceRow]
    public var managed: [ManagedRow]
    /// Instances with no measurement on their CPU family whose socket bandwidth the catalogue has
    /// (Graviton without an arm64 result): the bandwidth model's ceiling, kept apart from the rows
    /// above and never used for the break-even.
    public var modelled: [BandwidthCeiling]
    /// The instance the break-even is computed against: the declared one, else the cheapest.
    public var reference: InstanceRow?
    public var assumptions: [String]
    public var notes: [String]

    /// - Parameters:
    ///   - measurements: the first is the host's own; others taken on a named instance
    ///     (`host.instance`) replace the estimate for that instance.
    ///   - declaredInstance: the catalogue entry for the host (`--instance`), if any.
    ///   - compare: managed models to list (all of them when empty).
    public var team: TeamCosts

    public init(catalogue: PriceCatalogue, measurements: [BenchMeasurement], workload w: Workload,
                declaredInstance: InstancePrice?, compare: [ManagedPrice], team: TeamCosts = .availability) throws(CostError) {
        self.team = team
        guard let primary = measurements.first else { throw .noMeasurement }
        workload = w
        measurement = primary
        var notes: [String] = []
        var assumptions: [String] = []

        // One row per CPU instance: measured where a result was taken on it, else scaled from the
        // host by vCPUs.
        var rows: [InstanceRow] = []
        var candidates = catalogue.instances.filter { $0.accelerator == nil }
        if let d = declaredInstance, !candidates.contains(where: { $0.name == d.name }) { candidates.insert(d, at: 0) }
        var unestimated: [String] = []
        var modelled: [BandwidthCeiling] = [], sizeUnknown: [String] = []
        // What the costed model reads per token: the host's file, or another result of the same model.
        let footprint = primary.footprint ?? measurements.first(where: { $0.footprint != nil && $0.model == primary.model })?.footprint
        for instance in candidates {
            // A result recorded on this instance type (`bench --instance`) whose host matches it.
            let own = measurements.first { m in
                guard let h = m.host, h.instance?.lowercased() == instance.name.lowercased() else { return false }
                return h.cores == instance.vcpus && h.architecture == instance.architecture
            }
            // Else a measurement taken on the same CPU family (architecture and generation): the
            // host's, or one recorded on another instance type of that family.
            let family = HostInfo.cpuFamily(instance.cpu)
            // A host whose CPU family is not recognised is taken as comparable within its
            // architecture, and the basis says so.
            let sameFamily = measurements.first { m in
                guard let h = m.host, h.architecture == instance.architecture else { return false }
                return HostInfo.cpuFamily(h.cpu).map { $0 == family } ?? true
            }
            let isDeclared = declaredInstance?.name == instance.name
            var levels: [Throughput]
            var basis: String
            var measured = false
            if let own {
                levels = own.levels
                basis = "measured on \(instance.name) (\(own.origin))"
                measured = true
            } else if isDeclared, let host = primary.host, host.cores == instance.vcpus, host.architecture == instance.architecture,
                      family != nil, HostInfo.cpuFamily(host.cpu) == family {
                levels = primary.levels
                basis = "measured on this host (\(host.cores) cores \(host.cpu)), declared \(instance.name)"
                measured = true
            } else if let m = sameFamily, let h = m.host, h.cores > 0 {
                let factor = Double(instance.vcpus) / Double(h.cores)
                levels = m.levels.map { $0.scaled(by: factor) }
                basis = "estimate: \(h.cores)-core \(h.cpu) (\(m.origin)) × \(instance.vcpus)/\(h.cores) vCPUs, "
                    + (HostInfo.cpuFamily(h.cpu) == nil ? "CPU family not recognised, same architecture assumed comparable" : "same CPU family")
            } else if primary.host == nil {
                levels = primary.levels
                basis = "estimate: host not recorded, figures used as measured"
            } else {
                // Another architecture, or another CPU family or generation: no per-vCPU ratio
                // measured here carries over (this host's kernels may not even exist there).
                unestimated.append("\(instance.name) (\(instance.cpu))")
                if let socket = catalogue.socket(of: instance) {
                    if let footprint {
                        modelled.append(BandwidthCeiling(instance: instance, socket: socket, footprint: footprint,
                                                         contextTokens: ModelFootprint.meanDecodeContext(promptTokens: w.promptTokens, outputTokens: w.outputTokens)))
                    } else {
                        sizeUnknown.append(instance.name)
                    }
                }
                if isDeclared {
                    notes.append("\(instance.name) (\(instance.cpu), \(instance.architecture)) is not estimated: no measurement on its CPU family "
                                 + "(this host: \(primary.host.map { "\($0.cpu), \($0.architecture)" } ?? "unknown")); run `swiftlet bench --concurrency 1,4,16 -o json "
                                 + "--instance \(instance.name)` on one and pass it with --bench"
                                 + (catalogue.socket(of: instance) != nil && footprint != nil ? "; its bandwidth model (an upper bound on speed, not an estimate) is under 'Modelled, not measured'" : ""))
                }
                continue
            }
            guard let best = levels.cheapest(for: w) else {
                if isDeclared { notes.append("\(instance.name): no measured concurrency meets p95 time per output token ≤ \(Self.ms(w.maxTPOT!))") }
                continue
            }
            let discounts = catalogue.discounts
            func cost(_ t: Throughput) -> SelfHostCost {
                SelfHostCost(instance: instance, throughput: t, measured: measured, workload: w, discounts: discounts, team: team)
            }
            rows.append(InstanceRow(cost: cost(best), basis: basis, declared: isDeclared,
                                    range: best.slowestAndFastest.map { (cost($0.slowest), cost($0.fastest)) }))
        }
        rows.sort { a, b in
            if a.declared != b.declared { return a.declared }
            return a.cost.perThousandRequests < b.cost.perThousandRequests
        }
        instances = rows
        self.modelled = modelled
        let reference = rows.first { $0.declared } ?? rows.first
        self.reference = reference

        let models = compare.isEmpty ? catalogue.managed : compare
        managed = models.map { m in
            let c = ManagedCost(model: m, workload: w)
            return ManagedRow(cost: c, breakEvenRequestsPerMonth: reference.flatMap { c.breakEven(against: $0.cost) },
                              breakEvenRange: reference?.range.map { (c.breakEven(against: $0.fastest), c.breakEven(against: $0.slowest)) })
        }
        for level in primary.levels {
            guard let spread = level.spread else { continue }
            let runs = level.outputRuns.map { Self.fixed($0, 1) }.joined(separator: ", ")
            if spread > Self.spreadWarning {
                notes.insert("WARNING: at concurrency \(level.concurrency) the \(level.outputRuns.count) runs disagree by \(Self.percent(spread)) "
                             + "(output tokens/s: \(runs)): the machine is busy or noisy; the figures use the median and show the range; "
                             + "rerun on a quiet machine before deciding", at: 0)
            } else {
                notes.append("concurrency \(level.concurrency): \(level.outputRuns.count) runs within \(Self.percent(spread)) of each other (output tokens/s: \(runs))")
            }
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
        if !unestimated.isEmpty {
            notes.append("not estimated (no measurement on their CPU family; per-vCPU speed differs across AMD, Intel and each Graviton generation, "
                         + "and arm64 runs NEON kernels, not this x86 host's): \(unestimated.joined(separator: ", "))"
                         + (modelled.isEmpty ? "" : "; those whose memory bandwidth is known have a bandwidth model under 'Modelled, not measured' (an upper bound, not an estimate)"))
        }
        if !sizeUnknown.isEmpty {
            notes.append("no bandwidth model for \(sizeUnknown.joined(separator: ", ")): the bench result does not record the model's size "
                         + "(model_size; files from before it was recorded): rerun `swiftlet bench … -o json`")
        }
        if let d = declaredInstance, let row = rows.first(where: { $0.declared }), !row.cost.measured {
            notes.append("\(d.name) was not measured: its figures are scaled from this host (\(row.basis))")
        }

        assumptions.append("$ per 1M tokens = $/hour ÷ (tokens/s × 3600) × 10⁶, divided by the utilization (average load ÷ fleet capacity); 'full' columns assume 100% utilization")
        assumptions.append("instance time per request = uncached prompt tokens ÷ prefill rate + output tokens ÷ decode rate, at the concurrency with the lowest cost\(w.maxTPOT.map { " whose p95 time per output token is ≤ \(Self.ms($0))" } ?? "")")
        assumptions.append("prompt tokens served from the prefix cache (\(Self.percent(w.cachedShare))) need no prefill when self-hosted, but the decode steps attend to them (the built-in benchmark keeps them in context); managed, they are billed at the cached-input price where one exists (batch: no caching)")
        if w.cachedShare > 0 {
            assumptions.append("each cached prefix is written once per \(Self.fixed(w.cacheReadsPerWrite, 0)) reads (--cache-reads-per-write): those writes, part of the uncached tokens, are billed at the cache-write price where the catalogue has one (Claude: 1.25× input; Nova: the input price)")
        }
        assumptions.append("fleet sized for the peak: average ÷ peak = \(Self.percent(w.averageToPeak)); instances rounded up; \(Int(CostModel.hoursPerMonth)) hours a month, always on")
        assumptions.append("fleet of at least \(team.minInstances) instance\(team.minInstances == 1 ? "" : "s") for availability (--min-instances)"
                           + (team.fixedMonthly > 0 ? "; plus $\(Self.fixed(team.fixedMonthly, 0))/month of engineering and operations time (--fixed-monthly)"
                                                    : "; no engineering or operations time included (--fixed-monthly)"))
        assumptions.append("quality: a managed model here is a price comparator only; a small self-hosted model is not a drop-in for it — measure both on your task (swiftlet eval)")
        assumptions.append("other instances: throughput scaled linearly by vCPU count from a measurement on the same CPU family (architecture and generation), marked 'estimate'; other families are left out, not guessed; 'measured' only on the same CPU family with the same vCPUs; accelerator instances (GPU, Inferentia) are left out")
        if !modelled.isEmpty {
            assumptions.append("modelled (instances with no measurement on their CPU family, where the catalogue has the CPU's memory bandwidth): single-stream decode is memory-bandwidth bound, "
                               + "so output tokens/s ≤ the instance's share of its socket's bandwidth (socket GB/s × vCPUs ÷ cores per socket; a Graviton vCPU is a physical core) "
                               + "÷ bytes read per output token (weights + the KV cache at the workload's mean decode context, \(Self.fixed(ModelFootprint.meanDecodeContext(promptTokens: w.promptTokens, outputTokens: w.outputTokens), 0)) positions = prompt + half the output); "
                               + "upper bound on speed / lower bound on cost only while the instance gets no more than that share, listed apart, never used for break-even")
            for socket in Set(modelled.map(\.socket.name)).sorted() {
                guard let s = modelled.first(where: { $0.socket.name == socket })?.socket else { continue }
                assumptions.append("memory bandwidth: \(s.name) \(Self.fixed(s.bandwidthGBPerSecond, 1)) GB/s per \(s.coresPerSocket)-core socket (\(s.memory)): \(s.source), \(s.date)")
            }
        }
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
