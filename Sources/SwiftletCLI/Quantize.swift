import ArgumentParser
import Foundation
import Models

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-quantize a GGUF model: 2-D weights to the chosen type or mix, norms stay F32.",
        discussion: """
            Types, most bits first (tensor by tensor as llama.cpp's llama-quantize chooses them \
            without an importance matrix; its reference quantizers, byte for byte):
            \(Quantizer.Target.allCases.map { "  \($0.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \($0.summary)" }.joined(separator: "\n"))

            Below Q8_0 the output projection (or the tied token embedding) is Q6_K, except \
            for q4_0 and q4_1. Weights whose rows are not whole 256-blocks fall back as in \
            llama.cpp: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, Q2_K and Q3_K to Q4_0. \
            Swiftlet has no kernels for Q2_K and Q3_K: it converts those matrices (most of a q2_k \
            or q3_k_m file) to F32 at load.
            """)

    @Argument(help: "Input .gguf file.")
    var input: String

    @Argument(help: "Output .gguf file (never the input).")
    var output: String

    @Option(help: "Target type (see above).")
    var type: Quantizer.Target

    func run() throws {
        let start = Date()
        let r = try Quantizer.quantize(input: input, output: output, to: type)
        func mib(_ b: Int) -> String { String(format: "%.2f MiB", Double(b) / 1_048_576) }
        print("""
            \(input): \(mib(r.inputBytes))
            \(output): \(mib(r.outputBytes)) (\(type.rawValue), \(String(format: "%.2f", r.bitsPerWeight)) bits per weight over \(r.convertedTensors) weight tensors; \(r.keptTensors) tensors kept in F32)
            done in \(String(format: "%.1f", Date().timeIntervalSince(start))) s
            """)
    }
}

extension Quantizer.Target: ExpressibleByArgument {}
