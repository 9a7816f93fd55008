import GGUF

/// Hyper-parameters of a Llama-architecture model, read from `llama.*` metadata and checked
/// against each other. Shapes are checked against the tensors by `LlamaWeights`.
public struct LlamaConfig: Sendable, Equatable {
    public var layerCount: Int          // llama.block_count
    public var hiddenSize: Int          // llama.embedding_length
    public var feedForwardSize: Int     // llama.feed_forward_length
    public var heads: Int               // llama.attention.head_count
    public var kvHeads: Int             // llama.attention.head_count_kv (defaults to heads)
    public var headDim: Int             // hiddenSize / heads unless llama.attention.key_length says otherwise
    public var ropeDim: Int             // llama.rope.dimension_count (defaults to headDim)
    public var ropeBase: Double         // llama.rope.freq_base (defaults to 10000)
    public var rmsEpsilon: Float        // llama.attention.layer_norm_rms_epsilon (defaults to 1e-5)
    public var contextLength: Int       // llama.context_length
    public var vocabularySize: Int      // rows of token_embd.weight (llama.vocab_size must agree)

    public var queryDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }

    public init(layerCount: Int, hiddenSize: Int, feedForwardSize: Int, heads: Int, kvHeads: Int,
                headDim: Int, ropeDim: Int, ropeBase: Double, rmsEpsilon: Float, contextLength: Int,
                vocabularySize: Int) {
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.feedForwardSize = feedForwardSize
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ropeDim = ropeDim
        self.ropeBase = ropeBase
        self.rmsEpsilon = rmsEpsilon
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    /// Reads and checks the hyper-parameters. Throws `ModelError` or `GGUFError` (wrong value type).
    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture") ?? "llama"
        guard arch == "llama" else {
            throw ModelError.unsupportedArchitecture(arch, offset: gguf.value("general.architecture")?.offset ?? 0)
        }
        func required(_ suffix: String) throws -> (Int, Int) {
            let key = "llama.\(suffix)"
            guard let v = try gguf.integer(key), let kv = gguf.value(key) else { throw ModelError.missingKey(key) }
            return (v, kv.offset)
        }
        func positive(_ suffix: String, _ v: (Int, Int), limit: Int = 1 << 20) throws -> Int {
            guard v.0 > 0 else {
                throw ModelError.invalidHyperparameter(key: "llama.\(suffix)", value: v.0, reason: "must be positive", offset: v.1)
            }
            guard v.0 <= limit else {
                throw ModelError.invalidHyperparameter(key: "llama.\(suffix)", value: v.0, reason: "is implausibly large (limit \(limit))", offset: v.1)
            }
            return v.0
        }
        layerCount = try positive("block_count", try required("block_count"), limit: 4096)
        hiddenSize = try positive("embedding_length", try required("embedding_length"))
        feedForwardSize = try positive("feed_forward_length", try required("feed_forward_length"))
        let headsKV = try required("attention.head_count")
        heads = try positive("attention.head_count", headsKV, limit: 4096)
        if let kv = try gguf.integer("llama.attention.head_count_kv") {
            kvHeads = try positive("attention.head_count_kv", (kv, gguf.value("llama.attention.head_count_kv")!.offset), limit: 4096)
        } else {
            kvHeads = heads
        }
        guard heads % kvHeads == 0 else {
            throw ModelError.invalidHyperparameter(key: "llama.attention.head_count_kv", value: kvHeads,
                reason: "does not divide head_count \(heads)", offset: gguf.value("llama.attention.head_count_kv")?.offset ?? 0)
        }
        if let keyLength = try gguf.integer("llama.attention.key_length") {
            headDim = try positive("attention.key_length", (keyLength, gguf.value("llama.attention.key_length")!.offset), limit: 4096)
        } else {
            guard hiddenSize % heads == 0 else {
                throw ModelError.invalidHyperparameter(key: "llama.attention.head_count", value: heads,
                    reason: "does not divide embedding_length \(hiddenSize)", offset: headsKV.1)
            }
            headDim = hiddenSize / heads
        }
        if let rd = try gguf.integer("llama.rope.dimension_count") {
            let off = gguf.value("llama.rope.dimension_count")!.offset
            ropeDim = try positive("rope.dimension_count", (rd, off))
            guard ropeDim <= headDim, ropeDim % 2 == 0 else {
                throw ModelError.invalidHyperparameter(key: "llama.rope.dimension_count", value: rd,
                    reason: "must be even and at most the head size \(headDim)", offset: off)
            }
        } else {
            ropeDim = headDim
        }
        ropeBase = Double(try gguf.float("llama.rope.freq_base") ?? 10_000)
        rmsEpsilon = try gguf.float("llama.attention.layer_norm_rms_epsilon") ?? 1e-5
        guard ropeBase.isFinite, ropeBase > 1 else {
            throw ModelError.invalidHyperparameter(key: "llama.rope.freq_base", value: Int(ropeBase.isFinite ? ropeBase : -1),
                reason: "must be a finite number above 1", offset: gguf.value("llama.rope.freq_base")?.offset ?? 0)
        }
        guard rmsEpsilon.isFinite, rmsEpsilon > 0, rmsEpsilon < 1 else {
            throw ModelError.invalidHyperparameter(key: "llama.attention.layer_norm_rms_epsilon", value: 0,
                reason: "must be in (0, 1)", offset: gguf.value("llama.attention.layer_norm_rms_epsilon")?.offset ?? 0)
        }
        contextLength = try positive("context_length", try required("context_length"), limit: 1 << 24)

        guard let embedding = gguf.tensor(named: "token_embd.weight") else { throw ModelError.missingTensor("token_embd.weight") }
        guard embedding.dimensions.count == 2, embedding.dimensions[0] == hiddenSize else {
            throw ModelError.shapeMismatch(tensor: embedding.name, expected: [hiddenSize, embedding.dimensions.last ?? 0],
                                           found: embedding.dimensions, offset: embedding.infoOffset)
        }
        vocabularySize = embedding.dimensions[1]
        if let declared = try gguf.integer("llama.vocab_size"), declared != vocabularySize {
            throw ModelError.invalidHyperparameter(key: "llama.vocab_size", value: declared,
                reason: "contradicts token_embd.weight, which has \(vocabularySize) rows", offset: gguf.value("llama.vocab_size")!.offset)
        }
    }
}
