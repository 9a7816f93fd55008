import Engine
import Foundation
import HTTPTypes

/// How sure the student is of its answer, from its own token log-probabilities. Every rule gives
/// a probability in 0…1, so thresholds read the same way for all three (and as in `eval cascade`).
public enum ConfidenceRule: String, Sendable, CaseIterable {
    /// The geometric mean of the chosen tokens' probabilities: exp(mean log-probability).
    case mean
    /// The least likely chosen token's probability.
    case min
    /// The first token's probability minus the runner-up's: how clearly the answer started.
    case margin

    /// Alternatives per token the rule reads (the margin needs the runner-up).
    var alternativesNeeded: Int { self == .margin ? 2 : 0 }

    /// The confidence of one choice's tokens (those seen when the decision is made). An empty
    /// answer has no evidence for it: 0, so it escalates.
    func confidence(_ tokens: [GeneratedToken]) -> Double {
        guard !tokens.isEmpty else { return 0 }
        switch self {
        case .mean:
            return exp(tokens.reduce(0.0) { $0 + Double($1.logprob ?? -.infinity) } / Double(tokens.count))
        case .min:
            return exp(tokens.map { Double($0.logprob ?? -.infinity) }.min()!)
        case .margin:
            let first = tokens[0]
            // The chosen token may not be the most likely one (sampling): the margin is over the
            // most likely other token, and 0 when that one is likelier.
            let other = first.topLogprobs.filter { $0.id != first.id }.map { exp(Double($0.logprob)) }.max() ?? 0
            return max(0, exp(Double(first.logprob ?? -.infinity)) - other)
        }
    }
}

/// Where an escalated request goes: a model served here, or an OpenAI-compatible server.
public enum CascadeTeacher: Sendable {
    case local(ServedModel)
    case upstream(UpstreamTeacher)

    public var name: String {
        switch self {
        case .local(let m): m.name
        case .upstream(let u): u.model
        }
    }
}

/// A served model name that answers with the student and re-answers with the teacher when the
/// student is unsure (`serve --student A --teacher B`).
public struct CascadeRoute: Sendable {
    public enum Endpoint: String, Sendable, CaseIterable { case chat, completions }

    public let name: String
    public let student: ServedModel
    public let teacher: CascadeTeacher
    public let rule: ConfidenceRule
    /// Escalate when the confidence is below the endpoint's threshold.
    public let thresholds: [Endpoint: Double]
    /// Decide on each choice's first N tokens (0: on the whole answer). Streaming holds back the
    /// student's tokens until then.
    public let decideAfter: Int
    /// Dollars per million prompt and output tokens for each side, where known (nil: a local
    /// model, whose dollars come from its engine seconds at the instance price).
    public let teacherPrice: TokenPrice?

    public init(name: String, student: ServedModel, teacher: CascadeTeacher, rule: ConfidenceRule, thresholds: [Endpoint: Double],
                decideAfter: Int, teacherPrice: TokenPrice?) {
        self.name = name
        self.student = student
        self.teacher = teacher
        self.rule = rule
        self.thresholds = thresholds
        self.decideAfter = decideAfter
        self.teacherPrice = teacherPrice
    }

    func threshold(chat: Bool) -> Double { thresholds[chat ? .chat : .completions] ?? 0 }
}

/// Dollars per million prompt (input) and output tokens.
public struct TokenPrice: Sendable, Equatable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    /// Where the figure comes from (a catalogue entry and its date, or "--teacher-price").
    public var source: String

    public init(inputPerMillion: Double, outputPerMillion: Double, source: String) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.source = source
    }

    func dollars(prompt: Int, output: Int) -> Double {
        (Double(prompt) * inputPerMillion + Double(output) * outputPerMillion) / 1e6
    }
}

/// Who answered a cascade request and why: the response's `cascade` object and headers.
struct CascadeOutcome: Sendable {
    enum AnsweredBy: String, Sendable { case student, teacher }
    var route: String
    var answeredBy: AnsweredBy
    var model: String
    var rule: ConfidenceRule
    var confidence: Double
    var threshold: Double
    /// Tokens per choice the confidence was computed on.
    var decidedOnTokens: Int
    /// The escalation failed (teacher down, timed out, refused): the student's answer is served.
    var escalationError: String?
    /// The student's usage, counted although the teacher answered.
    var studentPromptTokens = 0, studentOutputTokens = 0

    var escalated: Bool { answeredBy == .teacher }

    var json: [String: Any] {
        var o: [String: Any] = ["route": route, "answered_by": answeredBy.rawValue, "model": model, "rule": rule.rawValue,
                                "confidence": confidence.isFinite ? confidence : 0, "threshold": threshold,
                                "decided_on_tokens": decidedOnTokens, "escalated": escalated,
                                "escalation_attempted": escalated || escalationError != nil,
                                "student_usage": ["prompt_tokens": studentPromptTokens, "completion_tokens": studentOutputTokens]]
        if let escalationError { o["escalation_error"] = escalationError }
        return o
    }

    var headers: HTTPFields {
        var h: HTTPFields = [:]
        h[HTTPField.Name("X-Swiftlet-Answered-By")!] = answeredBy.rawValue
        h[HTTPField.Name("X-Swiftlet-Model")!] = model
        h[HTTPField.Name("X-Swiftlet-Cascade-Confidence")!] = String(format: "%.4f", confidence)
        if escalationError != nil { h[HTTPField.Name("X-Swiftlet-Escalation")!] = "failed" }
        return h
    }
}
