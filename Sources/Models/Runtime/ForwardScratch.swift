import Kernels
import LLMBase

/// Activations for a batch of up to `maxTokens` tokens, allocated once (llama2.c's RunState), sized
/// from the model's `TransformerConfig` so that every architecture uses the same type. `forward`
/// writes only into these.
public final class ForwardScratch: @unchecked Sendable {
    public let maxTokens: Int
    let x: AlignedFloatBuffer          // [n, hidden] residual stream
    let xNorm: AlignedFloatBuffer      // [n, hidden] normed input of a sub-block
    let q: AlignedFloatBuffer          // [n, heads·headDim]
    let k: AlignedFloatBuffer          // [n, kvHeads·headDim]
    let v: AlignedFloatBuffer          // [n, kvHeads·headDim]
    let attention: AlignedFloatBuffer  // [n, heads·headDim] attention output before wo
    let projected: AlignedFloatBuffer  // [n, hidden] output of wo or w_down
    let gate: AlignedFloatBuffer       // [n, ffn]
    let up: AlignedFloatBuffer         // [n, ffn]
    let fused: AlignedFloatBuffer      // [n, fusedWidth] output of a fused matmul (Phi-3), else empty
    let scores: AlignedFloatBuffer     // [2 · heads · token groups, context] score rows of the parallel tasks
    let logitStore: AlignedFloatBuffer // [logitRows, vocab]
    let contextCapacity: Int
    /// Rows of logits a pass may return (all tokens' when asked, else one).
    public let logitRows: Int
    let matmul: MatmulContext
    /// The batch the one-sequence `forward` fills (one sequence, blocks 0, 1, 2, …).
    let singleSequence: ForwardBatch
    /// Upper bound on parallel attention tasks: heads × token groups.
    static let maxTokenGroups = 8

    public init(config c: TransformerConfig, maxTokens: Int, contextCapacity: Int, logitRows: Int, matmul: MatmulContext,
                fusedWidth: Int = 0) {
        self.maxTokens = maxTokens
        self.contextCapacity = contextCapacity
        self.logitRows = logitRows
        self.matmul = matmul
        singleSequence = ForwardBatch(capacity: maxTokens, maxSequences: 1,
                                    maxBlockEntries: (contextCapacity + PagedKVCache.contiguousBlockSize - 1) / PagedKVCache.contiguousBlockSize)
        x = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        xNorm = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        q = AlignedFloatBuffer(count: maxTokens * c.queryDim)
        k = AlignedFloatBuffer(count: maxTokens * c.kvDim)
        v = AlignedFloatBuffer(count: maxTokens * c.kvDim)
        attention = AlignedFloatBuffer(count: maxTokens * c.queryDim)
        projected = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        gate = AlignedFloatBuffer(count: maxTokens * c.feedForwardSize)
        up = AlignedFloatBuffer(count: maxTokens * c.feedForwardSize)
        fused = AlignedFloatBuffer(count: maxTokens * fusedWidth)
        scores = AlignedFloatBuffer(count: 2 * c.heads * Self.maxTokenGroups * contextCapacity)
        logitStore = AlignedFloatBuffer(count: logitRows * c.vocabularySize)
    }

    /// Logits of row `row` of the last forward pass (rows are the batch's tokens, or just one row
    /// for the last token when all logits were not asked for).
    public func logits(row: Int, vocabularySize: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logitStore.pointer + row * vocabularySize, count: vocabularySize)
    }
}
