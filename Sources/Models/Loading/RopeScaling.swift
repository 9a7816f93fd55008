import GGUF

/// `{arch}.rope.scaling.*`: how positions beyond the training context are mapped. Swiftlet applies
/// `none` and `linear`; Llama 3's scaling reaches the model as per-frequency factors in the
/// `rope_freqs.weight` tensor (the converter computes them), so its `llama3` type needs nothing
/// more here. YaRN and other types are refused rather than run with the wrong numbers.
struct RopeScaling {
    /// Positions are divided by this factor (1: no scaling).
    let linearFactor: Double

    init(_ hp: Hyperparameters) throws {
        // As llama.cpp: a factor without a type is linear.
        let type = try hp.string("rope.scaling.type") ?? "linear"
        let factor = try hp.float("rope.scaling.factor") ?? 1
        switch type {
        case "none":
            linearFactor = 1
        case "linear" where factor == 1:
            linearFactor = 1
        case "linear":
            guard factor > 0 else { throw hp.invalid("rope.scaling.factor", Int(factor), "must be positive") }
            linearFactor = Double(factor)
        case "llama3":
            // Applied through rope_freqs.weight.
            linearFactor = 1
        default:
            throw ModelError.invalidHyperparameter(key: hp.key("rope.scaling.type"), value: 0,
                reason: "is '\(type)', which Swiftlet does not support (supported: none, linear, llama3 via rope_freqs)",
                offset: hp.offset("rope.scaling.type"))
        }
    }
}
