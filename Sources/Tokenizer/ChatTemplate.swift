import Foundation

/// One chat message, as in OpenAI's API.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The chat formats Swiftlet renders, recognized from the model's Jinja `tokenizer.chat_template`
/// by their marker tokens (rather than by running a Jinja interpreter):
///
/// ```
///   chatML   <|im_start|>{role}\n{content}<|im_end|>\n …            <|im_start|>assistant\n
///   gemma    <start_of_turn>{user|model}\n{content}<end_of_turn>\n … <start_of_turn>model\n
///            (a system message goes before the first user turn's text, then a blank line)
///   llama3   <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> …
///                                            <|start_header_id|>assistant<|end_header_id|>\n\n
///   phi3     <|{role}|>\n{content}<|end|>\n …                       <|assistant|>\n
/// ```
///
/// BOS is not part of the rendered text: the tokenizer adds it when the model asks
/// (`add_bos_token`). ChatML templates may insert a default system message when the
/// conversation does not start with one (SmolLM2's, Qwen's); its text is read out of the template.
public struct ChatTemplate: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable { case chatML, gemma, llama3, phi3 }

    public let format: Format
    /// The system message the template inserts when the conversation does not start with one.
    public let defaultSystemMessage: String?

    /// Nil when the template is none of the known formats.
    public init?(templateText: String) {
        func has(_ markers: String...) -> Bool { markers.allSatisfy { templateText.contains($0) } }
        if has("<|im_start|>", "<|im_end|>", "role") {
            format = .chatML
            let testsRole = templateText.contains("'system'") || templateText.contains("\"system\"")
            defaultSystemMessage = testsRole ? Self.defaultSystemMessage(in: templateText) : nil
        } else if has("<start_of_turn>", "<end_of_turn>") {
            format = .gemma
            defaultSystemMessage = nil
        } else if has("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>") {
            format = .llama3
            defaultSystemMessage = nil
        } else if has("<|assistant|>", "<|end|>") {
            format = .phi3
            defaultSystemMessage = nil
        } else {
            return nil
        }
    }

    /// A ChatML template with the given default system message (nil: none).
    public init(defaultSystemMessage: String?) {
        format = .chatML
        self.defaultSystemMessage = defaultSystemMessage
    }

    public init(format: Format) {
        self.format = format
        defaultSystemMessage = nil
    }

    /// A piece of rendered chat text: the template's own text (its special tokens are tokens), or
    /// a message's content (plain text: "<|im_start|>" typed by a user stays text, so no one can
    /// forge a turn).
    public struct Segment: Sendable, Equatable {
        public var text: String
        public var isContent: Bool
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        segments(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// The rendered conversation as template text and message contents, in order.
    public func segments(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Segment] {
        var out: [Segment] = []
        func t(_ text: String) { if !text.isEmpty { out.append(Segment(text: text, isContent: false)) } }
        func c(_ text: String) { if !text.isEmpty { out.append(Segment(text: text, isContent: true)) } }
        func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }
        switch format {
        case .chatML:
            if let defaultSystemMessage, let first = messages.first, first.role != "system" {
                t("<|im_start|>system\n\(defaultSystemMessage)<|im_end|>\n")
            }
            for m in messages { t("<|im_start|>"); c(m.role); t("\n"); c(m.content); t("<|im_end|>\n") }
            if addGenerationPrompt { t("<|im_start|>assistant\n") }
        case .gemma:
            // The assistant is "model"; a leading system message is prefixed, with a blank line,
            // to the first turn after it; contents are trimmed.
            var prefix = "", rest = messages[...]
            if let first = messages.first, first.role == "system" {
                prefix = first.content + "\n\n"
                rest = messages.dropFirst()
            }
            for (i, m) in rest.enumerated() {
                t("<start_of_turn>"); c(m.role == "assistant" ? "model" : m.role); t("\n")
                c((i == 0 ? prefix : "") + trimmed(m.content)); t("<end_of_turn>\n")
            }
            if addGenerationPrompt { t("<start_of_turn>model\n") }
        case .llama3:
            for m in messages {
                t("<|start_header_id|>"); c(m.role); t("<|end_header_id|>\n\n"); c(trimmed(m.content)); t("<|eot_id|>")
            }
            if addGenerationPrompt { t("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        case .phi3:
            for m in messages { t("<|"); c(m.role); t("|>\n"); c(m.content); t("<|end|>\n") }
            if addGenerationPrompt { t("<|assistant|>\n") }
        }
        return out
    }

    /// Finds a fixed system turn in the template — `'<|im_start|>system\n…<|im_end|>'` as one
    /// Jinja string literal (or as raw template text) — and returns the text between.
    static func defaultSystemMessage(in template: String) -> String? {
        let opening = "<|im_start|>system"
        var searchStart = template.startIndex
        while let found = template[searchStart...].firstRange(of: opening) {
            searchStart = found.upperBound
            let text: String
            if found.lowerBound > template.startIndex,
               case let quote = template[template.index(before: found.lowerBound)], quote == "'" || quote == "\"" {
                text = unescapedLiteral(template[found.lowerBound...], quote: quote)
            } else {
                text = String(template[found.lowerBound...])
            }
            // "<|im_start|>system" + newline + message + "<|im_end|>", the message plain text.
            guard text.hasPrefix(opening + "\n"),
                  let end = text.firstRange(of: "<|im_end|>") else { continue }
            let message = text[text.index(text.startIndex, offsetBy: opening.count + 1)..<end.lowerBound]
            if message.isEmpty || message.contains("{{") || message.contains("{%") { continue }
            return String(message)
        }
        return nil
    }

    /// The rest of a Jinja string literal up to its closing quote, with `\n`, `\t`, `\\` and
    /// escaped quotes resolved.
    private static func unescapedLiteral(_ text: Substring, quote: Character) -> String {
        var out = ""
        var escaped = false
        for ch in text {
            if escaped {
                switch ch {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                default: out.append(ch)
                }
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == quote {
                break
            } else {
                out.append(ch)
            }
        }
        return out
    }
}
