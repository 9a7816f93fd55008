import Foundation
import LLMBase

/// The cost arithmetic, kept free of I/O so that every formula has a hand-computed test.
///
/// Self-hosting: an instance that costs P dollars per hour and sustains r tokens/s costs
/// P ÷ (r × 3600) × 10⁶ dollars per million tokens when it is busy all the time, and that figure
/// divided by the utilization when it is idle part of the time.
public enum CostModel {
    public static let hoursPerMonth = 730.0   // 8,760 h ÷ 12, as AWS bills a month
    public static let secondsPerMonth = hoursPerMonth * 3600

    /// Dollars per million tokens for an instance at `pricePerHour` sustaining `tokensPerSecond`,
    /// busy `utilization` of the time (0 < utilization ≤ 1).
    public static func dollarsPerMillion(pricePerHour: Double, tokensPerSecond: Double, utilization: Double = 1) -> Double {
        guard tokensPerSecond > 0, utilization > 0 else { return .infinity }
        return pricePerHour / (tokensPerSecond * 3600) * 1e6 / utilization
    }

    /// Instances needed to carry `peakRequestsPerSecond` when one carries `capacity` requests/s:
    /// rounded up, at least one.
    public static func instancesNeeded(peakRequestsPerSecond: Double, capacity: Double) -> Int {
        guard capacity > 0 else { return Int.max }
        // A hair of slack so that exact multiples do not round up through floating-point noise.
        return max(1, Int((peakRequestsPerSecond / capacity - 1e-9).rounded(.up)))
    }
}

/// What the users' traffic looks like.
public struct Workload: Sendable, Equatable {
    public var requestsPerDay: Double
    public var promptTokens: Double
    public var outputTokens: Double
    /// Share of prompt tokens served from the prefix cache (0…1): self-hosted, they need no
    /// prefill; managed, they are billed at the cached-input price where there is one.
    public var cachedShare: Double
    /// Average load ÷ peak load (0 < ratio ≤ 1): the fleet is sized for the peak.
    public var averageToPeak: Double
    /// Upper bound on time per output token at p95, seconds (nil: none).
    public var maxTPOT: Double?
    /// How many times a cached prefix is read per time it is written (a managed cache's writes
    /// cost more for some models): the cache writes are cached tokens ÷ this, taken from the
    /// uncached tokens, which include them.
    public var cacheReadsPerWrite: Double = 10

    public init(requestsPerDay: Double, promptTokens: Double, outputTokens: Double, cachedShare: Double = 0,
                averageToPeak: Double = 1, maxTPOT: Double? = nil) {
        self.requestsPerDay = requestsPerDay; self.promptTokens = promptTokens; self.outputTokens = outputTokens
        self.cachedShare = cachedShare; self.averageToPeak = averageToPeak; self.maxTPOT = maxTPOT
    }

    public var requestsPerMonth: Double { requestsPerDay * CostModel.hoursPerMonth / 24 }
    public var averageRequestsPerSecond: Double { requestsPerDay / 86_400 }
    public var peakRequestsPerSecond: Double { averageRequestsPerSecond / averageToPeak }
    public var uncachedPromptTokens: Double { promptTokens * (1 - cachedShare) }
    public var cachedPromptTokens: Double { promptTokens * cachedShare }
    /// Prompt tokens per request that write a prefix to a managed cache (part of the uncached ones).
    public var cacheWriteTokens: Double { min(uncachedPromptTokens, cachedPromptTokens / max(cacheReadsPerWrite, 1e-9)) }
    public var tokensPerRequest: Double { promptTokens + outputTokens }
}

/// Throughput measured (or estimated) at one concurrency: aggregate prompt (prefill) and output
/// (decode) tokens per second, and the p95 time per output token.
public struct Throughput: Sendable, Equatable {
    public var concurrency: Int
    public var promptTokensPerSecond: Double
    public var outputTokensPerSecond: Double
    public var tpotP95: Double

    /// Output tokens/s of each repetition when the level was run several times (the rates above
    /// are then the medians); empty: one run.
    public var outputRuns: [Double] = []

    public init(concurrency: Int, promptTokensPerSecond: Double, outputTokensPerSecond: Double, tpotP95: Double, outputRuns: [Double] = []) {
        self.concurrency = concurrency; self.promptTokensPerSecond = promptTokensPerSecond
        self.outputTokensPerSecond = outputTokensPerSecond; self.tpotP95 = tpotP95; self.outputRuns = outputRuns
    }

    /// The median of several runs of one level, with their output rates kept for the spread.
    public static func median(of runs: [Throughput]) -> Throughput {
        Throughput(concurrency: runs[0].concurrency, promptTokensPerSecond: Statistics.median(runs.map(\.promptTokensPerSecond)),
                   outputTokensPerSecond: Statistics.median(runs.map(\.outputTokensPerSecond)), tpotP95: Statistics.median(runs.map(\.tpotP95)),
                   outputRuns: runs.map(\.outputTokensPerSecond))
    }

