import GGUF
import Quant

extension GGUFTensorInfo {
    /// The tensor's storage as the dequantizers know it; nil for types Swiftlet cannot read
    /// (integer tensors, Q8_1, Q8_K).
    public var weightEncoding: WeightEncoding? { WeightEncoding(rawValue: type.rawValue) }
}
