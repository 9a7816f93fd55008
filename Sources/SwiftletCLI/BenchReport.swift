import Cost
import Engine
import Foundation
import LLMBase
import GGUF
import Kernels
import Models

/// Formats bench results as llama-bench does (markdown table, JSON array, JSON lines), with
/// llama-bench's field names so scripts that read its results read these too.
enum BenchReport {
    struct ModelInfo {
        let filename: String
        let type: String          // "llama 135M Q4_1": architecture, size, most common matrix type
        let sizeBytes: Int        // tensor data bytes
        let parameters: Int
        let threads: Int
        let backend: MatmulBackend
        /// The machine, recorded so a cost report knows what was measured.
        var host = HostInfo.current()
        /// Weight bytes a decode step reads (see `footprint`).
        let weightBytesPerToken: Int
        /// Cached keys and values of one position, all layers, at the benchmark's KV element type.
        let kvBytesPerPosition: Int
        let kvType: KVCacheType

        init(gguf: GGUFFile, model: any CausalLM, threads: Int, backend: MatmulBackend, kvType: KVCacheType = .f16) {
            filename = gguf.path
            sizeBytes = gguf.tensors.reduce(0) { $0 + $1.byteCount }
            weightBytesPerToken = Self.weightBytesPerToken(gguf)
            kvBytesPerPosition = Self.kvBytesPerPosition(model.config, kvType)
            self.kvType = kvType
            parameters = gguf.tensors.reduce(0) { $0 + $1.elementCount }
            type = Self.typeLabel(gguf, architecture: model.architecture)
            self.threads = threads
            self.backend = backend
        }

        var backendName: String { "CPU (Swiftlet \(backend.rawValue))" }

        /// What one decode step of one sequence reads, for `swiftlet cost`'s bandwidth model.
        var footprint: ModelFootprint {
            ModelFootprint(modelBytes: Double(sizeBytes), weightBytesPerToken: Double(weightBytesPerToken), kvBytesPerPosition: Double(kvBytesPerPosition))
        }

        /// The fields `BenchMeasurement` reads back as a `ModelFootprint`.
        var footprintFields: [String: Any] {
            ["model_size": sizeBytes, "weight_bytes_per_token": weightBytesPerToken, "kv_bytes_per_token": kvBytesPerPosition, "kv_type": kvType.rawValue]
        }

        /// "llama 135M Q4_1": architecture, size, most common matrix type.
        static func typeLabel(_ gguf: GGUFFile, architecture: String) -> String {
            let parameters = gguf.tensors.reduce(0) { $0 + $1.elementCount }
            let label = (try? gguf.string("general.size_label")) ?? nil
            let counts = Dictionary(grouping: gguf.tensors.filter { $0.dimensions.count == 2 }, by: \.type).mapValues(\.count)
            let mainType = counts.max { $0.value < $1.value }?.key.description ?? "?"
            return "\(architecture) \(label ?? "\(parameters / 1_000_000)M") \(mainType)"
        }

        /// The tensor data, less the token-embedding table when the file has a separate output
        /// matrix (untied: a decode step reads one row of the table; tied: the whole matrix, once,
        /// for the logits).
        static func weightBytesPerToken(_ gguf: GGUFFile) -> Int {
            let total = gguf.tensors.reduce(0) { $0 + $1.byteCount }
            guard gguf.tensors.contains(where: { $0.name == "output.weight" }),
                  let table = gguf.tensors.first(where: { $0.name == "token_embd.weight" }) else { return total }
            let rows = max(table.dimensions.last ?? 1, 1)
            return total - table.byteCount + table.byteCount / rows
        }

        /// Keys and values of one position over every layer.
        static func kvBytesPerPosition(_ c: TransformerConfig, _ type: KVCacheType) -> Int {
            2 * c.layerCount * c.kvDim * type.bytesPerElement
        }

        /// The host as a JSON object (`host` in every result).
        var hostObject: Any {
            (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(host))) ?? NSNull()
        }
    }

    static func markdown(_ results: [ThroughputBenchmark.Result], _ m: ModelInfo) -> String {
        var lines = [
            "| model | size | params | backend | threads | test | t/s | median t/s |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for r in results {
            lines.append("| \(m.type) | \(fixed(Double(m.sizeBytes) / 1_048_576, 2)) MiB | \(fixed(Double(m.parameters) / 1e6, 2)) M | \(m.backendName) | \(m.threads) | \(r.testName) | \(fixed(r.averageTokensPerSecond, 2)) ± \(fixed(r.stddevTokensPerSecond, 2)) | \(fixed(r.medianTokensPerSecond, 2)) |")
        }
        lines.append("")
        lines.append("peak RSS: \(fixed(Double(peakResidentBytes()) / 1_048_576, 1)) MiB")
        return lines.joined(separator: "\n") + "\n"
    }

    static func json(_ results: [ThroughputBenchmark.Result], _ m: ModelInfo, lines: Bool) -> String {
        let objects: [[String: Any]] = results.map { r in
            m.footprintFields.merging([
                "model_filename": m.filename,
                "host": m.hostObject,
                "model_type": m.type,
                "model_n_params": m.parameters,
                "backends": m.backendName,
                "n_threads": m.threads,
                "n_prompt": r.nPrompt,
                "n_gen": r.nGen,
                "n_batch": max(r.nPrompt, 1),
                "n_ubatch": max(r.nPrompt, 1),
                "avg_ns": Int(Statistics.mean(r.samples) * 1e9),
                "stddev_ns": Int(Statistics.standardDeviation(r.samples) * 1e9),
                "samples_ns": r.samples.map { Int($0 * 1e9) },
                "avg_ts": r.averageTokensPerSecond,
                "stddev_ts": r.stddevTokensPerSecond,
                "samples_ts": r.samplesTokensPerSecond,
                "median_ts": r.medianTokensPerSecond,
                "peak_rss_bytes": peakResidentBytes(),
                "test_time": ISO8601DateFormatter().string(from: Date()),
            ]) { a, _ in a }
        }
        let options: JSONSerialization.WritingOptions = lines ? [.sortedKeys] : [.prettyPrinted, .sortedKeys]
        func encode(_ o: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: o, options: options), as: UTF8.self) }
        return lines ? objects.map { encode($0) + "\n" }.joined() : encode(objects)
    }

    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

    /// Peak resident set size of this process (getrusage reports KiB on Linux, bytes on macOS).
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        #if os(Linux)
        return Int(usage.ru_maxrss) * 1024
        #else
        return Int(usage.ru_maxrss)
        #endif
    }
}