    /// The prefill rate of computed tokens from a rate that counts prompt tokens served from the
    /// prefix cache too (a shared-prefix benchmark): the cost model charges only computed tokens
    /// to the prefill rate, so the cache's discount must not be in the rate as well.
    public static func computedPromptRate(_ rate: Double, cacheHitRate: Double) -> Double {
        rate * (1 - min(max(cacheHitRate, 0), 0.999))
    }

    /// (largest − smallest) ÷ median of the output rates over the runs; nil for one run.
    public var spread: Double? {
        guard outputRuns.count > 1, let lo = outputRuns.min(), let hi = outputRuns.max(), outputTokensPerSecond > 0 else { return nil }
        return (hi - lo) / outputTokensPerSecond
    }

    /// This level at its slowest and fastest run (every rate scaled by the same ratio as the output
    /// rate): the ends of the cost's range. Nil for one run.
    public var slowestAndFastest: (slowest: Throughput, fastest: Throughput)? {
        guard outputRuns.count > 1, let lo = outputRuns.min(), let hi = outputRuns.max(), outputTokensPerSecond > 0 else { return nil }
        func at(_ rate: Double) -> Throughput {
            let r = rate / outputTokensPerSecond
            return Throughput(concurrency: concurrency, promptTokensPerSecond: promptTokensPerSecond * r, outputTokensPerSecond: rate, tpotP95: tpotP95)
        }
        return (at(lo), at(hi))
    }

    /// Instance-seconds one request of `w` occupies: its uncached prompt at the prefill rate plus
    /// its output at the decode rate (the two phases share the machine).
    public func secondsPerRequest(_ w: Workload) -> Double {
        w.uncachedPromptTokens / promptTokensPerSecond + w.outputTokens / outputTokensPerSecond
    }

    /// Requests per second one instance carries.
    public func capacity(_ w: Workload) -> Double { 1 / secondsPerRequest(w) }

    /// This throughput on an instance with `factor` times the vCPUs (an estimate: linear scaling).
    public func scaled(by factor: Double) -> Throughput {
        Throughput(concurrency: concurrency, promptTokensPerSecond: promptTokensPerSecond * factor,
                   outputTokensPerSecond: outputTokensPerSecond * factor, tpotP95: tpotP95, outputRuns: outputRuns.map { $0 * factor })
    }
}

/// What a team pays beyond instance-hours: a minimum fleet for availability (one instance is a
/// single point of failure; a rolling restart needs a second) and fixed monthly costs (engineering
/// and operations time) that a managed API does not carry.
public struct TeamCosts: Sendable, Equatable, Codable {
    /// Instances kept running whatever the load.
    public var minInstances: Int
    /// Dollars per month beyond the instances.
    public var fixedMonthly: Double

    public init(minInstances: Int, fixedMonthly: Double) {
        self.minInstances = max(1, minInstances)
        self.fixedMonthly = max(0, fixedMonthly)
    }

    /// Instance-hours only: one instance, no fixed costs (the best case; `swiftlet cost` defaults
    /// to `availability`).
    public static let instanceOnly = TeamCosts(minInstances: 1, fixedMonthly: 0)
    /// Two instances, no fixed costs entered.
    public static let availability = TeamCosts(minInstances: 2, fixedMonthly: 0)
}

/// The self-hosted cost of a workload on one instance type.
public struct SelfHostCost: Sendable, Equatable {
    public var instance: InstancePrice
    public var throughput: Throughput
    /// Measured on this instance type, or scaled from another (an estimate).
    public var measured: Bool
    public var instances: Int
    /// Average load ÷ the fleet's capacity.
    public var utilization: Double
    /// At the workload's utilization.
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public var perThousandRequests: Double
    /// Busy all the time (the best case).
    public var inputPerMillionFull: Double
    public var outputPerMillionFull: Double
    /// The fleet sized for the peak, On-Demand, and under each discount assumption.
    public var monthlyOnDemand: Double
    public var monthlyDiscounted: [(discount: Discount, dollars: Double)]
    /// Requests per month one instance carries at the workload's average-to-peak ratio.
    public var monthlyRequestCapacity: Double
    public var team: TeamCosts
    /// The fleet On-Demand plus the team's fixed monthly costs: what self-hosting costs a month.
    public var monthlyTotal: Double { monthlyOnDemand + team.fixedMonthly }

    public static func == (a: Self, b: Self) -> Bool {
        a.instance == b.instance && a.throughput == b.throughput && a.instances == b.instances && a.monthlyOnDemand == b.monthlyOnDemand
    }

