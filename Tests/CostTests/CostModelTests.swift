import Foundation
import Testing

@testable import Cost

/// The cost arithmetic against hand-computed figures.
@Suite struct CostModelTests {
    static func close(_ a: Double, _ b: Double, _ tol: Double = 1e-9) -> Bool { abs(a - b) <= tol * max(1, abs(b)) }

    @Test func dollarsPerMillionTokens() {
        // $3.60/h at 1,000 tokens/s: 3.6 ÷ (1000 × 3600) × 10⁶ = $1.00.
        #expect(Self.close(CostModel.dollarsPerMillion(pricePerHour: 3.6, tokensPerSecond: 1000), 1.0))
        // A quarter busy: four times as much.
        #expect(Self.close(CostModel.dollarsPerMillion(pricePerHour: 3.6, tokensPerSecond: 1000, utilization: 0.25), 4.0))
        // prices.md's example: c7g.xlarge at $0.145/h needs ≈ 288 tokens/s to match $0.14 per 1M.
        #expect(Self.close(CostModel.dollarsPerMillion(pricePerHour: 0.145, tokensPerSecond: 288), 0.145 / 1_036_800 * 1e6))
        #expect(abs(CostModel.dollarsPerMillion(pricePerHour: 0.145, tokensPerSecond: 288) - 0.14) < 0.0002)
        #expect(CostModel.dollarsPerMillion(pricePerHour: 1, tokensPerSecond: 0) == .infinity)
    }

    @Test func instancesRoundUpAtPeak() {
        #expect(CostModel.instancesNeeded(peakRequestsPerSecond: 10, capacity: 4) == 3)
        #expect(CostModel.instancesNeeded(peakRequestsPerSecond: 10, capacity: 5) == 2)   // an exact multiple
        #expect(CostModel.instancesNeeded(peakRequestsPerSecond: 0.1, capacity: 5) == 1)
        #expect(CostModel.instancesNeeded(peakRequestsPerSecond: 0, capacity: 5) == 1)    // always at least one
    }

    static let workload = Workload(requestsPerDay: 17_280, promptTokens: 1000, outputTokens: 100, cachedShare: 0.5, averageToPeak: 0.5)
    static let throughput = Throughput(concurrency: 8, promptTokensPerSecond: 1000, outputTokensPerSecond: 50, tpotP95: 0.1)
    static let spot = Discount(name: "spot", label: "Spot", multiplier: 0.35, assumption: true, basis: "test", source: "test", date: "undated")
    static func instance(_ price: Double) -> InstancePrice {
        InstancePrice(name: "test.large", vcpus: 2, memoryGiB: 4, pricePerHour: price, architecture: "arm64", cpu: "test", source: "test", date: "undated")
    }

    @Test func selfHostedCostOfAWorkload() {
        let w = Self.workload, t = Self.throughput
        // 500 uncached prompt tokens at 1,000/s + 100 output tokens at 50/s = 2.5 s per request.
        #expect(Self.close(t.secondsPerRequest(w), 2.5))
        #expect(Self.close(t.capacity(w), 0.4))
        // 17,280 a day = 0.2/s on average, 0.4/s at peak: one instance, half busy.
        let c = SelfHostCost(instance: Self.instance(3.6), throughput: t, measured: true, workload: w, discounts: [Self.spot])
        #expect(c.instances == 1)
        #expect(Self.close(c.utilization, 0.5))
        #expect(Self.close(c.inputPerMillionFull, 1.0) && Self.close(c.inputPerMillion, 2.0))
        #expect(Self.close(c.outputPerMillionFull, 20.0) && Self.close(c.outputPerMillion, 40.0))
        // $0.001/s × 2.5 s × 1,000 ÷ 0.5 busy = $5 per 1,000 requests.
        #expect(Self.close(c.perThousandRequests, 5.0))
        #expect(Self.close(c.monthlyOnDemand, 3.6 * 730))
        #expect(Self.close(c.monthlyDiscounted[0].dollars, 3.6 * 730 * 0.35))
        // 0.4/s capacity × 0.5 average÷peak × 2,628,000 s = 525,600 requests a month per instance.
        #expect(Self.close(c.monthlyRequestCapacity, 525_600))
        #expect(Self.close(c.monthlyBill(requestsPerMonth: 525_600), 3.6 * 730))
        #expect(Self.close(c.monthlyBill(requestsPerMonth: 525_601), 2 * 3.6 * 730))
        // Three times the traffic: three instances.
        var busy = w
        busy.requestsPerDay *= 3
        #expect(SelfHostCost(instance: Self.instance(3.6), throughput: t, measured: true, workload: busy, discounts: []).instances == 3)
    }

    static let managedModel = ManagedPrice(name: "m", displayName: "M", inputPerMillion: 1.0, outputPerMillion: 2.0, batchInputPerMillion: 0.5,
                                           batchOutputPerMillion: 1.0, cachedInputPerMillion: 0.1, source: "test", date: "undated")

    @Test func managedBillWithCachedAndBatchPrices() {
        let m = ManagedCost(model: Self.managedModel, workload: Self.workload)
        // 500 uncached × $1 + 500 cached × $0.10 + 100 output × $2, per million.
        #expect(Self.close(m.perRequest, 750e-6))
        #expect(Self.close(Self.workload.requestsPerMonth, 525_600))
        #expect(Self.close(m.monthly, 750e-6 * 525_600))
        // Batch: no caching; 1,000 × $0.50 + 100 × $1.00.
        #expect(Self.close(m.batchPerRequest!, 600e-6))
        #expect(Self.close(m.batchMonthly!, 600e-6 * 525_600))
        // Without a cached price, cached tokens cost the input price.
        var plain = Self.managedModel
        plain.cachedInputPerMillion = nil
        plain.batchInputPerMillion = nil
        plain.batchOutputPerMillion = nil
        let p = ManagedCost(model: plain, workload: Self.workload)
        #expect(Self.close(p.perRequest, 1200e-6) && p.batchMonthly == nil)
    }

