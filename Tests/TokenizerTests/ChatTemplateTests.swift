import Foundation
import Testing
@testable import Tokenizer

@Suite struct ChatTemplateTests {
    /// SmolLM2's template as stored in its GGUF (real newlines inside the Jinja literals).
    static let smolLM = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        + "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
        + "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    @Test func readsDefaultSystemMessage() throws {
        let template = try #require(ChatTemplate(templateText: Self.smolLM))
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        // The text comes from the template, not from this module.
        let other = Self.smolLM.replacingOccurrences(of: "named SmolLM", with: "named Test")
        #expect(ChatTemplate(templateText: other)?.defaultSystemMessage
                == "You are a helpful AI assistant named Test, trained by Hugging Face")
    }

    /// Templates written with escaped newlines and double quotes read the same.
    @Test func readsEscapedLiteral() {
        let text = #"{% if messages[0]["role"] != "system" %}{{ "<|im_start|>system\nBe \"brief\".<|im_end|>\n" }}{% endif %}"#
            + #"{% for m in messages %}{{ "<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>\n" }}{% endfor %}"#
        #expect(ChatTemplate(templateText: text)?.defaultSystemMessage == "Be \"brief\".")
    }

    @Test func rendersChatML() throws {
        let template = try #require(ChatTemplate(templateText: Self.smolLM))
        let system = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        #expect(template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
                == system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(template.render([ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "U")],
                                addGenerationPrompt: false)
                == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n")
        #expect(template.render([], addGenerationPrompt: true) == "<|im_start|>assistant\n")
    }

    /// A ChatML template without a fixed system turn inserts none.
    @Test func noDefaultSystemMessage() throws {
        let text = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        let template = try #require(ChatTemplate(templateText: text))
        #expect(template.defaultSystemMessage == nil)
        #expect(template.render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false)
                == "<|im_start|>user\nHi<|im_end|>\n")
    }

    @Test func rejectsOtherFormats() {
        let llama3 = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}{% endfor %}"
        #expect(ChatTemplate(templateText: llama3) == nil)
        #expect(ChatTemplate(templateText: "") == nil)
    }

    @Test func messagesAreCodable() throws {
        let message = ChatMessage(role: "user", content: "Hi")
        let json = try JSONEncoder().encode(message)
        #expect(try JSONDecoder().decode(ChatMessage.self, from: json) == message)
        let parsed = try JSONDecoder().decode(ChatMessage.self, from: Data(#"{"role":"system","content":"x"}"#.utf8))
        #expect(parsed == ChatMessage(role: "system", content: "x"))
    }
}
