import ArgumentParser
import Cost
import Foundation
import Server

/// `serve --student A --teacher B`: a served name that answers with the student and escalates
/// to the teacher when the student's confidence is below the threshold.
struct CascadeOptions: ParsableArguments {
    @Option(help: "The cascade's student: a GGUF path, or NAME=PATH (also served under its own name).")
    var student: String?

    @Option(help: "The cascade's teacher: a GGUF path, NAME=PATH, or an OpenAI-compatible API root (http[s]://HOST/v1).")
    var teacher: String?

    @Option(help: "The upstream teacher's model name (with a URL --teacher).")
    var teacherModel: String?

    @Option(help: "An environment variable holding the upstream teacher's API key (sent as a Bearer token).")
    var teacherApiKeyEnv: String?

    @Option(help: "The upstream teacher's price: IN,OUT dollars per million prompt and output tokens.")
    var teacherPrice: String?

    @Option(help: "The upstream teacher's price from the catalogue: a managed model's name (e.g. nova-lite).")
    var teacherManaged: String?

    @Option(help: "Seconds each attempt at the upstream teacher may take.")
    var teacherTimeout: Double = 60

    @Option(help: "Attempts at the upstream teacher per escalation (retries on connection errors, 429 and 5xx, with back-off).")
    var teacherAttempts: Int = 3

    @Option(help: "The served name of the cascade route.")
    var cascadeName = "cascade"

    @Option(help: "Confidence rule: mean (geometric-mean token probability), min (least likely token), margin (first token's lead over the runner-up).")
    var cascadeRule: String = "mean"

    @Option(help: "Escalate below this confidence (0…1): X for both routes, or chat=X / completions=X (repeatable).")
    var cascadeThreshold: [String] = []

    @Option(help: "Decide on each choice's first N tokens (streaming holds them back until then); 0: on the whole answer.")
    var cascadeDecideAfter = 16

    var enabled: Bool { student != nil || teacher != nil }

    static let defaultThreshold = 0.75

    func validate() throws {
        guard enabled else { return }
        guard student != nil, teacher != nil else { throw ValidationError("a cascade needs both --student and --teacher") }
        guard ConfidenceRule(rawValue: cascadeRule) != nil else {
            throw ValidationError("--cascade-rule must be one of \(ConfidenceRule.allCases.map(\.rawValue).joined(separator: ", ")), got '\(cascadeRule)'")
        }
        _ = try thresholds()
        guard cascadeDecideAfter >= 0 else { throw ValidationError("--cascade-decide-after must be ≥ 0") }
        guard teacherTimeout.isFinite && teacherTimeout > 0 else { throw ValidationError("--teacher-timeout must be a number of seconds > 0") }
        guard (1...10).contains(teacherAttempts) else { throw ValidationError("--teacher-attempts must be in 1…10") }
        if upstreamURL != nil {
            guard teacherModel != nil else { throw ValidationError("an upstream --teacher URL needs --teacher-model NAME") }
            if teacherPrice != nil && teacherManaged != nil { throw ValidationError("give the teacher's price once: --teacher-price or --teacher-managed") }
            if let p = teacherPrice { _ = try Self.price(p) }
        } else if teacherPrice != nil || teacherManaged != nil || teacherModel != nil || teacherApiKeyEnv != nil {
            throw ValidationError("--teacher-model, --teacher-price, --teacher-managed and --teacher-api-key-env are for an upstream (URL) --teacher")
        }
    }

    /// The teacher's URL when it is an upstream server.
    var upstreamURL: URL? {
        guard let t = teacher, t.hasPrefix("http://") || t.hasPrefix("https://") else { return nil }
        return URL(string: t)
    }

    func thresholds() throws -> [CascadeRoute.Endpoint: Double] {
        var t: [CascadeRoute.Endpoint: Double] = [.chat: Self.defaultThreshold, .completions: Self.defaultThreshold]
        for item in cascadeThreshold {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let valueText = parts.last!
            guard let value = Double(valueText), (0...1).contains(value) else {
                throw ValidationError("--cascade-threshold takes a confidence in 0…1, or chat=X / completions=X; got '\(item)'")
            }
            if parts.count == 1 {
                t = [.chat: value, .completions: value]
            } else {
                guard let endpoint = CascadeRoute.Endpoint(rawValue: parts[0]) else {
                    throw ValidationError("--cascade-threshold: the route is chat or completions, got '\(parts[0])'")
                }
                t[endpoint] = value
            }
        }
        return t
    }

    static func price(_ text: String) throws -> (Double, Double) {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let o = parts[1], i >= 0, o >= 0, i.isFinite, o.isFinite else {
            throw ValidationError("--teacher-price takes IN,OUT dollars per million tokens, e.g. 0.06,0.24; got '\(text)'")
        }
        return (i, o)
    }

    /// The upstream teacher's price per token, from --teacher-price or the catalogue.
    func upstreamPrice(prices: String?) throws -> TokenPrice? {
        if let p = teacherPrice {
            let (i, o) = try Self.price(p)
            return TokenPrice(inputPerMillion: i, outputPerMillion: o, source: "--teacher-price")
        }
        guard let managed = teacherManaged else { return nil }
        let m = try PriceCatalogue.load(overrides: prices).managedModels([managed])[0]
        return TokenPrice(inputPerMillion: m.inputPerMillion, outputPerMillion: m.outputPerMillion, source: "\(m.name): \(m.source), \(m.date)")
    }

    func upstream() throws -> UpstreamTeacher? {
        guard let url = upstreamURL, let model = teacherModel else { return nil }
        var key: String?
        if let env = teacherApiKeyEnv {
            guard let value = ProcessInfo.processInfo.environment[env], !value.isEmpty else {
                throw CLIError("--teacher-api-key-env \(env): the variable is not set")
            }
            key = value
        }
        return UpstreamTeacher(baseURL: url, model: model, apiKey: key, attempts: teacherAttempts,
                               timeout: .milliseconds(Int64(teacherTimeout * 1000)))
    }

    /// NAME and PATH of a local model option (NAME=PATH, or the file's name without `.gguf`).
    static func entry(_ option: String) -> (String, String) {
        if let eq = option.firstIndex(of: "="), !option[..<eq].contains("/") {
            return (String(option[..<eq]), String(option[option.index(after: eq)...]))
        }
        return (URL(fileURLWithPath: option).deletingPathExtension().lastPathComponent, option)
    }
}
