import Testing
import Kernels
import Foundation

@Suite struct KernelTests {
    /// The BLAS path agrees with the scalar twin, for one row (gemv) and many (gemm).
    @Test(arguments: [1, 3, 17])
    func matmulMatchesReference(rows n: Int) {
        let k = 96, m = 40
        var rng = SystemRandomNumberGenerator()
        let x = (0..<(n * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        var fast = [Float](repeating: 0, count: n * m), slow = fast
        Matmul.f32(x, rows: n, inputs: k, weights: w, outputs: m, into: &fast)
        Matmul.f32Reference(x, rows: n, inputs: k, weights: w, outputs: m, into: &slow)
        for i in 0..<(n * m) { #expect(abs(fast[i] - slow[i]) <= 1e-4 * max(1, abs(slow[i]))) }
    }

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

    @Test func ropeRotatesPairsAndKeepsNorm() {
        let rope = Rope(headDim: 4, ropeDim: 4, base: 10000)
        var x: [Float] = [1, 0, 1, 0]
        rope.apply(&x, heads: 1, position: 0)
        #expect(x == [1, 0, 1, 0])
        rope.apply(&x, heads: 1, position: 1)
        // pair 0: θ = 1 rad; pair 1: θ = 10000^(-1/2) = 0.01 rad.
        #expect(abs(x[0] - Float(cos(1.0))) < 1e-6 && abs(x[1] - Float(sin(1.0))) < 1e-6)
        #expect(abs(x[2] - Float(cos(0.01))) < 1e-6 && abs(x[3] - Float(sin(0.01))) < 1e-6)
    }
}
