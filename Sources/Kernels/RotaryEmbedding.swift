import Foundation

/// Rotary position embedding as Llama GGUF files expect it: adjacent pairs (x[2i], x[2i+1]) of each
/// head are rotated by pos·θᵢ with θᵢ = base^(−2i/d). (The converter permuted Q and K rows so that
/// this "normal" layout equals Hugging Face's rotate-half form.)
public struct Rope: Sendable {
    public let headDim: Int
    public let ropeDim: Int
    /// θᵢ for i in 0..<ropeDim/2, in Double so positions in the thousands keep full precision.
    public let inverseFrequencies: [Double]

    public init(headDim: Int, ropeDim: Int, base: Double) {
        self.headDim = headDim
        self.ropeDim = ropeDim
        inverseFrequencies = (0..<(ropeDim / 2)).map { i in pow(base, -2 * Double(i) / Double(ropeDim)) }
    }

    /// Rotates `heads` consecutive heads of `headDim` floats at position `pos`, in place.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position pos: Int) {
        apply(query: x, heads: heads, key: x, kvHeads: 0, position: pos)
    }

    /// Rotates a token's query heads and key heads, computing each angle's cosine and sine once.
    public func apply(query q: UnsafeMutablePointer<Float>, heads: Int, key k: UnsafeMutablePointer<Float>,
                      kvHeads: Int, position pos: Int) {
        inverseFrequencies.withUnsafeBufferPointer { freqs in
            for i in 0..<(ropeDim / 2) {
                let angle = Double(pos) * freqs[i]
                let c = Float(cos(angle)), s = Float(sin(angle))
                for h in 0..<heads { rotate(q + h * headDim + 2 * i, c, s) }
                for h in 0..<kvHeads { rotate(k + h * headDim + 2 * i, c, s) }
            }
        }
    }

    @inline(__always) private func rotate(_ p: UnsafeMutablePointer<Float>, _ c: Float, _ s: Float) {
        let a = p[0], b = p[1]
        p[0] = a * c - b * s
        p[1] = a * s + b * c
    }
}
