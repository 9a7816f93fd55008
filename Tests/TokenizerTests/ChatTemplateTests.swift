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
        let mistral = "{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}"
        #expect(ChatTemplate(templateText: mistral) == nil)
        #expect(ChatTemplate(templateText: "") == nil)
    }

    /// Llama 3, Gemma and Phi-3 templates are recognized by their markers and rendered as their
    /// Jinja renders them (BOS left to the tokenizer).
    @Test func rendersOtherFormats() throws {
        let llama3 = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
        let gemma = "{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
        let phi3 = "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: " Hi "),
                        ChatMessage(role: "assistant", content: "Hello."), ChatMessage(role: "user", content: "Bye")]
        let l = try #require(ChatTemplate(templateText: llama3))
        #expect(l.format == .llama3)
        #expect(l.render(messages, addGenerationPrompt: true) == "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        let g = try #require(ChatTemplate(templateText: gemma))
        #expect(g.format == .gemma)
        #expect(g.render(messages, addGenerationPrompt: true) == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
            + "<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
        let p = try #require(ChatTemplate(templateText: phi3))
        #expect(p.format == .phi3)
        #expect(p.render(Array(messages.prefix(2)), addGenerationPrompt: true) == "<|system|>\nBe brief.<|end|>\n<|user|>\n Hi <|end|>\n<|assistant|>\n")
    }

    @Test func messagesAreCodable() throws {
        let message = ChatMessage(role: "user", content: "Hi")
        let json = try JSONEncoder().encode(message)
        #expect(try JSONDecoder().decode(ChatMessage.self, from: json) == message)
        let parsed = try JSONDecoder().decode(ChatMessage.self, from: Data(#"{"role":"system","content":"x"}"#.utf8))
        #expect(parsed == ChatMessage(role: "system", content: "x"))
    }
}
