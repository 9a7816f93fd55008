import GGUF
import Kernels
import Models
import SwiftletTesting
import Testing

/// A pass that scores a subset of the vocabulary (a draft model's `LogitSubset`): the subset's
/// logits are the whole pass's, every other logit is −∞, for one row and for several.
@Suite struct LogitSubsetTests {
    static func logits(_ model: LlamaModel, _ ids: [Int], subset: LogitSubset?) throws -> [[Float]] {
        let cache = try model.makeCache(capacity: ids.count)
        let scratch = model.makeScratch(maxTokens: ids.count, contextCapacity: ids.count)
        scratch.logitSubset = subset
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
        return (0..<ids.count).map { Array(scratch.logits(row: $0, vocabularySize: model.config.vocabularySize)) }
    }

    @Test(arguments: [(MatmulBackend.simd, GGMLType.f32), (.auto, .q8_0), (.auto, .q4_0)])
    func subsetLogitsAreTheWholePassesAndTheRestIsMinusInfinity(_ backend: MatmulBackend, _ type: GGMLType) throws {
        let model = try LlamaModel(gguf: TinyLlama(type: type).open(), backend: backend)
        let vocab = model.config.vocabularySize
        let ids = [3, 7, 1, 28, 29, 5]
        let whole = try Self.logits(model, ids, subset: nil)
        // Leading 16; 30 fixed, 20 and 31 from the text (20 twice, and 5 below the leading ids: ignored).
        let subset = LogitSubset(leading: 16, fixedIDs: [30, 2], vocabularySize: vocab, hiddenSize: model.config.hiddenSize)
        subset.include([20, 31, 20, 5])
        #expect(subset.leading == 16 && subset.extraIDs == [30, 20, 31])
        let scored = Set(0..<16).union([30, 20, 31])
        for _ in 0..<2 {   // the second pass reads the rows unpacked by the first
            let part = try Self.logits(model, ids, subset: subset)
            for (row, (a, b)) in zip(whole, part).enumerated() {
                for id in 0..<vocab {
                    if scored.contains(id) {
                        // The leading ids take the same kernels as the whole pass. The extra ids are
                        // dotted in F32, where the whole pass's integer kernels read 8-bit
                        // activations (a relative error of about 1/254 per value).
                        let tolerance: Float = id < 16 ? 1e-5 : (type == .f32 ? 1e-4 : 2e-2)
                        #expect(abs(a[id] - b[id]) <= tolerance * max(1, abs(a[id])), "\(backend) \(type) row \(row) id \(id): \(a[id]) vs \(b[id])")
                    } else {
                        #expect(b[id] == -.infinity, "row \(row) id \(id)")
                    }
                }
            }
        }
    }

    @Test func forgettingTheTextKeepsTheFixedIDs() {
        let subset = LogitSubset(leading: 20, fixedIDs: [40, 40, 10, 50], vocabularySize: 64, hiddenSize: 8, capacity: 6)
        #expect(subset.leading == 32 && subset.extraIDs == [40, 50])
        subset.include([33, 34, 35, 36])
        #expect(subset.extraIDs == [40, 50, 33, 34, 35, 36])
        subset.include([37, 63, 64])   // full: the text's ids go, then 37 and 63 come in; 64 is outside
        #expect(subset.extraIDs == [40, 50, 37, 63])
        subset.forgetText()
        #expect(subset.extraIDs == [40, 50])
    }
}
