import Engine
import Foundation
import OpenAIAPI

/// OpenAI's response objects, built as JSON dictionaries (keys sorted on output).
enum ResponseJSON {
    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    /// Usage of a response whose choices are `u` in order, `n` consecutive choices per prompt:
    /// each prompt counts once (its choices share it, as OpenAI reports), every choice's output counts.
    static func usage(_ u: [RequestUsage], choicesPerPrompt n: Int = 1) -> [String: Any] {
        let prompts = u.enumerated().filter { $0.offset % max(1, n) == 0 }.map(\.element)
        let prompt = prompts.reduce(0) { $0 + $1.promptTokens }
        let completion = u.reduce(0) { $0 + $1.generatedTokens }
        var usage: [String: Any] = ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                                    "prompt_tokens_details": ["cached_tokens": prompts.reduce(0) { $0 + $1.cachedPromptTokens }]]
        // Speculative decoding, in OpenAI's fields for predicted tokens: drafts the target kept
        // (part of completion_tokens) and drafts it checked and threw away (not output).
        let drafted = u.reduce(0) { $0 + $1.draftTokens }, accepted = u.reduce(0) { $0 + $1.acceptedDraftTokens }
        if drafted > 0 {
            usage["completion_tokens_details"] = ["accepted_prediction_tokens": accepted, "rejected_prediction_tokens": drafted - accepted]
        }
        return usage
    }

    static func finishReason(_ r: FinishReason) -> String {
        switch r {
        case .stop: return "stop"
        case .length: return "length"
        case .cancelled, .error: return "abort"
        }
    }

    /// Completions' logprobs object for a run of tokens.
    static func completionLogprobs(_ tokens: [GeneratedToken], _ piece: (Int) -> String) -> [String: Any] {
        var offset = 0
        var offsets: [Int] = []
        for t in tokens { offsets.append(offset); offset += t.text.count }
        return [
            "tokens": tokens.map { piece($0.id) },
            "token_logprobs": tokens.map { Double($0.logprob ?? 0) },
            "top_logprobs": tokens.map { t in Dictionary(t.topLogprobs.map { (piece($0.id), Double($0.logprob)) }, uniquingKeysWith: { a, _ in a }) },
            "text_offset": offsets,
        ]
    }

    /// Chat's logprobs object: {"content": [{token, logprob, bytes, top_logprobs: [...]}]}.
    static func chatLogprobs(_ tokens: [GeneratedToken], _ piece: (Int) -> String) -> [String: Any] {
        ["content": tokens.map { t -> [String: Any] in
            let token = piece(t.id)
            return ["token": token, "logprob": Double(t.logprob ?? 0), "bytes": Array(token.utf8).map(Int.init),
                    "top_logprobs": t.topLogprobs.map { alt -> [String: Any] in
                        let p = piece(alt.id)
                        return ["token": p, "logprob": Double(alt.logprob), "bytes": Array(p.utf8).map(Int.init)]
                    }]
        }]
    }
}
