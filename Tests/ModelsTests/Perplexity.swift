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

/// Perplexity on `botchan_first16384.txt` by the reference's method: windows of `ctx` tokens from
/// token 0, each from an empty cache, every token but each window's first scored (log-softmax in
/// Double). Returns (perplexity, scored tokens).
func botchanPerplexity(_ model: LlamaModel, _ tokenizer: Tokenizer, _ reference: ReferencePerplexity) throws -> (Double, Int) {
    let text = try String(contentsOf: Fixtures.referenceDirectory.appendingPathComponent("botchan_first16384.txt"), encoding: .utf8)
    let ids = tokenizer.encode(text)
    guard ids.count == reference.tokens else { return (.nan, 0) }
    let ctx = reference.ctx
    let cache = try model.makeCache(capacity: ctx)
    let scratch = model.makeScratch(maxTokens: ctx, contextCapacity: ctx)
    var nll = 0.0
    var scored = 0
    var start = 0
    while ids.count - start >= 2 {
        let window = Array(ids[start..<min(ids.count, start + ctx)])
        try window.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
        for i in 0..<(window.count - 1) {
            let row = scratch.logits(row: i, vocabularySize: model.config.vocabularySize)
            let maxLogit = Double(row.max()!)
            var sum = 0.0
            for v in row { sum += exp(Double(v) - maxLogit) }
            nll -= Double(row[window[i + 1]]) - maxLogit - log(sum)
            scored += 1
        }
        start += ctx
    }
    return (exp(nll / Double(scored)), scored)
}
