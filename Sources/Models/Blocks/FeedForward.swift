import Kernels

/// The gated feed-forward block: down(act(gate·x) ⊙ up·x), with SiLU (SwiGLU: Llama, Qwen) or
/// tanh-approximated GELU (GeGLU: Gemma) as the gate's activation.
public enum FeedForward {
    public enum Activation: Sendable { case silu, geluTanh }

    /// Reads the normed input in s.xNorm, writes the block's output (rows × hidden) into s.projected,
    /// `ForwardScratch.feedForwardChunk` tokens at a time (each row's result is the same).
    static func gated(rows n: Int, gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix, activation: Activation,
                      scratch s: ForwardScratch, pool: ComputePool) {
        let mm = s.matmul, ffn = gate.rows, dim = down.rows
        for first in stride(from: 0, to: n, by: s.feedForwardRows) {
            let rows = min(s.feedForwardRows, n - first)
            let input = s.xNorm.pointer + first * gate.columns
            mm.multiply(input, rows: rows, (gate, s.gate.pointer), (up, s.up.pointer))
            switch activation {
            case .silu:
                pool.forEachRow(rows) { i in Elementwise.swiGLU(s.gate.pointer + i * ffn, up: s.up.pointer + i * ffn, count: ffn) }
            case .geluTanh:
                pool.forEachRow(rows) { i in Elementwise.geGLU(s.gate.pointer + i * ffn, up: s.up.pointer + i * ffn, count: ffn) }
            }
            mm.multiply(s.gate.pointer, rows: rows, weight: down, into: s.projected.pointer + first * dim)
        }
    }
}
