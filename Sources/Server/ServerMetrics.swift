import Engine
import Foundation
import Synchronization

/// Counters and histograms of ended requests, per model, rendered in Prometheus' text format
/// together with each engine's live gauges (`GET /metrics`). Every request is recorded when it
/// ends, however it ends (the engine's end observer): a cancelled one with its real durations and
/// the tokens it used, so that usage and cost count them. Names and help texts are vLLM's where
/// they overlap (with the `swiftlet_` prefix). Recording takes a mutex for a few additions, once
/// per request, never per token.
public final class ServerMetrics: Sendable {
    struct Histogram {
        static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
        var counts = [Int](repeating: 0, count: latencyBuckets.count)
        var sum = 0.0
        var count = 0

        mutating func observe(_ v: Double) {
            for (i, b) in Self.latencyBuckets.enumerated() where v <= b { counts[i] += 1 }
            sum += v
            count += 1
        }
    }

    struct ModelCounters {
        var promptTokens = 0, cachedPromptTokens = 0, generatedTokens = 0
        var draftTokens = 0, acceptedDraftTokens = 0
        var finished: [String: Int] = [:]
        var ttft = Histogram(), tpot = Histogram(), e2e = Histogram(), queue = Histogram()
    }

    private let state = Mutex<[String: ModelCounters]>([:])
    /// Completion requests answered with an error before any work, by reason (the error code).
    private let rejected = Mutex<[String: Int]>([:])

    public init() {}

    func record(model: String, reason: FinishReason, usage: RequestUsage) {
        state.withLock { all in
            var c = all[model] ?? ModelCounters()
            c.promptTokens += usage.promptTokens
            c.cachedPromptTokens += usage.cachedPromptTokens
            c.generatedTokens += usage.generatedTokens
            c.draftTokens += usage.draftTokens
            c.acceptedDraftTokens += usage.acceptedDraftTokens
            c.finished[reason.rawValue, default: 0] += 1
            if usage.generatedTokens > 0 { c.ttft.observe(usage.timeToFirstToken) }
            if usage.generatedTokens > 1 { c.tpot.observe(usage.timePerOutputToken) }
            c.e2e.observe(usage.queueSeconds + usage.prefillSeconds + usage.decodeSeconds)
            c.queue.observe(usage.queueSeconds)
            all[model] = c
        }
    }

    func reject(reason: String) { rejected.withLock { $0[reason, default: 0] += 1 } }

    /// Prompt, cached prompt and generated tokens of ended requests (cancelled ones included),
    /// summed over models.
    func tokenTotals() -> (prompt: Int, cached: Int, generated: Int) {
        state.withLock { all in
            all.values.reduce((0, 0, 0)) { ($0.0 + $1.promptTokens, $0.1 + $1.cachedPromptTokens, $0.2 + $1.generatedTokens) }
        }
    }

    /// vLLM's `finished_reason` label values; a request the client cancelled is vLLM's "abort".
    static func finishedReasonLabel(_ reason: FinishReason) -> String {
        reason == .cancelled ? "abort" : reason.rawValue
    }

