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
    let gate: AlignedFloatBuffer       // [feedForwardRows, ffn]
    let up: AlignedFloatBuffer         // [feedForwardRows, ffn]
    let scores: AlignedFloatBuffer     // [2 · heads · token groups, context] score rows of the parallel tasks
    let logitStore: AlignedFloatBuffer // [logitRows, vocab]
    let contextCapacity: Int
    /// Rows of logits a pass may return (all tokens' when asked, else one).
    public let logitRows: Int
    let matmul: MatmulContext

    /// Passes compute each row exactly as a one-token pass would (`MatmulContext.singleRowNumerics`):
    /// speculative checks set it, so their logits are those of plain decode steps.
    public var singleRowNumerics: Bool {
        get { matmul.singleRowNumerics }
        set { matmul.singleRowNumerics = newValue }
    }
    /// Score only these token ids (a draft model's frequent tokens); nil: the whole vocabulary.
    public var logitSubset: LogitSubset?
    /// The batch the one-sequence `forward` fills (one sequence, blocks 0, 1, 2, …).
    let singleSequence: ForwardBatch
    /// Upper bound on parallel attention tasks: heads × token groups.
    static let maxTokenGroups = 8
    /// The feed-forward block runs a long batch this many tokens at a time: its two hidden
    /// activations are the widest scratch (2 × 512 × 8,960 floats = 37 MB for a 512-token prompt of
    /// Qwen2.5 1.5B), and weights re-read per chunk of 128 rows stay a few percent of the time.
    static let feedForwardChunk = 128
    let feedForwardRows: Int

    public init(config c: TransformerConfig, maxTokens: Int, contextCapacity: Int, logitRows: Int, matmul: MatmulContext) {
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
        feedForwardRows = min(maxTokens, Self.feedForwardChunk)
        gate = AlignedFloatBuffer(count: feedForwardRows * c.feedForwardSize)
        up = AlignedFloatBuffer(count: feedForwardRows * c.feedForwardSize)
        scores = AlignedFloatBuffer(count: 2 * c.heads * Self.maxTokenGroups * contextCapacity)
        logitStore = AlignedFloatBuffer(count: logitRows * c.vocabularySize)
    }

    /// Logits of row `row` of the last forward pass (rows are the batch's tokens, or just one row
    /// for the last token when all logits were not asked for).
    public func logits(row: Int, vocabularySize: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logitStore.pointer + row * vocabularySize, count: vocabularySize)
    }
}
