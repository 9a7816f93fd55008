import Engine
import Foundation
import Synchronization

/// Per cascade route: how requests were answered, the tokens and engine seconds of each side, and
/// the dollars spent against a teacher-only estimate (`GET /metrics`, `swiftlet_cascade_*`).
public final class CascadeMetrics: Sendable {
    struct Side {
        var promptTokens = 0, outputTokens = 0
        /// Engine seconds (prefill + decode) of a local model's requests.
        var engineSeconds = 0.0
        /// An upstream teacher's dollars at its price per token.
        var pricedDollars = 0.0
    }

    struct RouteCounters {
        /// Requests by outcome: "student" (confident), "teacher" (escalated), "student_escalation_failed".
        var outcomes: [String: Int] = [:]
        var student = Side(), teacher = Side()
        /// The student's tokens in requests it answered: what the teacher-only estimate prices.
        var unescalatedPromptTokens = 0, unescalatedOutputTokens = 0
        var upstreamRetries = 0, upstreamFailures = 0
    }

    private let state = Mutex<[String: RouteCounters]>([:])

    public init() {}

    private func update(_ route: String, _ change: (inout RouteCounters) -> Void) {
        state.withLock { all in
            var c = all[route] ?? RouteCounters()
            change(&c)
            all[route] = c
        }
    }

    func outcome(_ route: String, _ outcome: String) { update(route) { $0.outcomes[outcome, default: 0] += 1 } }

    /// A local model's choice ended (student or teacher).
    func engineUsage(_ route: String, teacher: Bool, _ usage: RequestUsage) {
        update(route) { c in
            func add(_ s: inout Side) {
                s.promptTokens += usage.promptTokens
                s.outputTokens += usage.generatedTokens
                s.engineSeconds += usage.prefillSeconds + usage.decodeSeconds
            }
            if teacher { add(&c.teacher) } else { add(&c.student) }
        }
    }

    /// An upstream teacher's answer (its reported usage, at its price if known).
    func upstreamUsage(_ route: String, promptTokens: Int, outputTokens: Int, price: TokenPrice?) {
        update(route) { c in
            c.teacher.promptTokens += promptTokens
            c.teacher.outputTokens += outputTokens
            c.teacher.pricedDollars += price?.dollars(prompt: promptTokens, output: outputTokens) ?? 0
        }
    }

    /// The student answered: its tokens go into the teacher-only estimate.
    func unescalated(_ route: String, promptTokens: Int, outputTokens: Int) {
        update(route) { $0.unescalatedPromptTokens += promptTokens; $0.unescalatedOutputTokens += outputTokens }
    }

    func upstreamRetry(_ route: String) { update(route) { $0.upstreamRetries += 1 } }
    func upstreamFailure(_ route: String) { update(route) { $0.upstreamFailures += 1 } }

    func counters(_ route: String) -> RouteCounters { state.withLock { $0[route] ?? RouteCounters() } }

    /// Dollars the route spent, and what the teacher alone would have cost (estimated), when the
    /// prices are known: local models at their engine seconds × the instance's price per second
    /// (each request's own seconds: with concurrent requests an upper bound), an upstream teacher
    /// at its price per token. The estimate prices the student-answered requests' tokens at the
    /// teacher's rate: its price per token, or a local teacher's mean measured dollars per token
    /// (none before its first escalation).
    static func dollars(_ c: RouteCounters, route: CascadeRoute, instancePerHour: Double?) -> (spent: Double, teacherOnly: Double)? {
        let local = { (s: Side) -> Double? in instancePerHour.map { s.engineSeconds / 3600 * $0 } }
        guard let student = local(c.student) else { return nil }
        switch route.teacher {
        case .local:
            guard let teacher = local(c.teacher) else { return nil }
            let tokens = c.teacher.promptTokens + c.teacher.outputTokens
            guard tokens > 0 else { return nil }
            let perToken = teacher / Double(tokens)
            return (student + teacher, teacher + Double(c.unescalatedPromptTokens + c.unescalatedOutputTokens) * perToken)
        case .upstream:
            guard let price = route.teacherPrice else { return nil }
            return (student + c.teacher.pricedDollars,
                    c.teacher.pricedDollars + price.dollars(prompt: c.unescalatedPromptTokens, output: c.unescalatedOutputTokens))
        }
    }

    func render(_ routes: [CascadeRoute], instancePerHour: Double?) -> String {
        let all = state.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ lines: (CascadeRoute, RouteCounters) -> [String]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for r in routes { for line in lines(r, all[r.name] ?? RouteCounters()) { out += line + "\n" } }
        }
        func label(_ r: CascadeRoute, _ extra: String = "") -> String { "{route=\"\(prometheusLabelValue(r.name))\"\(extra)}" }
        family("swiftlet_cascade_requests_total", "counter",
               "Cascade requests by outcome: student (confident), teacher (escalated), student_escalation_failed (teacher unreachable).") { r, c in
            ["student", "teacher", "student_escalation_failed"].map { "swiftlet_cascade_requests_total\(label(r, ",outcome=\"\($0)\"")) \(c.outcomes[$0] ?? 0)" }
        }
        family("swiftlet_cascade_escalation_rate", "gauge", "Share of cascade requests sent to the teacher (failed escalations included), since start.") { r, c in
            let total = c.outcomes.values.reduce(0, +)
            let escalated = (c.outcomes["teacher"] ?? 0) + (c.outcomes["student_escalation_failed"] ?? 0)
            return ["swiftlet_cascade_escalation_rate\(label(r)) \(total > 0 ? Double(escalated) / Double(total) : 0)"]
        }
        family("swiftlet_cascade_tokens_total", "counter", "Tokens by side and kind (the student's include those of escalated requests).") { r, c in
            [("student", c.student), ("teacher", c.teacher)].flatMap { side, s in
                [("prompt", s.promptTokens), ("output", s.outputTokens)].map { kind, n in
                    "swiftlet_cascade_tokens_total\(label(r, ",side=\"\(side)\",kind=\"\(kind)\"")) \(n)"
                }
            }
        }
        family("swiftlet_cascade_upstream_retries_total", "counter", "Retried attempts at the upstream teacher.") { r, c in
            ["swiftlet_cascade_upstream_retries_total\(label(r)) \(c.upstreamRetries)"]
        }
        family("swiftlet_cascade_upstream_failures_total", "counter", "Escalations that got no answer after their retries (the student's answer was served).") { r, c in
            ["swiftlet_cascade_upstream_failures_total\(label(r)) \(c.upstreamFailures)"]
        }
        let priced = routes.compactMap { r in Self.dollars(all[r.name] ?? RouteCounters(), route: r, instancePerHour: instancePerHour).map { (r, $0) } }
        if !priced.isEmpty {
            out += "# HELP swiftlet_cascade_dollars_total Dollars the cascade spent: local models at their engine seconds times the instance price (per request: an upper bound with concurrency), an upstream teacher at its price per token.\n"
            out += "# TYPE swiftlet_cascade_dollars_total counter\n"
            for (r, d) in priced { out += "swiftlet_cascade_dollars_total\(label(r)) \(d.spent)\n" }
            out += "# HELP swiftlet_cascade_teacher_only_dollars_estimate Estimated dollars had the teacher answered every request: the student-answered tokens at the teacher's price per token (a local teacher: its mean measured dollars per token).\n"
            out += "# TYPE swiftlet_cascade_teacher_only_dollars_estimate gauge\n"
            for (r, d) in priced { out += "swiftlet_cascade_teacher_only_dollars_estimate\(label(r)) \(d.teacherOnly)\n" }
        }
        return out
    }
}
