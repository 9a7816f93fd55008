import Kernels

/// The gated feed-forward block: down(act(gate·x) ⊙ up·x), with SiLU (SwiGLU: Llama, Qwen) or
/// tanh-approximated GELU (GeGLU: Gemma) as the gate's activation.
public enum FeedForward {
    public enum Activation: Sendable { case silu, geluTanh }

    /// Reads the normed input in s.xNorm, writes the block's output (rows × hidden) into s.projected.
    static func gated(rows n: Int, gate: WeightMatrix, up: WeightMatrix, down: WeightMatrix, activation: Activation,
                      scratch s: ForwardScratch, pool: ComputePool) {
        let mm = s.matmul, ffn = gate.rows
        mm.multiply(s.xNorm.pointer, rows: n, weight: gate, into: s.gate.pointer)
        mm.multiply(s.xNorm.pointer, rows: n, weight: up, into: s.up.pointer, sameInput: true)
        switch activation {
        case .silu:
            pool.forEachRow(n) { i in Elementwise.swiGLU(s.gate.pointer + i * ffn, up: s.up.pointer + i * ffn, count: ffn) }
        case .geluTanh:
            pool.forEachRow(n) { i in Elementwise.geGLU(s.gate.pointer + i * ffn, up: s.up.pointer + i * ffn, count: ffn) }
        }
        mm.multiply(s.gate.pointer, rows: n, weight: down, into: s.projected.pointer)
    }
}
