import ArgumentParser

@main
struct Swiftlet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Run small GGUF language models on CPUs, and know what a token costs.",
        subcommands: [Generate.self, Bench.self, Serve.self, CostCommand.self, ReportCommand.self, Eval.self, Quantize.self, Inspect.self])
}