    /// The exposition text: HELP and TYPE lines, then one sample per model (label `model_name`).
    func render(_ models: [ServedModel], connections: ConnectionCounter? = nil) -> String {
        let counters = state.withLock { $0 }
        let rejections = rejected.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: (ServedModel, ModelCounters) -> [String]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for m in models { for line in samples(m, counters[m.name] ?? ModelCounters()) { out += line + "\n" } }
        }
        func label(_ m: ServedModel, _ extra: String = "") -> String {
            "{model_name=\"\(prometheusLabelValue(m.name))\"\(extra)}"
        }
        func gauge(_ name: String, _ help: String, _ value: @escaping (EngineStats) -> Int) {
            family(name, "gauge", help) { m, _ in ["\(name)\(label(m)) \(value(m.engine.stats))"] }
        }
        func counter(_ name: String, _ help: String, _ value: @escaping (ServedModel, ModelCounters) -> Int) {
            family(name, "counter", help) { m, c in ["\(name)\(label(m)) \(value(m, c))"] }
        }
        func histogram(_ name: String, _ help: String, _ pick: @escaping (ModelCounters) -> Histogram) {
            family(name, "histogram", help) { m, c in
                let h = pick(c)
                var lines = zip(Histogram.latencyBuckets, h.counts).map { "\(name)_bucket\(label(m, ",le=\"\($0)\"")) \($1)" }
                lines.append("\(name)_bucket\(label(m, ",le=\"+Inf\"")) \(h.count)")
                lines.append("\(name)_sum\(label(m)) \(h.sum)")
                lines.append("\(name)_count\(label(m)) \(h.count)")
                return lines
            }
        }
        gauge("swiftlet_num_requests_running", "Number of requests in model execution batches.") { $0.running }
        gauge("swiftlet_num_requests_waiting", "Number of requests waiting to be processed.") { $0.waiting }
        gauge("swiftlet_kv_blocks_used", "KV cache blocks held by requests.") { $0.usedBlocks }
        gauge("swiftlet_kv_blocks_total", "KV cache blocks in the pool.") { $0.totalBlocks }
        family("swiftlet_kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.") { m, _ in
            let s = m.engine.stats
            return ["swiftlet_kv_cache_usage_perc\(label(m)) \(s.totalBlocks > 0 ? Double(s.usedBlocks) / Double(s.totalBlocks) : 0)"]
        }
        counter("swiftlet_num_preemptions_total", "Cumulative number of preemption from the engine.") { m, _ in m.engine.stats.preemptions }
        counter("swiftlet_prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.") { m, _ in m.engine.stats.prefixQueryTokens }
        counter("swiftlet_prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.") { m, _ in m.engine.stats.prefixHitTokens }
        // Speculative decoding (vLLM's spec_decode families), for the models that speculate.
        func speculation(_ name: String, _ help: String, _ value: @escaping (SpeculationStats) -> Int) {
            family(name, "counter", help) { m, _ in m.engine.stats.speculation.map { ["\(name)\(label(m)) \(value($0))"] } ?? [] }
        }
        if models.contains(where: { $0.engine.stats.speculation != nil }) {
            speculation("swiftlet_spec_decode_num_drafts_total", "Speculative rounds: target passes that checked a sequence's drafts.") { $0.verifyPasses }
            // Token counts from the usage of ended requests, as the generation counters, so that
            // they agree with the responses already sent (the engine's own totals are published
            // once per step, after the step's last response).
            counter("swiftlet_spec_decode_num_draft_tokens_total", "Draft tokens checked by the target (requests that ended).") { $1.draftTokens }
            counter("swiftlet_spec_decode_num_accepted_tokens_total", "Draft tokens the target kept, each one an output token (requests that ended).") { $1.acceptedDraftTokens }
            speculation("swiftlet_spec_decode_draft_passes_total", "Forward passes of the draft model.") { $0.draftPasses }
        }
        counter("swiftlet_prompt_tokens_total", "Number of prefill tokens processed (requests that ended, cancelled ones included).") { $1.promptTokens }
        counter("swiftlet_cached_prompt_tokens_total", "Prompt tokens of ended requests served from the prefix cache.") { $1.cachedPromptTokens }
        counter("swiftlet_generation_tokens_total", "Number of generation tokens processed (requests that ended, cancelled ones included).") { $1.generatedTokens }
        family("swiftlet_request_success_total", "counter", "Count of successfully processed requests (abort: cancelled by the client).") { m, c in
            ["stop", "length", "abort"].map { reason in
                let n = c.finished.filter { Self.finishedReasonLabel(FinishReason(rawValue: $0.key) ?? .error) == reason }.values.reduce(0, +)
                return "swiftlet_request_success_total\(label(m, ",finished_reason=\"\(reason)\"")) \(n)"
            }
        }
        counter("swiftlet_request_failure_total", "Requests that ended with an engine error or were cut off by a shutdown.") { $1.finished[FinishReason.error.rawValue] ?? 0 }
        histogram("swiftlet_time_to_first_token_seconds", "Histogram of time to first token in seconds.") { $0.ttft }
        histogram("swiftlet_time_per_output_token_seconds", "Histogram of time per output token in seconds.") { $0.tpot }
        histogram("swiftlet_e2e_request_latency_seconds", "Histogram of e2e request latency in seconds (arrival to end, cancelled requests included).") { $0.e2e }
        histogram("swiftlet_request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.") { $0.queue }
        out += "# HELP swiftlet_request_rejected_total Completion requests answered with an error before any work, by reason (the error code).\n"
        out += "# TYPE swiftlet_request_rejected_total counter\n"
        for reason in Set(rejections.keys).union(["server_overloaded", "server_shutting_down"]).sorted() {
            out += "swiftlet_request_rejected_total{reason=\"\(prometheusLabelValue(reason))\"} \(rejections[reason] ?? 0)\n"
        }
        if let connections {
            out += "# HELP swiftlet_http_connections Open HTTP connections (limit: --max-connections).\n# TYPE swiftlet_http_connections gauge\n"
            out += "swiftlet_http_connections \(connections.openConnections)\n"
            out += "# HELP swiftlet_http_connections_limit The most HTTP connections served at once.\n# TYPE swiftlet_http_connections_limit gauge\n"
            out += "swiftlet_http_connections_limit \(connections.limit)\n"
            let refusals = connections.refusals
            out += "# HELP swiftlet_http_refused_total Connections answered with an error and closed before any request was handled, by reason.\n"
            out += "# TYPE swiftlet_http_refused_total counter\n"
            for reason in Set(refusals.keys).union(["max_connections", "headers_too_large", "malformed_http"]).sorted() {
                out += "swiftlet_http_refused_total{reason=\"\(reason)\"} \(refusals[reason] ?? 0)\n"
            }
        }
        return out
    }
}

/// A label value as Prometheus' text format writes it: backslashes and quotes escaped.
func prometheusLabelValue(_ s: String) -> String {
    s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
}
