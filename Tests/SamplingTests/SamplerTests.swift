import Testing
import Sampling
import Foundation

@Suite struct SamplerTests {
    let logits: [Float] = [1, 5, 3, 4, 2]

    @Test func greedyPicksArgmax() {
        var s = Sampler(SamplingParameters())
        #expect(logits.withUnsafeBufferPointer { s.sample($0) } == 1)
    }

    @Test func topKOneIsGreedy() {
        var s = Sampler(SamplingParameters(temperature: 1.5, topK: 1, seed: 7))
        for _ in 0..<20 { #expect(logits.withUnsafeBufferPointer { s.sample($0) } == 1) }
    }

    @Test func sameSeedSameSequence() {
        func run(_ seed: UInt64) -> [Int] {
            var s = Sampler(SamplingParameters(temperature: 1, seed: seed))
            return (0..<50).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } }
        }
        #expect(run(42) == run(42))
        #expect(run(42) != run(43))
    }

    @Test func topPKeepsOnlyTheNucleus() {
        // p(1) = e^5 / Σ ≈ 0.64; top-p 0.5 keeps only token 1.
        var s = Sampler(SamplingParameters(temperature: 1, topP: 0.5, seed: 1))
        for _ in 0..<50 { #expect(logits.withUnsafeBufferPointer { s.sample($0) } == 1) }
    }

    @Test func minPDropsUnlikelyTokens() {
        // Relative to p(1): token 3 is e^-1 ≈ 0.37, token 2 e^-2 ≈ 0.14. min-p 0.2 keeps {1, 3}.
        var s = Sampler(SamplingParameters(temperature: 1, minP: 0.2, seed: 3))
        var seen = Set<Int>()
        for _ in 0..<400 { seen.insert(logits.withUnsafeBufferPointer { s.sample($0) }) }
        #expect(seen == [1, 3])
    }

    @Test func samplingFollowsTheDistribution() {
        var s = Sampler(SamplingParameters(temperature: 1, seed: 11))
        var counts = [Int](repeating: 0, count: 5)
        let n = 20_000
        for _ in 0..<n { counts[logits.withUnsafeBufferPointer { s.sample($0) }] += 1 }
        let z = logits.map { Double($0) }.map { Foundation.exp($0) }.reduce(0, +)
        for i in 0..<5 {
            let expected = Foundation.exp(Double(logits[i])) / z
            #expect(abs(Double(counts[i]) / Double(n) - expected) < 0.02)
        }
    }

    @Test func invalidParametersAreRejected() {
        #expect(throws: SamplingError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(temperature: .nan).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(topP: 0).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(minP: 1.5).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(topK: -2).validate() }
    }
}
