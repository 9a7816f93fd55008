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