    /// Cache writes at a premium: 500 cached tokens read once per 10 writes = 50 write tokens a
    /// request, taken from the 500 uncached ones: 450 × $1 + 50 × $1.25 + 500 × $0.10 + 100 × $2.
    @Test func cacheWritesAtThePremiumPrice() {
        var model = Self.managedModel
        model.cacheWriteInputPerMillion = 1.25
        var w = Self.workload
        w.cacheReadsPerWrite = 10
        #expect(Self.close(w.cacheWriteTokens, 50))
        let expected: Double = (450.0 + 62.5 + 50.0 + 200.0) / 1e6
        #expect(Self.close(ManagedCost(model: model, workload: w).perRequest, expected))
        // Without a write price (Nova), writes cost the input price: as before.
        #expect(Self.close(ManagedCost(model: Self.managedModel, workload: w).perRequest, 750e-6))
    }

    @Test func breakEvenWhereTheManagedLineCrossesTheFirstStep() {
        let m = ManagedCost(model: Self.managedModel, workload: Self.workload)
        // $0.36/h: $262.80 a month ÷ $0.00075 a request = 350,400 requests, within one instance's 525,600.
        let cheap = SelfHostCost(instance: Self.instance(0.36), throughput: Self.throughput, measured: true, workload: Self.workload, discounts: [])
        #expect(Self.close(m.breakEven(against: cheap)!, 350_400))
        #expect(m.monthly >= cheap.monthlyBill(requestsPerMonth: 350_400) - 1e-9)
        #expect(ManagedCost(model: Self.managedModel, workload: Self.workload).perRequest * 350_000 < cheap.monthlyBill(requestsPerMonth: 350_000))
        // $3.60/h: $2,628 ÷ $0.00075 = 3,504,000 > 525,600: the managed model is cheaper at every volume.
        let dear = SelfHostCost(instance: Self.instance(3.6), throughput: Self.throughput, measured: true, workload: Self.workload, discounts: [])
        #expect(m.breakEven(against: dear) == nil)
    }

    /// The bill a team pays: a minimum fleet for availability and fixed monthly costs move the
    /// break-even, by hand.
    @Test func breakEvenWithAMinimumFleetAndFixedCosts() {
        let m = ManagedCost(model: Self.managedModel, workload: Self.workload)   // $0.00075 a request
        // $0.36/h = $262.80 a month per instance carrying 525,600 requests (m·C = $394.20 > I).
        // Two instances: $525.60 ÷ $0.00075 = 700,800 requests, within 2 × 525,600.
        let two = SelfHostCost(instance: Self.instance(0.36), throughput: Self.throughput, measured: true, workload: Self.workload,
                               discounts: [], team: TeamCosts(minInstances: 2, fixedMonthly: 0))
        #expect(two.instances == 2 && Self.close(two.utilization, 0.25))
        #expect(Self.close(m.breakEven(against: two)!, 700_800))
        #expect(Self.close(two.monthlyBill(requestsPerMonth: 1), 2 * 262.8))
        // Plus $1,000 a month: n·(394.20 − 262.80) ≥ 1,000 first at n = 8 (7.61 → 8):
        // (8 × 262.80 + 1,000) ÷ 0.00075 = 4,136,533.3 requests (within 8 × 525,600 = 4,204,800).
        let staffed = SelfHostCost(instance: Self.instance(0.36), throughput: Self.throughput, measured: true, workload: Self.workload,
                                   discounts: [], team: TeamCosts(minInstances: 2, fixedMonthly: 1_000))
        let v = m.breakEven(against: staffed)!
        #expect(Self.close(v, (8 * 262.8 + 1_000) / 0.00075))
        #expect(Self.close(m.perRequest * v, staffed.monthlyBill(requestsPerMonth: v)))
        #expect(m.perRequest * (v - 1) < staffed.monthlyBill(requestsPerMonth: v - 1))
        #expect(Self.close(staffed.monthlyTotal, 2 * 262.8 + 1_000))
        // When an instance's capacity earns less than it costs (m·C ≤ I), fixed costs are never repaid.
        let dear = SelfHostCost(instance: Self.instance(0.6), throughput: Self.throughput, measured: true, workload: Self.workload,
                                discounts: [], team: TeamCosts(minInstances: 2, fixedMonthly: 1_000))
        #expect(m.breakEven(against: dear) == nil)
    }

    @Test func cheapestLevelWithinTheLatencyBound() {
        let levels = [
            Throughput(concurrency: 1, promptTokensPerSecond: 500, outputTokensPerSecond: 80, tpotP95: 0.013),
            Throughput(concurrency: 8, promptTokensPerSecond: 500, outputTokensPerSecond: 220, tpotP95: 0.040),
            Throughput(concurrency: 32, promptTokensPerSecond: 500, outputTokensPerSecond: 330, tpotP95: 0.110),
        ]
        var w = Self.workload
        #expect(levels.cheapest(for: w)?.concurrency == 32)
        w.maxTPOT = 0.05
        #expect(levels.cheapest(for: w)?.concurrency == 8)
        w.maxTPOT = 0.001
        #expect(levels.cheapest(for: w) == nil)
    }
}
