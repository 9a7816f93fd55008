import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import Server
import Testing

/// `serve --draft`: a tiny model speculating with a copy of itself (every draft accepted) answers
/// as the same model without a draft does, and says what speculation did in the usage
/// (OpenAI's predicted-token fields) and in /metrics.
@Suite struct SpeculativeServingTests {
    static let completion = #"{"model":"tiny","prompt":"ab ab","max_tokens":12,"temperature":0,"ignore_eos":true}"#

    @Test func speculationKeepsTheAnswerAndIsCounted() async throws {
        let plain = OpenAIServer(models: [try OpenAIServerTests.tinyModel()])
        let drafted = OpenAIServer(models: [try OpenAIServerTests.tinyModel(selfDraft: 3)])
        let expected = try await Application(router: plain.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/completions", Self.completion)
            let o = OpenAIServerTests.json(r.body)
            let text = try #require(((o?["choices"] as? [[String: Any]])?.first?["text"]) as? String)
            #expect((o?["usage"] as? [String: Any])?["completion_tokens_details"] == nil)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(!metrics.contains("swiftlet_spec_decode"))
            return text
        }
        try await Application(router: drafted.buildRouter()).test(.router) { client in
            let r = try await OpenAIServerTests.post(client, "/v1/completions", Self.completion)
            let o = OpenAIServerTests.json(r.body)
            #expect(((o?["choices"] as? [[String: Any]])?.first?["text"]) as? String == expected)
            let usage = try #require(o?["usage"] as? [String: Any])
            #expect(usage["completion_tokens"] as? Int == 12)
            let details = try #require(usage["completion_tokens_details"] as? [String: Any])
            let accepted = try #require(details["accepted_prediction_tokens"] as? Int)
            #expect(accepted > 0 && details["rejected_prediction_tokens"] as? Int == 0)

            // Streamed: the same text, chunk by chunk.
            let s = try await OpenAIServerTests.post(client, "/v1/completions",
                                                     Self.completion.replacingOccurrences(of: "}", with: #","stream":true}"#))
            let texts = String(buffer: s.body).components(separatedBy: "\n\n").filter { $0.hasPrefix("data: {") }.compactMap {
                ((try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any])?["choices"] as? [[String: Any]])?.first?["text"] as? String
            }
            #expect(texts.joined() == expected)

            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            // The token counters sum the ended requests' usage: the two identical requests (every
            // draft kept), in agreement with the responses already read.
            #expect(metrics.contains(#"swiftlet_spec_decode_num_accepted_tokens_total{model_name="tiny"} \#(2 * accepted)"#))
            #expect(metrics.contains(#"swiftlet_spec_decode_num_draft_tokens_total{model_name="tiny"} \#(2 * accepted)"#))
            #expect(metrics.contains(#"swiftlet_spec_decode_num_drafts_total{model_name="tiny"} "#))
        }
    }
}
