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

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        switch format {
        case .chatML: return renderChatML(messages, addGenerationPrompt)
        case .gemma: return renderGemma(messages, addGenerationPrompt)
        case .llama3:
            var out = ""
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingCharacters(in: .whitespacesAndNewlines))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
            return out
        case .phi3:
            var out = ""
            for m in messages { out += "<|\(m.role)|>\n\(m.content)<|end|>\n" }
            if addGenerationPrompt { out += "<|assistant|>\n" }
            return out
        }
    }

    private func renderChatML(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
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

    /// Gemma 3's template: the assistant is "model"; a leading system message is prefixed, with a
    /// blank line, to the first turn after it; contents are trimmed.
    private func renderGemma(_ messages: [ChatMessage], _ addGenerationPrompt: Bool) -> String {
        var out = "", prefix = ""
        var rest = messages[...]
        if let first = messages.first, first.role == "system" {
            prefix = first.content + "\n\n"
            rest = messages.dropFirst()
        }
        for (i, m) in rest.enumerated() {
            let role = m.role == "assistant" ? "model" : m.role
            out += "<start_of_turn>\(role)\n\(i == 0 ? prefix : "")\(m.content.trimmingCharacters(in: .whitespacesAndNewlines))<end_of_turn>\n"
        }
        if addGenerationPrompt { out += "<start_of_turn>model\n" }
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
