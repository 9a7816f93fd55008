import ArgumentParser
import Cost
import Foundation
import GGUF
import Models

/// `swiftlet cost roofline`: the bandwidth model's single-stream ceiling of one or more GGUF files
/// on the instances whose CPU's memory bandwidth the catalogue has (Graviton), from the files
/// alone: nothing is run, and nothing here is a measurement.
struct RooflineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roofline",
        abstract: "Modelled, not measured: single-stream output tokens/s ≤ memory bandwidth share ÷ bytes per token, and the $ floor it implies.",
        discussion: """
            For instances with no benchmark on their CPU (Graviton, from an x86 host): output
            tokens/s ≤ the instance's share of its socket's memory bandwidth ÷ the bytes a decode
            step reads (weights + KV cache at --prompt-tokens + half of --output-tokens of context).
            An upper bound on speed and a lower bound on cost; prompt processing and batching are
            compute-bound and not modelled. `swiftlet bench --concurrency 1,4,16 -o json
            --instance NAME` on the instance replaces it with a measurement.

            Example: swiftlet cost roofline models/a.Q4_1.gguf models/a.Q8_0.gguf --instances c6g,c7g,c8g --format markdown
            """)

    @Argument(help: "GGUF files (only their header is read).")
    var models: [String]

    @Option(help: "Instance types or families, comma-separated (e.g. c6g,c7g,c8g or c7g.xlarge); default: every instance whose CPU's bandwidth the catalogue has.")
    var instances: String?

    @Option(help: "Element type of the KV cache counted: f16 (the engine's default) or f32.")
    var kvType: KVCacheType = .f16

    /// `cost`'s --prompt-tokens, --output-tokens, --prices, --format and --json apply here.
    @ParentCommand var cost: CostCommand

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one GGUF file") }
    }

    func run() throws {
        let catalogue = try PriceCatalogue.load(overrides: cost.options.prices)
        var chosen = catalogue.instances.filter { $0.accelerator == nil && catalogue.socket(of: $0) != nil }
        if let list = instances {
            let wanted = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            for w in wanted where !chosen.contains(where: { Self.matches($0, w) }) {
                throw CLIError("--instances: no instance '\(w)' with a known memory bandwidth; known: \(chosen.map(\.name).joined(separator: ", "))")
            }
            chosen = chosen.filter { i in wanted.contains { Self.matches(i, $0) } }
        }
        guard !chosen.isEmpty else { throw CLIError("no instance in the catalogue has a CPU with a known memory bandwidth ('cpus' in the price file)") }
        let context = ModelFootprint.meanDecodeContext(promptTokens: cost.options.promptTokens, outputTokens: cost.options.outputTokens)
        var labels: [String] = []
        let rows = try models.map { path -> RooflineReport.Model in
            let gguf = try GGUFFile(path: path)
            let architecture = try ModelLoader.architecture(of: gguf)
            let config = try TransformerConfig(Hyperparameters(gguf: gguf, architecture: architecture))
            let footprint = ModelFootprint(modelBytes: Double(gguf.tensors.reduce(0) { $0 + $1.byteCount }),
                                           weightBytesPerToken: Double(BenchReport.ModelInfo.weightBytesPerToken(gguf)),
                                           kvBytesPerPosition: Double(BenchReport.ModelInfo.kvBytesPerPosition(config, kvType)))
            var label = BenchReport.ModelInfo.typeLabel(gguf, architecture: architecture)
            if labels.contains(label) { label = URL(fileURLWithPath: path).lastPathComponent }
            labels.append(label)
            return RooflineReport.Model(label: label, file: URL(fileURLWithPath: path).lastPathComponent, ceilings: chosen.map {
                BandwidthCeiling(instance: $0, socket: catalogue.socket(of: $0)!, footprint: footprint, contextTokens: context)
            })
        }
        print(RooflineReport.render(rows, format: cost.json ? .json : cost.format), terminator: "")
    }

    /// "c7g" matches the family c7g.*, "c7g.xlarge" the one type.
    static func matches(_ i: InstancePrice, _ wanted: String) -> Bool {
        let name = i.name.lowercased()
        return name == wanted || name.hasPrefix(wanted + ".")
    }
}
