import Foundation
import GGUF
import LLMBase
import Quant

/// Re-quantizes a GGUF model: every 2-D weight whose rows are whole blocks becomes `target`
/// (round-to-nearest, GGUF's reference quantizers), 1-D tensors (norms) stay F32, metadata is
/// copied with `general.file_type` updated. The output is a valid GGUF (alignment, offsets) that
/// Swiftlet and llama.cpp both read.
///
/// Exception, as llama.cpp makes it: for 4-bit targets the output projection (`output.weight`, or
/// the token embedding when it is tied) becomes Q8_0, because it is the most sensitive matrix of a
/// small model. (llama.cpp picks Q6_K there, which Swiftlet does not implement; the reference
/// Q4_0 outputs in ../shared/reference were made this way too.)
public enum Quantizer {
    public enum Target: String, CaseIterable, Sendable {
        case q8_0, q4_0, q4_1, f16, f32

        public var type: GGMLType {
            switch self {
            case .q8_0: return .q8_0
            case .q4_0: return .q4_0
            case .q4_1: return .q4_1
            case .f16: return .f16
            case .f32: return .f32
            }
        }

        /// llama.cpp's `llama_ftype` for `general.file_type`.
        var fileType: UInt32 {
            switch self {
            case .f32: return 0
            case .f16: return 1
            case .q4_0: return 2
            case .q4_1: return 3
            case .q8_0: return 7
            }
        }
    }

    public struct Report: Sendable {
        public let inputBytes: Int
        public let outputBytes: Int
        public let weightBytes: Int
        public let weightCount: Int
        public let convertedTensors: Int
        public let keptTensors: Int
        public var bitsPerWeight: Double { weightCount > 0 ? Double(weightBytes) * 8 / Double(weightCount) : 0 }
    }

    public enum QuantizeError: Error, CustomStringConvertible, Equatable {
        case sameFile(String)
        case unsupportedSourceType(tensor: String, type: GGMLType)

        public var description: String {
            switch self {
            case .sameFile(let p): return "refusing to overwrite the input: \(p) is the file being quantized"
            case .unsupportedSourceType(let t, let type): return "tensor '\(t)' has type \(type), which Swiftlet cannot read to re-quantize"
            }
        }
    }

    public static func quantize(input: String, output: String, to target: Target) throws -> Report {
        if sameFile(input, output) { throw QuantizeError.sameFile(output) }
        let gguf = try GGUFFile(path: input)
        var writer = GGUFWriter(alignment: gguf.alignment)
        for kv in gguf.metadata where kv.key != "general.alignment" {
            writer.add(kv.key, kv.key == "general.file_type" ? .uint32(target.fileType) : kv.value)
        }
        if gguf.value("general.file_type") == nil { writer.add("general.file_type", .uint32(target.fileType)) }

        var weightBytes = 0, weightCount = 0, converted = 0, kept = 0
        var scratch: [Float] = []
        for t in gguf.tensors {
            let source = try encoding(of: t)
            let isWeight = t.dimensions.count == 2 && (target.type.blockSize == 1 || t.rowLength % target.type.blockSize == 0)
            let outType: GGMLType = isWeight ? weightType(t.name, target: target, tiedOutput: gguf.tensor(named: "output.weight") == nil) : .f32
            let data: [UInt8]
            if outType == t.type {
                data = Array(gguf.data(for: t))
            } else {
                scratch = [Float](repeating: 0, count: t.elementCount)
                scratch.withUnsafeMutableBufferPointer { dequantize(source, gguf.data(for: t).baseAddress!, into: $0.baseAddress!, count: t.elementCount) }
                data = encode(scratch, as: outType)
            }
            if isWeight { weightBytes += data.count; weightCount += t.elementCount; converted += 1 } else { kept += 1 }
            writer.addTensor(name: t.name, type: outType, dimensions: t.dimensions, data: data)
        }
        try writer.write(to: output)
        let outSize = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? nil
        return Report(inputBytes: gguf.fileSize, outputBytes: outSize ?? 0, weightBytes: weightBytes,
                      weightCount: weightCount, convertedTensors: converted, keptTensors: kept)
    }

    /// The type holding most of a file's 2-D weights (its precision as a quantization source), and
    /// whether that is full precision (F32, F16, BF16).
    public static func mainWeightType(_ gguf: GGUFFile) -> (type: GGMLType, fullPrecision: Bool)? {
        var elements: [GGMLType: Int] = [:]
        for t in gguf.tensors where t.dimensions.count == 2 { elements[t.type, default: 0] += t.elementCount }
        guard let main = elements.max(by: { $0.value < $1.value })?.key else { return nil }
        return (main, main == .f32 || main == .f16 || main == .bf16)
    }

    /// The type a 2-D weight gets: `target`, except the output projection at 4-bit targets.
    static func weightType(_ name: String, target: Target, tiedOutput: Bool) -> GGMLType {
        let isOutput = name == "output.weight" || (tiedOutput && name == "token_embd.weight")
        if isOutput && (target == .q4_0 || target == .q4_1) { return .q8_0 }
        return target.type
    }

    /// Encodes F32 values as `type` (F32, F16 or a block format), row-major whole blocks.
    public static func encode(_ values: [Float], as type: GGMLType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count / type.blockSize * type.blockBytes)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                let n = values.count
                switch type {
                case .f32: d.copyMemory(from: s, byteCount: n * 4)
                case .f16: for i in 0..<n { d.storeBytes(of: halfBitsFromFloat(s[i]), toByteOffset: 2 * i, as: UInt16.self) }
                case .q8_0: Q8_0.quantize(s, into: d, count: n)
                case .q4_0: Q4_0.quantize(s, into: d, count: n)
                case .q4_1: Q4_1.quantize(s, into: d, count: n)
                default: preconditionFailure("no encoder for \(type)")
                }
            }
        }
        return bytes
    }

    static func encoding(of t: GGUFTensorInfo) throws -> WeightEncoding {
        guard let e = t.weightEncoding else { throw QuantizeError.unsupportedSourceType(tensor: t.name, type: t.type) }
        return e
    }

    /// True when both paths name the same existing file (same device and inode), or the same path.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return URL(fileURLWithPath: a).standardizedFileURL.path == URL(fileURLWithPath: b).standardizedFileURL.path
    }
}
