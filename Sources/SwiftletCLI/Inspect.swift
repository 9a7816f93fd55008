import ArgumentParser
import GGUF
import Kernels
import Models
import Quant

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a GGUF file's metadata and tensor table, its architecture and the kernel each tensor type runs on.")

    @Argument(help: "Path to a .gguf file.")
    var file: String

    @Option(help: "Array elements shown before an array is summarized.")
    var arrayElements: Int = 8

    func run() throws {
        let gguf = try GGUFFile(path: file)
        print(gguf.describe(maxArrayElements: max(0, arrayElements)), terminator: "")
        print(Self.swiftletSection(gguf), terminator: "")
    }

    /// What Swiftlet makes of the file: its architecture (and whether it is registered) and, per
    /// tensor type, how this build multiplies matrices of that type on the default `auto` backend.
    static func swiftletSection(_ gguf: GGUFFile) -> String {
        var out = "\nSwiftlet (this build)\n"
        let arch = (try? ModelLoader.architecture(of: gguf)) ?? "?"
        let supported = ModelLoader.supportedArchitectures
        out += "  architecture: \(arch) (\(supported.contains(arch) ? "supported" : "NOT supported; supported: \(supported.joined(separator: ", "))"))\n"
        out += "  matmul ISA: \(InterleavedKernels.instructionSet.map { "\($0) kernels on interleaved tiles compiled in" } ?? "portable Swift SIMD (no AVX2, VNNI or NEON dot-product kernels in this build)")\n"
        out += "  tensor types, on the auto backend:\n"
        var counts: [GGMLType: (matrices: Int, vectors: Int)] = [:]
        for t in gguf.tensors {
            var c = counts[t.type] ?? (0, 0)
            if t.dimensions.count >= 2 { c.matrices += 1 } else { c.vectors += 1 }
            counts[t.type] = c
        }
        for (type, c) in counts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let what = "\(c.matrices) matrices, \(c.vectors) vectors"
            out += "    \(type.description.padding(toLength: 6, withPad: " ", startingAt: 0)) \(what.padding(toLength: 26, withPad: " ", startingAt: 0)) \(kernel(for: type, matrices: c.matrices))\n"
        }
        return out
    }

    static func kernel(for type: GGMLType, matrices: Int) -> String {
        guard let e = WeightEncoding(rawValue: type.rawValue) else { return "not loadable (no reader for this type)" }
        if matrices == 0 { return "read as F32" }
        if e == .f32 { return "F32: SIMD dot for one row, BLAS sgemm for batches" }
        guard e.keptInEncoding else { return "dequantized to F32 at load (8–16× its size in memory), F32 kernels" }
        let tiled = InterleavedKernels.vectorized && (InterleavedLayout.tileBytes(e) ?? KQuantTiles.tileBytes(e)) != nil
        let decode = MatmulPlanner.path(.auto, format: e, rows: 1, interleaved: tiled)
        let batch = MatmulPlanner.path(.auto, format: e, rows: 512, interleaved: tiled)
        func name(_ p: MatmulPath) -> String {
            switch p {
            case .interleaved: return "\(InterleavedKernels.instructionSet ?? "?") on 8-row interleaved tiles"
            case .integer: return e.blockSize == 256 ? "integer dot, 8-bit activations per 256 (Q8_K)" : "integer dot, 8-bit activations per 32"
            case .panel: return "F32 panels dequantized per 4 rows"
            case .blas: return "BLAS sgemm on dequantized tiles"
            case .f32: return "F32 SIMD dot"
            case .halfFloat: return "widened 16 at a time, F32 SIMD dot"
            }
        }
        return decode == batch ? name(decode) : "decode: \(name(decode)); batches: \(name(batch))"
    }
}
