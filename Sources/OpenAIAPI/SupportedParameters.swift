/// Which request fields Swiftlet honours. OpenAI answers a field it does not know with 400; so
/// does Swiftlet, naming it, instead of returning 200 as if it had been honoured. Fields that only
/// select what Swiftlet does anyway (`response_format` text, an empty `tools` list) are accepted.
enum SupportedParameters {
    /// Both endpoints: OpenAI's sampling and output fields, and vLLM's extras (`top_k`, `min_p`,
    /// `repetition_penalty`, `ignore_eos`). `user` is an opaque end-user id, accepted and unused.
    static let shared: Set<String> = [
        "model", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "seed", "user",
        "top_k", "min_p", "repetition_penalty", "ignore_eos",
    ]
    static let completion: Set<String> = shared.union(["prompt", "echo", "best_of", "suffix"])
    static let chat: Set<String> = shared.union([
        "messages", "top_logprobs", "max_completion_tokens", "response_format", "tools", "tool_choice",
        "parallel_tool_calls", "functions", "function_call", "store",
    ])

    /// 400 for the first field (in name order) that is unknown, or known and asking for something
    /// Swiftlet does not do. JSON null counts as absent.
    static func check(_ f: Fields, chat: Bool) throws(APIError) {
        let known = chat ? self.chat : completion
        let endpoint = chat ? "/v1/chat/completions" : "/v1/completions"
        for key in f.object.keys.sorted() where f.value(key) != nil {
            guard known.contains(key) else {
                let hint = (chat ? completion : self.chat).contains(key) ? " (it belongs to \(chat ? "/v1/completions" : "/v1/chat/completions"))" : ""
                throw unsupported(key, "'\(key)' is not a parameter Swiftlet's \(endpoint) supports\(hint)")
            }
        }
        if chat {
            switch f.value("tools") {
            case nil: break
            case .array(let tools)? where tools.isEmpty: break
            case .array?: throw unsupported("tools", "'tools' (function calling) is not supported yet")
            case let other?: throw .invalid("'tools' must be an array, got \(other.typeName)", param: "tools")
            }
            for key in ["functions", "function_call"] where f.value(key) != nil {
                throw unsupported(key, "'\(key)' (function calling) is not supported")
            }
            if let choice = f.value("tool_choice"), choice != .string("none"), choice != .string("auto") {
                throw unsupported("tool_choice", "'tool_choice' can only be \"none\" or \"auto\": function calling is not supported yet")
            }
            if let format = f.value("response_format") {
                guard case .object(let o) = format, case .string(let type)? = o["type"] else {
                    throw .invalid("'response_format' must be an object with a 'type'", param: "response_format")
                }
                guard type == "text" else {
                    throw unsupported("response_format", "'response_format' of type '\(type)' (structured output) is not supported yet; only \"text\"")
                }
            }
            if try f.bool("store") == true {
                throw unsupported("store", "'store': Swiftlet does not store completions")
            }
        } else {
            switch f.value("suffix") {
            case nil, .string("")?: break
            default: throw unsupported("suffix", "'suffix' (insertion) is not supported")
            }
        }
    }

    static func unsupported(_ param: String, _ message: String) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: "unsupported_parameter")
    }
}
