import GGUF
import Quant

extension GGUFTensorInfo {
    /// The tensor's storage as the dequantizers know it; nil for types Swiftlet cannot read
    /// (K-quants, Q5 formats, integer tensors).
    public var weightEncoding: WeightEncoding? {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        default: return nil
        }
    }
}
