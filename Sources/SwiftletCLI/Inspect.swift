import ArgumentParser
import GGUF

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a GGUF file's metadata and tensor table.")

    @Argument(help: "Path to a .gguf file.")
    var file: String

    @Option(help: "Array elements shown before an array is summarized.")
    var arrayElements: Int = 8

    func run() throws {
        let gguf = try GGUFFile(path: file)
        print(gguf.describe(maxArrayElements: max(0, arrayElements)), terminator: "")
    }
}
