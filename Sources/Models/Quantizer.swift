import Foundation
import GGUF
import LLMBase
import Quant

/// Re-quantizes a GGUF model, as llama.cpp's `llama-quantize` does without an importance matrix:
/// every 2-D weight becomes the target's type (GGUF's reference quantizers, byte-identical to
/// llama.cpp's `quantize_row_*_ref`), 1-D tensors (norms) stay F32, metadata is copied with
/// `general.file_type` set to llama.cpp's `llama_ftype` number. The output is a valid GGUF
/// (alignment, offsets) that Swiftlet and llama.cpp both read.
///
/// Which type each weight gets follows llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp)
/// for the targets that exist there (see `tensorTypes`): the output projection (`output.weight`, or
/// the token embedding when it is tied) becomes Q6_K, the K-quant mixes (`_m`) give attn_v and
/// ffn_down more bits on some layers, and a weight whose rows are not whole 256-blocks falls back
/// to a 32-block type. One exception is older than the K-quants: for q4_0 and q4_1 the output
/// projection becomes Q8_0 (llama.cpp picks Q6_K; the reference Q4_0 outputs in ../shared/reference
/// were made with Q8_0 there, and those targets keep it).
public enum Quantizer {
    /// The targets, from most to fewest bits per weight. The K-quant names are llama.cpp's:
    /// q4_k, q5_k and q6_k are its Q4_K_S, Q5_K_S and Q6_K (its bare "Q4_K" and "Q5_K" are aliases
    /// of the _M mixes; here they are the _S recipes, mostly one type); q4_k_m, q5_k_m, q3_k_m the
    /// mixes; q2_k its Q2_K (itself a mix: attn_v, attn_output and ffn_down in Q3_K or Q4_K).
    public enum Target: String, CaseIterable, Sendable {
        case f32, f16, q8_0, q6_k, q5_k_m, q5_k, q5_1, q5_0, q4_k_m, q4_k, q4_1, q4_0, q3_k_m, q2_k