    public init(instance: InstancePrice, throughput t: Throughput, measured: Bool, workload w: Workload, discounts: [Discount],
                team: TeamCosts = .instanceOnly) {
        self.instance = instance
        self.throughput = t
        self.measured = measured
        self.team = team
        let capacity = t.capacity(w)
        instances = max(team.minInstances, CostModel.instancesNeeded(peakRequestsPerSecond: w.peakRequestsPerSecond, capacity: capacity))
        utilization = min(1, w.averageRequestsPerSecond / (Double(instances) * capacity))
        let p = instance.pricePerHour
        inputPerMillionFull = CostModel.dollarsPerMillion(pricePerHour: p, tokensPerSecond: t.promptTokensPerSecond)
        outputPerMillionFull = CostModel.dollarsPerMillion(pricePerHour: p, tokensPerSecond: t.outputTokensPerSecond)
        inputPerMillion = CostModel.dollarsPerMillion(pricePerHour: p, tokensPerSecond: t.promptTokensPerSecond, utilization: utilization)
        outputPerMillion = CostModel.dollarsPerMillion(pricePerHour: p, tokensPerSecond: t.outputTokensPerSecond, utilization: utilization)
        perThousandRequests = p / 3600 * t.secondsPerRequest(w) * 1000 / utilization
        let fleet = Double(instances) * p * CostModel.hoursPerMonth
        monthlyOnDemand = fleet
        monthlyDiscounted = discounts.map { ($0, fleet * $0.multiplier) }
        monthlyRequestCapacity = capacity * w.averageToPeak * CostModel.secondsPerMonth
    }

    /// The monthly On-Demand bill at `requestsPerMonth` with the same lengths and peak ratio: one
    /// step per added instance beyond the minimum fleet, plus the fixed costs.
    public func monthlyBill(requestsPerMonth v: Double) -> Double {
        let n = max(team.minInstances, Int((v / monthlyRequestCapacity - 1e-9).rounded(.up)))
        return Double(n) * instance.pricePerHour * CostModel.hoursPerMonth + team.fixedMonthly
    }
}

/// A managed model's bill for the same workload.
public struct ManagedCost: Sendable, Equatable {
    public var model: ManagedPrice
    /// On-demand, cached prompt tokens at the cached-input price where the service has one.
    public var perRequest: Double
    public var monthly: Double
    /// Batch prices (no prompt caching with batch); nil where batch is not offered.
    public var batchPerRequest: Double?
    public var batchMonthly: Double?

    public init(model m: ManagedPrice, workload w: Workload) {
        model = m
        perRequest = m.dollars(uncachedInput: w.uncachedPromptTokens, cachedInput: w.cachedPromptTokens, output: w.outputTokens,
                               cacheWrites: w.cacheWriteTokens)
        monthly = perRequest * w.requestsPerMonth
        if let bi = m.batchInputPerMillion, let bo = m.batchOutputPerMillion {
            batchPerRequest = (w.promptTokens * bi + w.outputTokens * bo) / 1e6
            batchMonthly = batchPerRequest! * w.requestsPerMonth
        }
    }

    /// The smallest monthly request volume at which this managed bill reaches the self-hosted one
    /// (where the managed line first crosses the self-host steps), or nil if it never does. With
    /// each instance costing I a month and carrying C requests, a minimum fleet of N₀, fixed costs
    /// F, and this model costing m per request: on the step of n instances (volume up to n·C) the
    /// self-hosted bill is n·I + F, crossed at v = (n·I + F) ÷ m if that is within n·C, that is if
    /// n·(m·C − I) ≥ F. The first such n is N₀, or, when m·C > I, ⌈F ÷ (m·C − I)⌉; when
    /// m·C ≤ I no step after N₀'s can be reached.
    public func breakEven(against selfHost: SelfHostCost) -> Double? {
        let i = selfHost.instance.pricePerHour * CostModel.hoursPerMonth, c = selfHost.monthlyRequestCapacity
        let f = selfHost.team.fixedMonthly, n0 = Double(selfHost.team.minInstances), m = perRequest
        guard m > 0 else { return nil }
        let margin = m * c - i
        var n = n0
        if n * margin < f {
            guard margin > 0 else { return nil }
            n = max(n0, (f / margin - 1e-12).rounded(.up))
        }
        let volume = (n * i + f) / m
        return volume <= n * c * (1 + 1e-12) ? volume : nil
    }
}

extension Array where Element == Throughput {
    /// The level with the lowest cost per request within the latency bound (highest capacity for
    /// the workload), or nil if no level meets the bound.
    public func cheapest(for w: Workload) -> Throughput? {
        filter { w.maxTPOT == nil || $0.tpotP95 <= w.maxTPOT! }.max { $0.capacity(w) < $1.capacity(w) }
    }
}
