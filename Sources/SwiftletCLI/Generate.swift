import ArgumentParser
import Engine
import Foundation
import GGUF
import Kernels
import Models
import Sampling
import Tokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt, streaming it to stdout.",
        discussion: "Timings and token counts go to stderr. --temp 0 (the default) is greedy decoding.")

    @Option(name: [.customShort("m"), .long], help: "Path to the GGUF model.")
    var model: String

    @Option(name: [.customShort("p"), .long], help: "The prompt.")
    var prompt: String

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Maximum number of tokens to generate.")
    var tokens: Int = 64

    @Flag(help: "Wrap the prompt in the model's chat template as a user message.")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(name: .customLong("temp"), help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: off).")
    var topK: Int = 0

    @Option(name: .customLong("top-p"), help: "Keep the smallest set with this total probability (1: off).")
    var topP: Float = 1

    @Option(name: .customLong("min-p"), help: "Drop tokens below this fraction of the top probability (0: off).")
    var minP: Float = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Element type of cached keys and values: f16 (as llama.cpp's default) or f32.")
    var kvType: KVCacheType = .f16

    @Option(name: .customLong("stop"), help: "Stop when this string is generated (repeatable).")
    var stops: [String] = []

    @Option(name: .customLong("ctx"), help: "Context size in tokens (default: min(2048, the model's)).")
    var contextSize: Int?

    @Option(name: [.customShort("t"), .long], help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: "Matmul path: auto, simd (integer kernels), blas (OpenBLAS sgemm on dequantized tiles), reference (all F32).")
    var backend: MatmulBackend = .auto

    @OptionGroup var speculation: SpeculationArguments

    func validate() throws {
        guard tokens >= 1 else { throw ValidationError("-n must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if backend == .blas && !MatmulContext.blasAvailable {
            throw ValidationError("--backend blas: this build has no OpenBLAS (built with --disable-default-traits)")
        }
        if let c = contextSize, c < 2 { throw ValidationError("--ctx must be at least 2") }
        do {
            try SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP).validate()
        } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        let loadStart = Date()
        let gguf = try GGUFFile(path: model)
        let tokenizer = try Tokenizer(gguf: gguf)
        let llama = try ModelLoader.load(gguf, backend: backend, threads: threads)
        guard tokenizer.vocabularySize == llama.config.vocabularySize else {
            throw CLIError("the tokenizer has \(tokenizer.vocabularySize) tokens but token_embd.weight has \(llama.config.vocabularySize) rows")
        }
        let context = min(contextSize ?? 2048, llama.config.contextLength)
        let generate: (_ promptIDs: [Int], _ options: GenerationOptions, _ onText: (String) -> Void) throws -> GenerationResult
        if let source = try speculation.source(backend: backend, threads: threads) {
            let generator = try SpeculativeGenerator(target: llama, tokenizer: tokenizer, draft: source, contextSize: context,
                                                     speculation: speculation.options, kvCacheType: kvType)
            generate = generator.generate
        } else {
            let generator = try Generator(model: llama, tokenizer: tokenizer, contextSize: context, kvCacheType: kvType)
            generate = generator.generate
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)

        let promptIDs: [Int]
        if chat {
            guard let template = tokenizer.chatTemplate else {
                throw CLIError(tokenizer.chatTemplateText == nil
                    ? "the model has no chat template (a base model?): run it without --chat"
                    : "the model's chat template is none of the formats Swiftlet renders (ChatML, Gemma, Llama 3, Phi-3)")
            }
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            promptIDs = tokenizer.encode(chat: template.segments(messages, addGenerationPrompt: true))
        } else {
            promptIDs = tokenizer.encode(prompt)
        }

        let options = GenerationOptions(
            maxTokens: tokens,
            sampling: SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed),
            stopStrings: stops)
        let result = try generate(promptIDs, options) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        let report = "prompt: \(result.promptTokens) tokens, \(fixed(result.promptTokensPerSecond, 1)) tokens/s"
            + " | generated: \(result.generatedIDs.count) tokens, \(fixed(result.generationTokensPerSecond, 1)) tokens/s"
            + " | load: \(fixed(loadSeconds, 2)) s | finish: \(result.finishReason.rawValue)"
            + (result.speculation.map { " | " + SpeculationArguments.summary($0) } ?? "") + "\n"
        FileHandle.standardError.write(Data(report.utf8))
    }
}

/// An error the CLI reports as one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension MatmulBackend: ExpressibleByArgument {}
