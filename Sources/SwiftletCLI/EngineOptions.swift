import ArgumentParser
import Engine
import Foundation
import Models

/// Options of the continuous-batching engine, shared by the commands that run it.
struct EngineOptions: ParsableArguments {
    @Option(help: "Tokens per forward pass (running sequences first, then prompt chunks).")
    var maxBatchTokens: Int = 512

    @Option(help: "Sequences running at once.")
    var maxSeqs: Int = 32

    @Option(help: "Memory for the paged KV cache, e.g. 512MiB, 2GiB or a byte count.")
    var kvMemory: String = "1GiB"

    @Option(help: "Longest sequence, prompt plus output (default: the model's context length).")
    var ctx: Int?

    @Option(help: "Element type of cached keys and values: f16 (half the memory and bandwidth) or f32.")
    var kvType: KVCacheType = .f16

    @Option(help: "Positions per KV block.")
    var blockSize: Int = 16

    @Flag(help: "Turn automatic prefix caching off.")
    var noPrefixCache = false

    func validate() throws {
        guard maxBatchTokens >= 1 else { throw ValidationError("--max-batch-tokens must be at least 1") }
        guard maxSeqs >= 1 else { throw ValidationError("--max-seqs must be at least 1") }
        guard blockSize >= 1, blockSize <= 1024 else { throw ValidationError("--block-size must be in 1…1024") }
        if let c = ctx, c < 2 { throw ValidationError("--ctx must be at least 2") }
        guard Self.bytes(kvMemory) != nil else { throw ValidationError("--kv-memory: '\(kvMemory)' is not a size such as 512MiB, 2GiB or 1000000") }
    }

    func configuration(model: any CausalLM) throws -> EngineConfiguration {
        var c = EngineConfiguration()
        c.maxBatchTokens = maxBatchTokens
        c.maxSequences = maxSeqs
        c.blockSize = blockSize
        c.kvCacheType = kvType
        c.kvMemoryBytes = Self.bytes(kvMemory) ?? c.kvMemoryBytes
        if let ctx {
            guard ctx <= model.config.contextLength else {
                throw CLIError("--ctx \(ctx) exceeds the model's context of \(model.config.contextLength) tokens")
            }
            c.contextSize = ctx
        }
        c.prefixCaching = !noPrefixCache
        return c
    }

    /// "512MiB", "2GiB", "1.5GB", "1000000" → bytes.
    static func bytes(_ text: String) -> Int? {
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3),
                                       ("G", 1_073_741_824), ("M", 1_048_576), ("K", 1024), ("B", 1)]
        let t = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0, v * scale < 1e15 else { return nil }
            return Int(v * scale)
        }
        guard let v = Int(t), v > 0 else { return nil }
        return v
    }
}

/// Runs async work from a synchronous command and waits for it (the CLI's commands are synchronous).
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}

extension KVCacheType: ExpressibleByArgument {}
