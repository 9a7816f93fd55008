import Foundation

/// Rotary position embedding: pairs of each head's first `ropeDim` dimensions are rotated by
/// pos·θᵢ, θᵢ = base^(−2i/ropeDim) / factorᵢ, for i in 0..<ropeDim/2.
///
/// - `adjacentPairs` (llama.cpp's "normal" RoPE, Llama GGUF files): pair i is (x[2i], x[2i+1]);
///   the converter permuted Q and K rows so that this equals Hugging Face's rotate-half form.
/// - `neox` (Qwen2, Qwen3, Gemma 3, Phi-3): pair i is (x[i], x[i + ropeDim/2]), the rotate-half form
///   as the checkpoints store it.
///
/// Scaling: `linear` divides every position by its factor (θᵢ / factor); `frequencyFactors`
/// divides θᵢ by a factor of its own (Llama 3's `rope_freqs`, long-context Phi-3).
public struct RotaryEmbedding: Sendable {
    public enum Layout: Sendable, Equatable { case adjacentPairs, neox }

    public let headDim: Int
    public let ropeDim: Int
    public let layout: Layout
    /// θᵢ for i in 0..<ropeDim/2, in Double so positions in the thousands keep full precision.
    public let inverseFrequencies: [Double]

    public init(headDim: Int, ropeDim: Int, base: Double, layout: Layout = .adjacentPairs,
                linearScale: Double = 1, frequencyFactors: [Float]? = nil) {
        self.headDim = headDim
        self.ropeDim = ropeDim
        self.layout = layout
        inverseFrequencies = (0..<(ropeDim / 2)).map { i in
            pow(base, -2 * Double(i) / Double(ropeDim)) / linearScale / Double(frequencyFactors?[i] ?? 1)
        }
    }

    /// Rotates `heads` consecutive heads of `headDim` floats at position `pos`, in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position pos: Int) {
        apply(query: x, heads: heads, key: x, kvHeads: 0, position: pos)
    }

    /// Rotates a token's query heads and key heads, computing each angle's cosine and sine once.
    public func apply(query q: UnsafeMutablePointer<Float>, heads: Int, key k: UnsafeMutablePointer<Float>,
                      kvHeads: Int, position pos: Int) {
        let half = ropeDim / 2
        // Adjacent pairs: pair i at 2i, partner +1. NEOX: pair i at i, partner +ropeDim/2.
        let (step, partner) = layout == .adjacentPairs ? (2, 1) : (1, half)
        inverseFrequencies.withUnsafeBufferPointer { freqs in
            for i in 0..<half {
                let angle = Double(pos) * freqs[i]
                let c = Float(cos(angle)), s = Float(sin(angle))
                for h in 0..<heads { rotate(q + h * headDim + step * i, partner, c, s) }
                for h in 0..<kvHeads { rotate(k + h * headDim + step * i, partner, c, s) }
            }
        }
    }

    @inline(__always) private func rotate(_ p: UnsafeMutablePointer<Float>, _ partner: Int, _ c: Float, _ s: Float) {
        let a = p[0], b = p[partner]
        p[0] = a * c - b * s
        p[partner] = a * s + b * c
    }
}
