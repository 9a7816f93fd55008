/// One chat message, as in OpenAI's API.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A ChatML chat template, recognized from the model's Jinja `tokenizer.chat_template`:
///
/// ```
///   <|im_start|>system\n{content}<|im_end|>\n      ← inserted when the template has a default
///   <|im_start|>user\n{content}<|im_end|>\n           and the first message is not "system"
///   <|im_start|>assistant\n                          ← with addGenerationPrompt
/// ```
///
/// Rather than run a Jinja interpreter, the template text is recognized and its one variable part,
/// the default system message, is read out of it, so a model that changes that text keeps working.
public struct ChatTemplate: Sendable, Equatable {
    /// The system message the template inserts when the conversation does not start with one.
    public let defaultSystemMessage: String?

    /// Nil when the template is not ChatML.
    public init?(templateText: String) {
        guard templateText.contains("<|im_start|>"), templateText.contains("<|im_end|>"),
              templateText.contains("role") else { return nil }
        let testsRole = templateText.contains("'system'") || templateText.contains("\"system\"")
        defaultSystemMessage = testsRole ? Self.defaultSystemMessage(in: templateText) : nil
    }

    /// A template with the given default system message (nil: none).
    public init(defaultSystemMessage: String?) {
        self.defaultSystemMessage = defaultSystemMessage
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var out = ""
        if let defaultSystemMessage, let first = messages.first, first.role != "system" {
            out += "<|im_start|>system\n\(defaultSystemMessage)<|im_end|>\n"
        }
        for message in messages {
            out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
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
