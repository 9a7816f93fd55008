import Foundation

/// Throughput measured by `swiftlet bench` on one host: one entry per concurrency level, with the
/// shape it was measured at and the host it ran on.
public struct BenchMeasurement: Sendable, Equatable {
    public var host: HostInfo?
    public var model: String
    public var promptTokens: Int
    public var outputTokens: Int
    public var levels: [Throughput]
    /// Where the figures come from (a file, or "measured now").
    public var origin: String
    /// What the model reads from memory per token, for the bandwidth model; nil in bench files
    /// that predate `model_size`.
    public var footprint: ModelFootprint?

    public init(host: HostInfo?, model: String, promptTokens: Int, outputTokens: Int, levels: [Throughput], origin: String,
                footprint: ModelFootprint? = nil) {
        self.host = host; self.model = model; self.promptTokens = promptTokens; self.outputTokens = outputTokens
        self.levels = levels; self.origin = origin; self.footprint = footprint
    }

    /// Reads `swiftlet bench` JSON or JSON lines: the objects of `--concurrency` runs (one per
    /// level), or llama-bench-style pp/tg objects (read as one sequence at a time: prompt
    /// tokens/s from pp, output tokens/s from tg). llama-bench's own output reads the same way.
    public static func load(_ path: String) throws(BenchMeasurementError) -> BenchMeasurement {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw .unreadable(path, error.localizedDescription) }
        var objects: [[String: Any]] = []
        if let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
            objects = array
        } else if let single = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            objects = [single]
        } else {
            for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() where !line.allSatisfy(\.isWhitespace) {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw .malformed(path, "line \(n + 1) is not a JSON object")
                }
                objects.append(o)
            }
        }
        guard !objects.isEmpty else { throw .malformed(path, "no benchmark results in the file") }
        return try parse(objects, origin: path)
    }

    static func parse(_ objects: [[String: Any]], origin: String) throws(BenchMeasurementError) -> BenchMeasurement {
        func num(_ o: [String: Any], _ k: String) -> Double? { (o[k] as? NSNumber).map(\.doubleValue) }
        var host: HostInfo?
        if let h = objects.first?["host"], let d = try? JSONSerialization.data(withJSONObject: h) {
            host = try? JSONDecoder().decode(HostInfo.self, from: d)
        }
        let model = objects.first?["model_type"] as? String ?? "unknown model"
        let footprint = objects.first(where: { $0["model_size"] != nil }).flatMap { o in
            num(o, "model_size").map { size in
                ModelFootprint(modelBytes: size, weightBytesPerToken: num(o, "weight_bytes_per_token"),
                               kvBytesPerPosition: num(o, "kv_bytes_per_token"))
            }
        }
        if objects.contains(where: { $0["concurrency"] != nil }) {
            var levels: [Throughput] = []
            var shape: (Int, Int)?
            for (i, o) in objects.enumerated() {
                guard let c = num(o, "concurrency"), let pp = num(o, "prompt_tokens_per_second"), let tg = num(o, "gen_tokens_per_second"),
                      let tpot = num(o, "tpot_ms_p95"), let p = num(o, "n_prompt"), let g = num(o, "n_gen") else {
                    throw .malformed(origin, "result \(i + 1) lacks concurrency, n_prompt, n_gen, prompt_tokens_per_second, gen_tokens_per_second or tpot_ms_p95")
                }
                guard pp > 0, tg > 0 else { throw .malformed(origin, "result \(i + 1) has a throughput of 0") }
                shape = shape ?? (Int(p), Int(g))
                // `bench --shared-prefix` counts prompt tokens served from the cache in its prompt
                // rate; the cost model charges only uncached tokens to the prefill rate, so the
                // rate is taken back to computed tokens per second (no double discount).
                levels.append(Throughput(concurrency: Int(c), promptTokensPerSecond: Throughput.computedPromptRate(pp, cacheHitRate: num(o, "cache_hit_rate") ?? 0),
                                         outputTokensPerSecond: tg, tpotP95: tpot / 1000))
            }
            return BenchMeasurement(host: host, model: model, promptTokens: shape!.0, outputTokens: shape!.1, levels: levels, origin: origin, footprint: footprint)
        }
        // llama-bench style: a pp test (n_gen 0) and a tg test (n_prompt 0).
        let pp = objects.first { num($0, "n_gen") == 0 && (num($0, "n_prompt") ?? 0) > 0 }
        let tg = objects.first { num($0, "n_prompt") == 0 && (num($0, "n_gen") ?? 0) > 0 }
        guard let pp, let tg, let ppRate = num(pp, "avg_ts"), let tgRate = num(tg, "avg_ts"), ppRate > 0, tgRate > 0 else {
            throw .malformed(origin, "neither `bench --concurrency` results nor a pp and a tg result with avg_ts")
        }
        let level = Throughput(concurrency: 1, promptTokensPerSecond: ppRate, outputTokensPerSecond: tgRate, tpotP95: 1 / tgRate)
        return BenchMeasurement(host: host, model: model, promptTokens: Int(num(pp, "n_prompt")!), outputTokens: Int(num(tg, "n_gen")!),
                           levels: [level], origin: origin, footprint: footprint)
    }
}

public enum BenchMeasurementError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case malformed(String, String)

    public var description: String {
        switch self {
        case .unreadable(let p, let why): return "cannot read benchmark result \(p): \(why)"
        case .malformed(let p, let why): return "\(p): \(why)"
        }
    }
}
