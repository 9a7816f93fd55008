import Cost
import Foundation

/// What serving has cost so far, at the configured instance price (`serve --instance` or
/// `--price-per-hour`): instance-hours since start, dollars spent, dollars per million tokens
/// served, and what the same tokens would have cost at a managed model (`--compare`).
public struct LiveCost: Sendable {
    public let instance: InstancePrice
    public let compare: ManagedPrice?
    let startUptime: Double   // internal: tests move the clock
    let startDate: Date

    public init(instance: InstancePrice, compare: ManagedPrice?) {
        self.instance = instance
        self.compare = compare
        startUptime = Self.uptime
        startDate = Date()
    }

    public static var uptime: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// A snapshot for the given token totals.
    public struct Snapshot: Sendable {
        public var seconds: Double
        public var promptTokens: Int, cachedPromptTokens: Int, outputTokens: Int
        public var instanceHours: Double
        public var dollars: Double
        /// Dollars spent ÷ tokens served (prompt + output) × 10⁶; nil before any token.
        public var dollarsPerMillionTokens: Double?
        public var dollarsPerMillionOutputTokens: Double?
        /// The managed model's bill for the same tokens (cached prompt tokens at its cached price).
        public var managedDollars: Double?
    }

    public func snapshot(promptTokens: Int, cachedPromptTokens: Int, outputTokens: Int, now: Double = LiveCost.uptime) -> Snapshot {
        let seconds = max(0, now - startUptime)
        let hours = seconds / 3600
        let dollars = hours * instance.pricePerHour
        let tokens = promptTokens + outputTokens
        let managed = compare?.dollars(uncachedInput: Double(promptTokens - cachedPromptTokens), cachedInput: Double(cachedPromptTokens),
                                       output: Double(outputTokens))
        return Snapshot(seconds: seconds, promptTokens: promptTokens, cachedPromptTokens: cachedPromptTokens, outputTokens: outputTokens,
                        instanceHours: hours, dollars: dollars,
                        dollarsPerMillionTokens: tokens > 0 ? dollars / Double(tokens) * 1e6 : nil,
                        dollarsPerMillionOutputTokens: outputTokens > 0 ? dollars / Double(outputTokens) * 1e6 : nil,
                        managedDollars: managed)
    }

    /// `GET /v1/usage`.
    func usageObject(_ s: Snapshot) -> [String: Any] {
        var o: [String: Any] = [
            "object": "usage",
            "since": ISO8601DateFormatter().string(from: startDate),
            "uptime_seconds": s.seconds,
            "instance": ["name": instance.name, "price_per_hour": instance.pricePerHour, "source": instance.source, "date": instance.date],
            "tokens": ["prompt": s.promptTokens, "cached_prompt": s.cachedPromptTokens, "output": s.outputTokens,
                       "total": s.promptTokens + s.outputTokens],
            "throughput": ["output_tokens_per_second": s.seconds > 0 ? Double(s.outputTokens) / s.seconds : 0,
                           "tokens_per_second": s.seconds > 0 ? Double(s.promptTokens + s.outputTokens) / s.seconds : 0],
            "instance_hours": s.instanceHours,
            "dollars_spent": s.dollars,
            "dollars_per_million_tokens": s.dollarsPerMillionTokens.map { $0 as Any } ?? NSNull(),
            "dollars_per_million_output_tokens": s.dollarsPerMillionOutputTokens.map { $0 as Any } ?? NSNull(),
            "note": "averages since start: idle time counts, as it does on the bill",
        ]
        if let m = compare, let d = s.managedDollars {
            o["managed_comparison"] = ["model": m.name, "display_name": m.displayName, "dollars": d,
                                       "input_per_million": m.inputPerMillion, "output_per_million": m.outputPerMillion,
                                       "source": m.source, "date": m.date]
        }
        return o
    }

    /// Prometheus families appended to /metrics.
    func metricsText(_ s: Snapshot) -> String {
        let name = prometheusLabelValue(instance.name)
        var out = ""
        func family(_ metric: String, _ type: String, _ help: String, _ value: Double, labels: String = "instance=\"\(name)\"") {
            out += "# HELP \(metric) \(help)\n# TYPE \(metric) \(type)\n\(metric){\(labels)} \(value)\n"
        }
        family("swiftlet_instance_price_dollars_per_hour", "gauge", "Configured instance price (On-Demand unless overridden).", instance.pricePerHour)
        family("swiftlet_instance_hours_total", "counter", "Instance-hours since the server started.", s.instanceHours)
        family("swiftlet_cost_dollars_total", "counter", "Dollars spent since start at the instance price.", s.dollars)
        family("swiftlet_cost_dollars_per_million_tokens", "gauge", "Dollars spent per million tokens served (prompt + output), since start.",
               s.dollarsPerMillionTokens ?? 0)
        family("swiftlet_cost_dollars_per_million_output_tokens", "gauge", "Dollars spent per million output tokens, since start.",
               s.dollarsPerMillionOutputTokens ?? 0)
        if let m = compare, let d = s.managedDollars {
            family("swiftlet_managed_equivalent_dollars_total", "counter", "What the same prompt and output tokens would have cost at the managed model.",
                   d, labels: "managed_model=\"\(prometheusLabelValue(m.name))\"")
        }
        return out
    }
}
