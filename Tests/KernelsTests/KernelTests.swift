import Testing
import Kernels
import Foundation

@Suite struct KernelTests {
    @Test func rmsNormUnitVariance() {
        let x: [Float] = [1, -2, 3, -4]
        let w: [Float] = [1, 1, 2, 1]
        var out = [Float](repeating: 0, count: 4)
        Elementwise.rmsNorm(x, weight: w, count: 4, epsilon: 0, into: &out)
        let rms = (30.0 / 4.0).squareRoot()
        for i in 0..<4 { #expect(abs(Double(out[i]) - Double(x[i] * w[i]) / rms) < 1e-6) }
    }

    @Test func softmaxSumsToOneAndIsStable() {
        var x: [Float] = [1000, 1001, 1002]
        Elementwise.softmax(&x, count: 3)
        #expect(abs(x.reduce(0, +) - 1) < 1e-6)
        #expect(x[2] > x[1] && x[1] > x[0])
    }

    /// Lengths across the 16-lane body and the tail, with the maximum in either: equal to a softmax
    /// in Double (large values: a wrong maximum would overflow or lose every term).
    @Test(arguments: [5, 16, 37, 300], [false, true])
    func softmaxMatchesDoubleWhereverTheMaximumIs(count n: Int, maximumInTail: Bool) {
        var rng = SplitMixForTests(UInt64(n))
        var x = (0..<n).map { _ in rng.float(-20, 20) + 500 }
        x[maximumInTail ? n - 1 : 0] = 530
        let m = Double(x.max()!)
        let e = x.map { Foundation.exp(Double($0) - m) }, total = e.reduce(0, +)
        Elementwise.softmax(&x, count: n)
        for i in 0..<n { #expect(abs(Double(x[i]) - e[i] / total) <= 1e-6, "n \(n) [\(i)]") }
    }

    @Test func ropeRotatesPairsAndKeepsNorm() {
        let rope = RotaryEmbedding(headDim: 4, ropeDim: 4, base: 10000)
        var x: [Float] = [1, 0, 1, 0]
        rope.apply(&x, heads: 1, position: 0)
        #expect(x == [1, 0, 1, 0])
        rope.apply(&x, heads: 1, position: 1)
        // pair 0: θ = 1 rad; pair 1: θ = 10000^(-1/2) = 0.01 rad.
        #expect(abs(x[0] - Float(cos(1.0))) < 1e-6 && abs(x[1] - Float(sin(1.0))) < 1e-6)
        #expect(abs(x[2] - Float(cos(0.01))) < 1e-6 && abs(x[3] - Float(sin(0.01))) < 1e-6)
    }
}

/// The vectorized exponential against Foundation's `expf`, and its one-lane twin lane for lane.
@Suite struct ExponentialTests {
    @Test func exp16MatchesExpfWithinTwoUlpAndItsTwinExactly() {
        var x: Float = -87
        while x <= 88 {
            var lanes = SIMD16<Float>()
            for j in 0..<16 { lanes[j] = x + Float(j) * 0.0137 }
            let v = Elementwise.exp16(lanes)
            for j in 0..<16 {
                let exact = expf(lanes[j])
                #expect(abs(v[j] - exact) <= 2 * exact.ulp, "exp(\(lanes[j])) = \(v[j]) vs \(exact)")
                #expect(v[j] == Elementwise.exp1(lanes[j]), "twin at \(lanes[j])")
            }
            x += 0.731
        }
        #expect(Elementwise.exp1(0) == 1)
        #expect(Elementwise.exp1(-1000) < 1e-37)       // clamped: stands for 0 in a softmax
        #expect(Elementwise.exp1(1000).isFinite)
    }

    @Test func swiGLUMatchesItsDefinition() {
        var rng = SplitMixForTests(5)
        let n = 37
        var gate = (0..<n).map { _ in rng.float(-20, 20) }
        let up = (0..<n).map { _ in rng.float(-2, 2) }
        let expected = zip(gate, up).map { g, u in g / (1 + expf(-g)) * u }
        gate.withUnsafeMutableBufferPointer { Elementwise.swiGLU($0.baseAddress!, up: up, count: n) }
        for i in 0..<n { #expect(abs(gate[i] - expected[i]) <= 4 * max(abs(expected[i]).ulp, Float.leastNormalMagnitude), "\(i)") }
    }
}
