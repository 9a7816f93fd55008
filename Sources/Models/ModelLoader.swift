import Foundation
import GGUF
import Kernels
import LLMBase

/// The architectures Swiftlet runs, keyed by `general.architecture`. Adding one is a new file in
/// `Architectures/` with a type conforming to `CausalLM`, and one line here.
public enum ModelLoader {
    public typealias Make = @Sendable (_ gguf: GGUFFile, _ backend: MatmulBackend, _ threads: Int?) throws -> any CausalLM

    /// Registered architectures, in the order error messages list them.
    public static let registry: [(architecture: String, make: Make)] = [
        ("llama", { try LlamaModel(gguf: $0, backend: $1, threads: $2) }),
        ("qwen2", { try Qwen2Model(gguf: $0, backend: $1, threads: $2) }),
        ("qwen3", { try Qwen3Model(gguf: $0, backend: $1, threads: $2) }),
        ("gemma3", { try Gemma3Model(gguf: $0, backend: $1, threads: $2) }),
        ("phi3", { try Phi3Model(gguf: $0, backend: $1, threads: $2) }),
    ]

    public static var supportedArchitectures: [String] { registry.map(\.architecture) }

    /// The model a parsed file describes, on `backend` with `threads` compute threads (default:
    /// every core). Throws `ModelError.unsupportedArchitecture` listing what is registered.
    public static func load(_ gguf: GGUFFile, backend: MatmulBackend = .auto, threads: Int? = nil) throws -> any CausalLM {
        let arch = try architecture(of: gguf)
        guard let entry = registry.first(where: { $0.architecture == arch }) else {
            throw ModelError.unsupportedArchitecture(arch, offset: gguf.value("general.architecture")?.offset ?? 0,
                                                     supported: supportedArchitectures)
        }
        return try entry.make(gguf, backend, threads)
    }

    /// `general.architecture` (a file without it is taken as "llama", as the earliest GGUF files were).
    public static func architecture(of gguf: GGUFFile) throws -> String {
        try gguf.string("general.architecture") ?? "llama"
    }

    /// Checks that `gguf` is of `expected` architecture (each architecture's initializer calls it).
    static func check(_ gguf: GGUFFile, is expected: String) throws {
        let arch = try architecture(of: gguf)
        guard arch == expected else {
            throw ModelError.unsupportedArchitecture(arch, offset: gguf.value("general.architecture")?.offset ?? 0,
                                                     supported: supportedArchitectures)
        }
    }

    /// Compute threads when none are asked for: every core.
    static func threadCount(_ threads: Int?) -> Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }
}
