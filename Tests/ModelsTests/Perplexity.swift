import Evaluation
import Foundation
import Models
import SwiftletTesting
import Tokenizer

extension ReferencePerplexity {
    static func load() throws -> ReferencePerplexity {
        try JSONDecoder().decode(ReferencePerplexity.self, from: Data(contentsOf:
            Fixtures.referenceDirectory.appendingPathComponent("perplexity.json")))
    }
}

/// Perplexity on `botchan_first16384.txt` by the reference's method (Evaluation's
/// `PerplexityRun`: windows of `ctx` tokens from token 0, each from an empty cache, every token but
/// each window's first scored, log-softmax in Double). Returns (perplexity, scored tokens).
func botchanPerplexity(_ model: LlamaModel, _ tokenizer: Tokenizer, _ reference: ReferencePerplexity) throws -> (Double, Int) {
    let text = try String(contentsOf: Fixtures.referenceDirectory.appendingPathComponent("botchan_first16384.txt"), encoding: .utf8)
    let ids = tokenizer.encode(text)
    guard ids.count == reference.tokens else { return (.nan, 0) }
    let r = try PerplexityRun(model: model, ctx: reference.ctx).run(ids)
    return (r.perplexity, r.scoredTokens)
}
