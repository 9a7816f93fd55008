import ArgumentParser
import Foundation
import Models

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-quantize a GGUF model: every 2-D weight to the chosen type, norms stay F32.")

    @Argument(help: "Input .gguf file.")
    var input: String

    @Argument(help: "Output .gguf file (never the input).")
    var output: String

    @Option(help: "Target type: q8_0, q4_0, q4_1, f16 or f32.")
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
