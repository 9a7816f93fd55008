import Kernels
import LLMBase

/// A contiguous key/value cache for one sequence: for each layer, `capacity` positions of
/// kvHeads·headDim floats. (The paged, many-sequence cache is the engine's.)
///
///   keys[layer][position][kvHead·headDim + d]
public final class LlamaKVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    private let keyStore: AlignedFloatBuffer
    private let valueStore: AlignedFloatBuffer

    public init(config: LlamaConfig, capacity: Int) {
        self.capacity = capacity
        layerCount = config.layerCount
        kvDim = config.kvDim
        keyStore = AlignedFloatBuffer(count: config.layerCount * capacity * config.kvDim)
        valueStore = AlignedFloatBuffer(count: config.layerCount * capacity * config.kvDim)
    }

    @inline(__always) public func keys(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keyStore.pointer + (layer * capacity + position) * kvDim
    }
    @inline(__always) public func values(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        valueStore.pointer + (layer * capacity + position) * kvDim
    }
}

/// Activations for a batch of up to `maxTokens` tokens, allocated once (llama2.c's RunState).
/// `forward` writes only into these.
public final class LlamaScratch: @unchecked Sendable {
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
    let scores: AlignedFloatBuffer     // [attentionTasks, context] scores, one row per parallel task
    let logitStore: AlignedFloatBuffer // [logitRows, vocab]
    let contextCapacity: Int
    /// Rows of logits a pass may return (all tokens' when asked, else one).
    public let logitRows: Int
    let matmul: MatmulContext
    /// Upper bound on parallel attention tasks: heads × token groups.
    static let maxTokenGroups = 8

    public init(config c: LlamaConfig, maxTokens: Int, contextCapacity: Int, logitRows: Int, matmul: MatmulContext) {
        self.maxTokens = maxTokens
        self.contextCapacity = contextCapacity
        self.logitRows = logitRows
        self.matmul = matmul
        x = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        xNorm = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        q = AlignedFloatBuffer(count: maxTokens * c.queryDim)
        k = AlignedFloatBuffer(count: maxTokens * c.kvDim)
        v = AlignedFloatBuffer(count: maxTokens * c.kvDim)
        attention = AlignedFloatBuffer(count: maxTokens * c.queryDim)
        projected = AlignedFloatBuffer(count: maxTokens * c.hiddenSize)
        gate = AlignedFloatBuffer(count: maxTokens * c.feedForwardSize)
        up = AlignedFloatBuffer(count: maxTokens * c.feedForwardSize)
        scores = AlignedFloatBuffer(count: c.heads * Self.maxTokenGroups * contextCapacity)
        logitStore = AlignedFloatBuffer(count: logitRows * c.vocabularySize)
    }

    /// Logits of row `row` of the last forward pass (rows are the batch's tokens, or just one row
    /// for the last token when all logits were not asked for).
    public func logits(row: Int, vocabularySize: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logitStore.pointer + row * vocabularySize, count: vocabularySize)
    }
}
