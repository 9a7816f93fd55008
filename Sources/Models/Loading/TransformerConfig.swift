import GGUF

/// The shape every decoder-only transformer here shares, read from `{arch}.*` metadata and
/// checked against each other: what the paged KV cache, the scratch, the engine and evaluation
/// need to know of a model. An architecture keeps its own extras (RoPE scaling, windows, biases)
/// beside it. Shapes are checked against the tensors by `TensorLoader`.
public struct TransformerConfig: Sendable, Equatable {
    public var layerCount: Int          // {arch}.block_count
    public var hiddenSize: Int          // {arch}.embedding_length
    public var feedForwardSize: Int     // {arch}.feed_forward_length
    public var heads: Int               // {arch}.attention.head_count
    public var kvHeads: Int             // {arch}.attention.head_count_kv (defaults to heads)
    public var headDim: Int             // hiddenSize / heads unless {arch}.attention.key_length says otherwise
    public var ropeDim: Int             // {arch}.rope.dimension_count (defaults to headDim)
    public var ropeBase: Double         // {arch}.rope.freq_base (defaults to 10000)
    public var rmsEpsilon: Float        // {arch}.attention.layer_norm_rms_epsilon (defaults to 1e-5)
    public var contextLength: Int       // {arch}.context_length
    public var vocabularySize: Int      // rows of token_embd.weight ({arch}.vocab_size must agree)

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

    /// Reads and checks the shared hyper-parameters under `hp`'s architecture prefix. Throws
    /// `ModelError` or `GGUFError` (wrong value type).
    public init(_ hp: Hyperparameters) throws {
        layerCount = try hp.required("block_count", limit: 4096)
        hiddenSize = try hp.required("embedding_length")
        feedForwardSize = try hp.required("feed_forward_length")
        heads = try hp.required("attention.head_count", limit: 4096)
        kvHeads = try hp.positive("attention.head_count_kv", limit: 4096) ?? heads
        guard heads % kvHeads == 0 else {
            throw hp.invalid("attention.head_count_kv", kvHeads, "does not divide head_count \(heads)")
        }
        if let keyLength = try hp.positive("attention.key_length", limit: 4096) {
            headDim = keyLength
        } else {
            guard hiddenSize % heads == 0 else {
                throw hp.invalid("attention.head_count", heads, "does not divide embedding_length \(hiddenSize)")
            }
            headDim = hiddenSize / heads
        }
        if let valueLength = try hp.positive("attention.value_length", limit: 4096), valueLength != headDim {
            throw hp.invalid("attention.value_length", valueLength, "differs from the key length \(headDim), which Swiftlet does not support")
        }
        if let rd = try hp.positive("rope.dimension_count") {
            guard rd <= headDim, rd % 2 == 0 else {
                throw hp.invalid("rope.dimension_count", rd, "must be even and at most the head size \(headDim)")
            }
            ropeDim = rd
        } else {
            ropeDim = headDim
        }
        ropeBase = Double(try hp.float("rope.freq_base") ?? 10_000)
        rmsEpsilon = try hp.float("attention.layer_norm_rms_epsilon") ?? 1e-5
        guard ropeBase > 1 else {
            throw hp.invalid("rope.freq_base", Int(ropeBase), "must be a finite number above 1")
        }
        guard rmsEpsilon > 0, rmsEpsilon < 1 else {
            throw hp.invalid("attention.layer_norm_rms_epsilon", 0, "must be in (0, 1)")
        }
        contextLength = try hp.required("context_length", limit: 1 << 24)

        let gguf = hp.gguf
        guard let embedding = gguf.tensor(named: "token_embd.weight") else { throw ModelError.missingTensor("token_embd.weight") }
        guard embedding.dimensions.count == 2, embedding.dimensions[0] == hiddenSize else {
            throw ModelError.shapeMismatch(tensor: embedding.name, expected: [hiddenSize, embedding.dimensions.last ?? 0],
                                           found: embedding.dimensions, offset: embedding.infoOffset)
        }
        vocabularySize = embedding.dimensions[1]
        if let declared = try gguf.integer(hp.key("vocab_size")), declared != vocabularySize {
            throw hp.invalid("vocab_size", declared, "contradicts token_embd.weight, which has \(vocabularySize) rows")
        }
    }
}
