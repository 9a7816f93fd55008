import Kernels
import LLMBase

/// Paged key/value storage (vLLM's KV blocks): `blockCount` blocks of `blockSize` positions, per
/// layer. Which block holds which positions of which sequence is the caller's business: a batch
/// carries a block table per sequence (see `LlamaBatch`); one sequence alone uses blocks
/// 0, 1, 2, … in order (`LlamaModel.makeCache`).
///
///   keys[layer][block][kvHead][d][slot]        a block's keys transposed: the slots of one
///                                              dimension are adjacent, so attention scores 16
///                                              positions per vector with no horizontal sums
///   values[layer][block][slot][kvHead·headDim + d]
///
///   position p of a sequence with block table T lives in block T[p / blockSize], slot p % blockSize
///
/// Pages are mapped lazily (`AlignedFloatBuffer`): a pool sized for the worst case costs resident
/// memory only as blocks are written.
public final class LlamaKVCache: @unchecked Sendable {
    public let blockCount: Int
    public let blockSize: Int
    public let layerCount: Int
    public let kvDim: Int
    private let keyStore: AlignedFloatBuffer
    private let valueStore: AlignedFloatBuffer

    /// Positions one sequence can hold when it owns every block.
    public var capacity: Int { blockCount * blockSize }

    public init(config: LlamaConfig, blockCount: Int, blockSize: Int) {
        self.blockCount = blockCount
        self.blockSize = blockSize
        layerCount = config.layerCount
        kvDim = config.kvDim
        keyStore = AlignedFloatBuffer(count: config.layerCount * blockCount * blockSize * config.kvDim)
        valueStore = AlignedFloatBuffer(count: config.layerCount * blockCount * blockSize * config.kvDim)
    }

    /// Bytes of K and V per block across all layers (for sizing a pool from a memory budget).
    public static func bytesPerBlock(config: LlamaConfig, blockSize: Int) -> Int {
        2 * config.layerCount * blockSize * config.kvDim * MemoryLayout<Float>.stride
    }

    /// The transposed keys of `block` in `layer`: element (kvHead·headDim + d, slot) at
    /// `(kvHead·headDim + d)·blockSize + slot`.
    @inline(__always) public func keyBlock(layer: Int, block: Int) -> UnsafeMutablePointer<Float> {
        keyStore.pointer + (layer * blockCount + block) * blockSize * kvDim
    }

    /// Copies every layer's keys and values of `source` into `destination`: a sequence that
    /// continues a shared, partly filled block writes into its own copy (copy-on-write).
    public func copyBlock(_ source: Int, to destination: Int) {
        let n = blockSize * kvDim
        for layer in 0..<layerCount {
            keyBlock(layer: layer, block: destination).update(from: keyBlock(layer: layer, block: source), count: n)
            values(layer: layer, block: destination, slot: 0).update(from: values(layer: layer, block: source, slot: 0), count: n)
        }
    }

    /// Writes one position's keys (kvDim floats) into its slot.
    @inline(__always) public func storeKeys(_ k: UnsafePointer<Float>, layer: Int, block: Int, slot: Int) {
        let base = keyBlock(layer: layer, block: block) + slot
        for e in 0..<kvDim { base[e * blockSize] = k[e] }
    }

    /// Values of `slot` in `block` of `layer`; the block's later slots follow at kvDim strides.
    @inline(__always) public func values(layer: Int, block: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        valueStore.pointer + ((layer * blockCount + block) * blockSize + slot) * kvDim
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
    /// The batch the one-sequence `forward` fills (one sequence, blocks 0, 1, 2, …).
    let singleSequence: LlamaBatch
    /// Upper bound on parallel attention tasks: heads × token groups.
    static let maxTokenGroups = 8

    public init(config c: LlamaConfig, maxTokens: Int, contextCapacity: Int, logitRows: Int, matmul: MatmulContext) {
        self.maxTokens = maxTokens
        self.contextCapacity = contextCapacity
        self.logitRows = logitRows
        self.matmul = matmul
        singleSequence = LlamaBatch(capacity: maxTokens, maxSequences: 1,
                                    maxBlockEntries: (contextCapacity + LlamaModel.contiguousBlockSize - 1) / LlamaModel.contiguousBlockSize)
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