        /// The type of most weights (llama.cpp's `llama_ftype_get_default_type`).
        public var type: GGMLType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .q8_0: return .q8_0
            case .q6_k: return .q6_K
            case .q5_k_m, .q5_k: return .q5_K
            case .q5_1: return .q5_1
            case .q5_0: return .q5_0
            case .q4_k_m, .q4_k: return .q4_K
            case .q4_1: return .q4_1
            case .q4_0: return .q4_0
            case .q3_k_m: return .q3_K
            case .q2_k: return .q2_K
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
            case .q5_0: return 8
            case .q5_1: return 9
            case .q2_k: return 10
            case .q3_k_m: return 12
            case .q4_k: return 14      // LLAMA_FTYPE_MOSTLY_Q4_K_S
            case .q4_k_m: return 15
            case .q5_k: return 16      // LLAMA_FTYPE_MOSTLY_Q5_K_S
            case .q5_k_m: return 17
            case .q6_k: return 18
            }
        }

        /// What `swiftlet quantize --help` says of each target (bits per weight of the main type).
        public var summary: String {
            switch self {
            case .f32: return "F32"
            case .f16: return "F16"
            case .q8_0: return "Q8_0, 8.5 bpw"
            case .q6_k: return "Q6_K, 6.56 bpw (llama.cpp Q6_K)"
            case .q5_k_m: return "Q5_K; about half of attn_v, ffn_down Q6_K (llama.cpp Q5_K_M)"
            case .q5_k: return "Q5_K, 5.5 bpw (llama.cpp Q5_K_S)"
            case .q5_1: return "Q5_1, 6 bpw"
            case .q5_0: return "Q5_0, 5.5 bpw"
            case .q4_k_m: return "Q4_K; about half of attn_v, ffn_down Q6_K (llama.cpp Q4_K_M)"
            case .q4_k: return "Q4_K, 4.5 bpw; first attn_v, ffn_down Q5_K (llama.cpp Q4_K_S)"
            case .q4_1: return "Q4_1, 5 bpw; output Q8_0 (llama.cpp: Q6_K)"
            case .q4_0: return "Q4_0, 4.5 bpw; output Q8_0 (llama.cpp: Q6_K)"
            case .q3_k_m: return "Q3_K; attention, ffn_down Q4_K/Q5_K (llama.cpp Q3_K_M)"
            case .q2_k: return "Q2_K; attn_v, attn_output, ffn_down Q3_K/Q4_K (llama.cpp Q2_K)"
            }
        }

        /// Whether the tensor types follow llama.cpp's rules (every target llama.cpp has with the
        /// same output rule; q4_0 and q4_1 keep Swiftlet's Q8_0 output, f16 and f32 are uniform).
        var followsLlamaCpp: Bool { ![.f32, .f16, .q4_0, .q4_1].contains(self) }
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
        // llama.cpp stamps its quantization format version (GGML_QNT_VERSION) on every file it writes.
        if gguf.value("general.quantization_version") == nil { writer.add("general.quantization_version", .uint32(2)) }

        let types = try tensorTypes(gguf, target: target)
        var weightBytes = 0, weightCount = 0, converted = 0, kept = 0
        var scratch: [Float] = []
        for t in gguf.tensors {
            let source = try encoding(of: t)
            let isWeight = types[t.name] != nil
            let outType = types[t.name] ?? .f32
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

    /// A file as a quantization source, from its 2-D weights in one pass: the type holding most of
    /// them, whether that is full precision (F32, F16, BF16), and the bits per weight over them all.
    public static func mainWeightType(_ gguf: GGUFFile) -> (type: GGMLType, fullPrecision: Bool, bitsPerWeight: Double)? {
        var elements: [GGMLType: Int] = [:]
        var bytes = 0, count = 0
        for t in gguf.tensors where t.dimensions.count == 2 {
            elements[t.type, default: 0] += t.elementCount
            bytes += gguf.data(for: t).count
            count += t.elementCount
        }
        guard let main = elements.max(by: { $0.value < $1.value })?.key else { return nil }
        return (main, main == .f32 || main == .f16 || main == .bf16, Double(bytes * 8) / Double(count))
    }

    /// The type of every weight `quantize` converts, by tensor name; tensors absent from the map
    /// (norms, biases, anything 1-D) are written as F32.
    ///
    /// For the targets llama.cpp has (`Target.followsLlamaCpp`), this is its `llama_tensor_get_type`
    /// without an importance matrix or user overrides, restricted to the architectures Swiftlet
    /// loads (no Falcon, no mixture of experts, so those branches are left out). The weights are
    /// visited in llama.cpp's order (by layer number, then by name: its `weight_name_comparer`),
    /// because its per-layer rules count attn_v tensors as they are visited.
    public static func tensorTypes(_ gguf: GGUFFile, target: Target) throws -> [String: GGMLType] {
        let weights = gguf.tensors.filter(isQuantizableWeight)
        var types: [String: GGMLType] = [:]
        guard target.followsLlamaCpp else {
            let tied = gguf.tensor(named: "output.weight") == nil
            for t in weights where target.type.blockSize == 1 || t.rowLength % target.type.blockSize == 0 {
                let isOutput = t.name == "output.weight" || (tied && t.name == "token_embd.weight")
                types[t.name] = isOutput && (target == .q4_0 || target == .q4_1) ? .q8_0 : target.type
            }
            return types
        }
        var recipe = try Recipe(gguf, target: target)
        for t in weights.sorted(by: llamaCppOrder) { types[t.name] = recipe.type(of: t.name, rowLength: t.rowLength) }
        return types
    }

    /// llama.cpp's `tensor_allows_quantization`, for the tensors Swiftlet's architectures have:
    /// 2-D tensors named "…weight", except norms.
    static func isQuantizableWeight(_ t: GGUFTensorInfo) -> Bool {
        t.dimensions.count == 2 && t.name.hasSuffix("weight") && !t.name.contains("_norm.weight")
    }

    /// llama.cpp's `weight_name_comparer`: by the layer number of "blk.N." (−1 for other tensors),
    /// then by name.
    static func llamaCppOrder(_ a: GGUFTensorInfo, _ b: GGUFTensorInfo) -> Bool {
        let la = layerNumber(a.name) ?? -1, lb = layerNumber(b.name) ?? -1
        return la != lb ? la < lb : a.name < b.name
    }

    static func layerNumber(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0.isNumber })
    }

    /// llama.cpp's `llama_tensor_get_type_impl` and `tensor_type_fallback` for one target, with the
    /// model facts they read and the counters they keep.
    struct Recipe {
        let target: Target
        /// n_layer: the ffn_down rules index layers out of this.
        let layers: Int
        /// n_head / n_head_kv of layer 0 (llama.cpp's `n_gqa()`).
        let gqa: Int
        /// No output.weight: the token embedding is the output projection.
        let tiedOutput: Bool
        /// llama.cpp's LLM_TYPE_70B (80 layers, Llama with grouped KV heads or Qwen2): attn_v gets Q5_K.
        let is70B: Bool
        /// attn_v-like tensors (attn_v, attn_qkv, attn_kv_b) in the file, and those seen so far.
        let attentionVCount: Int
        var attentionVSeen = 0
        var ffnDownSeen = 0

        init(_ gguf: GGUFFile, target: Target) throws {
            self.target = target
            let arch = try gguf.string("general.architecture") ?? ""
            func first(_ key: String) throws -> Int? {
                if let entry = gguf.value(key), case .array(let array) = entry.value {
                    switch array {
                    case .uint32(let v): return v.first.map(Int.init)
                    case .int32(let v): return v.first.map(Int.init)
                    default: return nil
                    }
                }
                return try gguf.integer(key)
            }
            let heads = try first("\(arch).attention.head_count") ?? 0
            let kvHeads = try first("\(arch).attention.head_count_kv") ?? heads
            layers = try gguf.integer("\(arch).block_count") ?? 0
            gqa = kvHeads > 0 ? heads / kvHeads : 0
            tiedOutput = gguf.tensor(named: "output.weight") == nil
            is70B = layers == 80 && ((arch == "llama" && heads != kvHeads) || arch == "qwen2")
            attentionVCount = gguf.tensors.filter { Self.isAttentionV($0.name) }.count
        }

        static func isAttentionV(_ name: String) -> Bool {
            name.contains("attn_v.weight") || name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight")
        }

        /// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third
        /// layer between them.
        static func useMoreBits(_ i: Int, _ n: Int) -> Bool {
            i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
        }

        /// The type of the next weight in llama.cpp's order.
        mutating func type(of name: String, rowLength: Int) -> GGMLType {
            var type = target.type
            let isOutput = name == "output.weight"
            let isTokenEmbedding = name == "token_embd.weight" || name == "per_layer_token_embd.weight"
            if isOutput || (tiedOutput && isTokenEmbedding) {
                // The output projection is the most sensitive matrix: 6 bits at every K-quant level.
                if rowLength % type.blockSize != 0 { type = .q8_0 } else if type != .q8_0 { type = .q6_K }
            } else if isTokenEmbedding {
                // An untied embedding keeps the target type (its rows are looked up, not multiplied).
            } else if Self.isAttentionV(name) {
                // attn_v is small (grouped KV heads) and sensitive: more bits cost little.
                switch target {
                case .q2_k: type = gqa >= 4 ? .q4_K : .q3_K
                case .q3_k_m: type = attentionVSeen < 2 ? .q5_K : .q4_K
                case .q4_k_m, .q5_k_m: if Self.useMoreBits(attentionVSeen, attentionVCount) { type = .q6_K }
                case .q4_k: if attentionVSeen < 4 { type = .q5_K }
                default: break
                }
                if is70B && (type == .q3_K || type == .q4_K) { type = .q5_K }
                attentionVSeen += 1
            } else if name.contains("ffn_down") {
                // llama.cpp counts ffn_down tensors as layers (one per layer in a dense model).
                let i = ffnDownSeen, n = layers
                switch target {
                case .q2_k: type = .q3_K
                case .q3_k_m: type = i < n / 16 ? .q5_K : .q4_K
                case .q4_k_m, .q5_k_m: if Self.useMoreBits(i, n) { type = .q6_K }
                case .q4_k: if i < n / 8 { type = .q5_K }
                default: break
                }
                ffnDownSeen += 1
            } else if name.contains("attn_output.weight") {
                switch target {
                case .q2_k: type = .q3_K
                case .q3_k_m: type = .q4_K
                default: break
                }
            }
            return Self.fallback(type, rowLength: rowLength)
        }

        /// llama.cpp's `tensor_type_fallback`: rows that are not whole 256-blocks take the
        /// 32-block type of about the same size, and rows that are not whole 32-blocks F16.
        static func fallback(_ type: GGMLType, rowLength: Int) -> GGMLType {
            guard rowLength % type.blockSize != 0 else { return type }
            let smaller: GGMLType
            switch type {
            case .q2_K, .q3_K: smaller = .q4_0
            case .q4_K: smaller = .q5_0
            case .q5_K: smaller = .q5_1
            case .q6_K: smaller = .q8_0
            default: smaller = type
            }
            return rowLength % smaller.blockSize == 0 ? smaller : .f16
        }
    }

    /// Encodes F32 values as `type` (F32, F16 or a block format with a quantizer), row-major whole
    /// blocks. Large tensors are split into block ranges quantized on all cores: every quantizer
    /// works block by block, so the bytes are those of one pass.
    public static func encode(_ values: [Float], as type: GGMLType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count / type.blockSize * type.blockBytes)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                let n = values.count
                switch type {
                case .f32: d.copyMemory(from: s, byteCount: n * 4)
                case .f16: for i in 0..<n { d.storeBytes(of: halfBitsFromFloat(s[i]), toByteOffset: 2 * i, as: UInt16.self) }
                default:
                    guard let format = WeightEncoding(rawValue: type.rawValue)?.format as? any QuantizableFormat.Type else {
                        preconditionFailure("no encoder for \(type)")
                    }
                    let blocks = n / type.blockSize
                    let chunks = min(ProcessInfo.processInfo.activeProcessorCount * 4, max(1, blocks / 1024))
                    let source = Unchecked(s), destination = Unchecked(d), quantizer = Unchecked(format)
                    DispatchQueue.concurrentPerform(iterations: chunks) { c in
                        let first = blocks * c / chunks, end = blocks * (c + 1) / chunks
                        quantizer.value.quantize(source.value + first * type.blockSize, into: destination.value + first * type.blockBytes,
                                                 count: (end - first) * type.blockSize)
                    }
                }
            }
        }
        return bytes
    }

    /// What the chunks of `encode` share: the buffers (each chunk reads and writes its own range)
    /// and the format, a stateless metatype.
    private struct Unchecked<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
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
