import Engine
import Foundation
import OpenAIAPI
import Testing
import Tokenizer

/// Request bodies of /v1/completions and /v1/chat/completions: every malformed or out-of-range
/// case is a 400 (413 for size) naming the parameter, with OpenAI's error body.
@Suite struct RequestParserTests {
    func completion(_ json: String) -> Result<CompletionRequest, APIError> {
        Result { () throws(APIError) -> CompletionRequest in try RequestParser.completion(Data(json.utf8)) }
    }

    func chat(_ json: String) -> Result<ChatRequest, APIError> {
        Result { () throws(APIError) -> ChatRequest in try RequestParser.chat(Data(json.utf8)) }
    }

    func error<T>(_ r: Result<T, APIError>) -> APIError? {
        if case .failure(let e) = r { return e }
        return nil
    }

    @Test func validCompletion() throws {
        let r = try completion(#"{"model":"m","prompt":"Hi","max_tokens":5,"temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"#
            + #""seed":7,"stop":["\n"],"n":2,"stream":true,"stream_options":{"include_usage":true},"logprobs":3}"#).get()
        #expect(r.model == "m" && r.prompts == [.text("Hi")])
        let p = r.parameters
        #expect(p.maxTokens == 5 && p.sampling.temperature == 0.7 && p.sampling.topK == 40 && p.sampling.seed == 7)
        #expect(p.stop == ["\n"] && p.n == 2 && p.stream && p.includeUsage && p.logprobs == 3)
    }

    @Test func promptForms() throws {
        #expect(try completion(#"{"model":"m","prompt":[1,2,3]}"#).get().prompts == [.tokens([1, 2, 3])])
        #expect(try completion(#"{"model":"m","prompt":["a","b"]}"#).get().prompts == [.text("a"), .text("b")])
        #expect(try completion(#"{"model":"m","prompt":[[1],[2,3]]}"#).get().prompts == [.tokens([1]), .tokens([2, 3])])
        for bad in [#""prompt":"""#, #""prompt":[]"#, #""prompt":[1,"a"]"#, #""prompt":{"x":1}"#, #""prompt":[1.5]"#, #""prompt":true"#] {
            let e = error(completion(#"{"model":"m",\#(bad)}"#))
            #expect(e?.status == 400 && e?.param == "prompt", "\(bad): \(String(describing: e))")
        }
    }

    @Test func malformedBodies() {
        for body in ["", "{", #"{"model":"m","prompt":"x""#, "[1,2]", "null", "not json"] {
            let e = error(completion(body))
            #expect(e?.status == 400 && e?.type == "invalid_request_error" && e?.param == nil, "\(body)")
        }
        let notUTF8 = Data([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D])
        #expect(throws: APIError.self) { try RequestParser.completion(notUTF8) }
        var limits = RequestLimits()
        limits.maxBodyBytes = 16
        let big = Data(#"{"model":"m","prompt":"a long prompt"}"#.utf8)
        #expect(throws: APIError.bodyTooLarge(bytes: big.count, limit: 16)) { try RequestParser.completion(big, limits: limits) }
    }

    @Test func missingAndWronglyTypedFieldsNameTheParameter() {
        let cases: [(String, String)] = [
            (#"{"prompt":"x"}"#, "model"),
            (#"{"model":1,"prompt":"x"}"#, "model"),
            (#"{"model":"m"}"#, "prompt"),
            (#"{"model":"m","prompt":"x","max_tokens":"5"}"#, "max_tokens"),
            (#"{"model":"m","prompt":"x","temperature":"hot"}"#, "temperature"),
            (#"{"model":"m","prompt":"x","stream":1}"#, "stream"),
            (#"{"model":"m","prompt":"x","n":1.5}"#, "n"),
            (#"{"model":"m","prompt":"x","stop":5}"#, "stop"),
            (#"{"model":"m","prompt":"x","stop":["a",1]}"#, "stop"),
            (#"{"model":"m","prompt":"x","stream_options":true}"#, "stream_options"),
            (#"{"model":"m","prompt":"x","logprobs":true}"#, "logprobs"),
        ]
        for (body, param) in cases {
            let e = error(completion(body))
            #expect(e?.status == 400 && e?.param == param, "\(body): \(String(describing: e))")
        }
    }

    @Test func outOfRangeParameters() {
        let cases: [(String, String)] = [
            (#""max_tokens":0"#, "max_tokens"), (#""max_tokens":-3"#, "max_tokens"), (#""max_tokens":100000000"#, "max_tokens"),
            (#""temperature":-0.1"#, "temperature"), (#""temperature":2.5"#, "temperature"), (#""temperature":"NaN""#, "temperature"),
            (#""top_p":0"#, "top_p"), (#""top_p":1.01"#, "top_p"), (#""top_k":-2"#, "top_k"),
            (#""min_p":-0.1"#, "min_p"), (#""min_p":1.5"#, "min_p"),
            (#""frequency_penalty":2.1"#, "frequency_penalty"), (#""presence_penalty":-2.5"#, "presence_penalty"),
            (#""repetition_penalty":0"#, "repetition_penalty"),
            (#""n":0"#, "n"), (#""n":1000"#, "n"), (#""logprobs":21"#, "logprobs"),
            (#""stop":["a","b","c","d","e"]"#, "stop"), (#""stop":[""]"#, "stop"), (#""stop":"""#, "stop"),
        ]
        for (field, param) in cases {
            let e = error(completion(#"{"model":"m","prompt":"x",\#(field)}"#))
            #expect(e?.status == 400 && e?.param == param, "\(field): \(String(describing: e))")
        }
        // Infinity does not parse as JSON at all.
        #expect(error(completion(#"{"model":"m","prompt":"x","temperature":1e999}"#))?.status == 400)
        #expect((try? completion(#"{"model":"m","prompt":"x","top_k":-1,"temperature":2,"top_p":1}"#).get()) != nil)
    }

    @Test func chatMessages() throws {
        let r = try chat(#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],"logprobs":true,"top_logprobs":5}"#).get()
        #expect(r.messages == [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi!")])
        #expect(r.parameters.logprobs == 5)
        #expect(try chat(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#).get().parameters.logprobs == nil)
        let cases: [(String, String)] = [
            (#"{"model":"m"}"#, "messages"),
            (#"{"model":"m","messages":[]}"#, "messages"),
            (#"{"model":"m","messages":"hi"}"#, "messages"),
            (#"{"model":"m","messages":[1]}"#, "messages[0]"),
            (#"{"model":"m","messages":[{"content":"x"}]}"#, "messages[0].role"),
            (#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
            (#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user"}]}"#, "messages[1].content"),
            (#"{"model":"m","messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
            (#"{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}"#, "top_logprobs"),
            (#"{"model":"m","messages":[{"role":"user","content":"x"}],"top_logprobs":2}"#, "top_logprobs"),
        ]
        for (body, param) in cases {
            let e = error(chat(body))
            #expect(e?.status == 400 && e?.param == param, "\(body): \(String(describing: e))")
        }
    }

    @Test func contextAndVocabularyChecks() throws {
        var p = GenerationParameters()
        #expect(try p.engineRequest(promptTokens: [1, 2, 3], contextSize: 8, vocabularySize: 10).maxTokens == 5)
        let tooLong = Result { () throws(APIError) -> EngineRequest in try p.engineRequest(promptTokens: Array(repeating: 1, count: 8), contextSize: 8, vocabularySize: 10) }
        #expect(error(tooLong)?.code == "context_length_exceeded" && error(tooLong)?.param == "prompt")
        let badID = Result { () throws(APIError) -> EngineRequest in try p.engineRequest(promptTokens: [1, 10], contextSize: 8, vocabularySize: 10) }
        #expect(error(badID)?.param == "prompt" && error(badID)?.status == 400)
        p.maxTokens = 6
        let over = Result { () throws(APIError) -> EngineRequest in try p.engineRequest(promptTokens: [1, 2, 3], contextSize: 8, vocabularySize: 10) }
        #expect(error(over)?.param == "max_tokens" && error(over)?.code == "context_length_exceeded")
        p.maxTokens = 5
        #expect(try p.engineRequest(promptTokens: [1, 2, 3], contextSize: 8, vocabularySize: 10).maxTokens == 5)
    }

    @Test func errorBodyIsOpenAIs() throws {
        let body = APIError.invalid("bad", param: "top_p").body
        let object = try JSONSerialization.jsonObject(with: body) as? [String: [String: Any]]
        let e = object?["error"]
        #expect(e?["message"] as? String == "bad" && e?["type"] as? String == "invalid_request_error" && e?["param"] as? String == "top_p")
        #expect(e?["code"] is NSNull)
        #expect(APIError.modelNotFound("x").status == 404 && APIError.modelNotFound("x").code == "model_not_found")
    }

    /// OpenAI answers a field it does not know with 400; so does Swiftlet, naming it, rather than
    /// returning 200 as if it had been honoured.
    @Test func unsupportedParametersAreRefusedByName() {
        let completions: [(String, String)] = [
            (#""whatever":[1,{}]"#, "whatever"), (#""suffix":"x""#, "suffix"), (#""best_of":3"#, "best_of"),
            (#""tools":[]"#, "tools"), (#""echo":true,"logprobs":1"#, "echo"), (#""max_completion_tokens":4"#, "max_completion_tokens"),
        ]
        for (field, param) in completions {
            let e = error(completion(#"{"model":"m","prompt":"x","# + field + "}"))
            #expect(e?.status == 400 && e?.param == param, "\(field): \(String(describing: e))")
        }
        let chats: [(String, String)] = [
            (#""tools":[{"type":"function","function":{"name":"f"}}]"#, "tools"),
            (#""response_format":{"type":"json_object"}"#, "response_format"), (#""function_call":"auto""#, "function_call"),
            (#""tool_choice":"required""#, "tool_choice"), (#""store":true"#, "store"), (#""echo":true"#, "echo"),
            (#""modalities":["audio"]"#, "modalities"),
        ]
        for (field, param) in chats {
            let e = error(chat(#"{"model":"m","messages":[{"role":"user","content":"x"}],"# + field + "}"))
            #expect(e?.status == 400 && e?.param == param && e?.code == "unsupported_parameter", "\(field): \(String(describing: e))")
        }
        // Fields that ask for what Swiftlet does anyway are accepted; null is absent.
        for field in [#""response_format":{"type":"text"}"#, #""tools":[]"#, #""tool_choice":"none""#, #""user":"u1""#, #""suffix":null"#, #""store":false"#] {
            #expect((try? chat(#"{"model":"m","messages":[{"role":"user","content":"x"}],"# + field + "}").get()) != nil, "\(field)")
        }
        #expect((try? completion(#"{"model":"m","prompt":"x","best_of":2,"n":2,"suffix":""}"#).get()) != nil)
    }

    /// OpenAI's defaults: temperature 1, a fresh seed per request, 16 tokens for completions.
    @Test func openAIDefaults() throws {
        let a = try completion(#"{"model":"m","prompt":"x"}"#).get().parameters
        let b = try completion(#"{"model":"m","prompt":"x"}"#).get().parameters
        #expect(a.sampling.temperature == 1 && a.defaultMaxTokens == 16 && a.maxTokens == nil)
        #expect(a.sampling.seed != b.sampling.seed, "two unseeded requests drew the same seed")
        let seeded = try completion(#"{"model":"m","prompt":"x","seed":5}"#).get().parameters
        #expect(seeded.sampling.seed == 5)
        let c = try chat(#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#).get().parameters
        #expect(c.defaultMaxTokens == nil && c.sampling.temperature == 1)
        // 16 by default, but never more than the context leaves.
        #expect(try a.engineRequest(promptTokens: [1, 2], contextSize: 64, vocabularySize: 10).maxTokens == 16)
        #expect(try a.engineRequest(promptTokens: Array(repeating: 1, count: 60), contextSize: 64, vocabularySize: 10).maxTokens == 4)
        #expect(try c.engineRequest(promptTokens: [1, 2], contextSize: 64, vocabularySize: 10).maxTokens == 62)
    }

    @Test func logitBiasAndEcho() throws {
        let p = try completion(#"{"model":"m","prompt":"x","echo":true,"logit_bias":{"3":-100,"7":2.5}}"#).get().parameters
        #expect(p.echo && p.logitBias == [3: -100, 7: 2.5])
        #expect(try p.engineRequest(promptTokens: [1], contextSize: 64, vocabularySize: 10).logitBias == [3: -100, 7: 2.5])
        #expect(error(Result { () throws(APIError) -> EngineRequest in try p.engineRequest(promptTokens: [1], contextSize: 64, vocabularySize: 5) })?.param == "logit_bias")
        for bad in [#"{"x":1}"#, #"{"3":101}"#, #"{"3":"a"}"#, #"[1]"#, #"{"-1":1}"#] {
            #expect(error(completion(#"{"model":"m","prompt":"x","logit_bias":"# + bad + "}"))?.param == "logit_bias", "\(bad)")
        }
    }

    /// Valid JSON syntax that is not acceptable text or numbers gets a message that says which.
    @Test func loneSurrogatesAndHugeNumbersAreNamed() {
        let surrogate = error(completion(#"{"model":"m","prompt":"a\ud800b"}"#))
        #expect(surrogate?.status == 400 && surrogate?.message.contains("surrogate") == true, "\(String(describing: surrogate))")
        let low = error(completion(#"{"model":"m","prompt":"\udc00"}"#))
        #expect(low?.message.contains("surrogate") == true, "\(String(describing: low))")
        let huge = error(completion(#"{"model":"m","prompt":"x","temperature":1e999}"#))
        #expect(huge?.status == 400 && huge?.message.contains("1e999") == true, "\(String(describing: huge))")
        // A valid pair is text (U+1F600).
        #expect((try? completion(#"{"model":"m","prompt":"\ud83d\ude00"}"#).get().prompts) == [.text("\u{1F600}")])
    }
}
