import Engine
import Foundation
import LLMBase

/// `swiftlet bench --concurrency` results: one row (or JSON object) per concurrency level, each
/// figure the median over the repetitions. With `--shared-prefix`, each level runs with and
/// without prefix caching and reports both times to first token.
enum ConcurrencyReport {
    struct Row {
        var cached: ConcurrencyBenchmark.Level
        /// The same level with prefix caching off (only with a shared prefix).
        var uncached: ConcurrencyBenchmark.Level?
    }

    /// Median of each figure over repeated runs of one level.
    static func median(_ runs: [ConcurrencyBenchmark.Level]) -> ConcurrencyBenchmark.Level {
        var m = runs[0]
        func med(_ key: KeyPath<ConcurrencyBenchmark.Level, Double>) -> Double { Statistics.median(runs.map { $0[keyPath: key] }) }
        m.wallSeconds = med(\.wallSeconds)
        m.promptTokensPerSecond = med(\.promptTokensPerSecond)
        m.genTokensPerSecond = med(\.genTokensPerSecond)
        m.totalTokensPerSecond = med(\.totalTokensPerSecond)
        m.requestsPerSecond = med(\.requestsPerSecond)
        m.ttftP50 = med(\.ttftP50); m.ttftP95 = med(\.ttftP95)
        m.tpotP50 = med(\.tpotP50); m.tpotP95 = med(\.tpotP95)
        m.cacheHitRate = med(\.cacheHitRate)
        m.preemptions = runs.map(\.preemptions).max() ?? 0
        return m
    }

    static func markdown(_ rows: [Row], _ m: BenchReport.ModelInfo) -> String {
        let f = BenchReport.fixed
        var header = "| model | threads | conc | n_prompt | n_gen | gen t/s | prompt t/s | TTFT p50 ms | TTFT p95 ms | TPOT p50 ms | TPOT p95 ms |"
        var rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        let shared = rows.contains { $0.uncached != nil }
        if shared {
            header += " prefix | hit rate | TTFT p50 no cache ms | TTFT speed-up |"
            rule += " ---: | ---: | ---: | ---: |"
        }
        var lines = [header, rule]
        for r in rows {
            let c = r.cached
            var line = "| \(m.type) | \(m.threads) | \(c.concurrency) | \(c.promptTokens) | \(c.genTokens) | \(f(c.genTokensPerSecond, 2)) | \(f(c.promptTokensPerSecond, 2)) | \(f(c.ttftP50 * 1e3, 1)) | \(f(c.ttftP95 * 1e3, 1)) | \(f(c.tpotP50 * 1e3, 2)) | \(f(c.tpotP95 * 1e3, 2)) |"
            if let u = r.uncached {
                line += " \(c.sharedPrefix) | \(f(c.cacheHitRate * 100, 1))% | \(f(u.ttftP50 * 1e3, 1)) | \(f(u.ttftP50 / max(c.ttftP50, 1e-9), 2))× |"
            }
            lines.append(line)
        }
        lines.append("")
        lines.append("peak RSS: \(f(Double(BenchReport.peakResidentBytes()) / 1_048_576, 1)) MiB")
        return lines.joined(separator: "\n") + "\n"
    }

    static func objects(_ rows: [Row], _ m: BenchReport.ModelInfo) -> [[String: Any]] {
        rows.map { r in
            let c = r.cached
            var o: [String: Any] = [
                "model_filename": m.filename, "model_type": m.type, "host": m.hostObject,
                "backends": m.backendName, "n_threads": m.threads,
                "concurrency": c.concurrency, "n_prompt": c.promptTokens, "n_gen": c.genTokens,
                "gen_tokens_per_second": c.genTokensPerSecond,
                "prompt_tokens_per_second": c.promptTokensPerSecond,
                "total_tokens_per_second": c.totalTokensPerSecond,
                "requests_per_second": c.requestsPerSecond,
                "ttft_ms_p50": c.ttftP50 * 1e3, "ttft_ms_p95": c.ttftP95 * 1e3,
                "tpot_ms_p50": c.tpotP50 * 1e3, "tpot_ms_p95": c.tpotP95 * 1e3,
                "wall_seconds": c.wallSeconds, "preemptions": c.preemptions,
                "peak_rss_bytes": BenchReport.peakResidentBytes(),
            ]
            o.merge(m.footprintFields) { a, _ in a }
            if let u = r.uncached {
                o["shared_prefix"] = c.sharedPrefix
                o["cache_hit_rate"] = c.cacheHitRate
                o["ttft_ms_p50_no_prefix_cache"] = u.ttftP50 * 1e3
                o["ttft_ms_p95_no_prefix_cache"] = u.ttftP95 * 1e3
                o["ttft_speedup_p50"] = u.ttftP50 / max(c.ttftP50, 1e-9)
            }
            return o
        }
    }

    static func json(_ rows: [Row], _ m: BenchReport.ModelInfo, lines: Bool) -> String {
        let options: JSONSerialization.WritingOptions = lines ? [.sortedKeys] : [.prettyPrinted, .sortedKeys]
        func encode(_ o: Any) -> String { String(decoding: try! JSONSerialization.data(withJSONObject: o, options: options), as: UTF8.self) }
        let objs = objects(rows, m)
        return lines ? objs.map { encode($0) + "\n" }.joined() : encode(objs)
    }
}
