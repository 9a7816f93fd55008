import Foundation
import GGUF
import SwiftletTesting
import Testing

/// The real default model (SmolLM2-135M-Instruct Q4_1), cross-checked against the python `gguf`
/// reader. Fails, never skips, when the model is missing.
@Suite struct RealModelTests {
    @Test func readsSmolLM2() throws {
        let path = try Fixtures.requireDefaultModel()
        let clock = ContinuousClock()
        var file: GGUFFile?
        let elapsed = try clock.measure { file = try GGUFFile(path: path) }
        let model = try #require(file)
        // The full vocabulary and merges are parsed at open; a regression to per-byte work would
        // show here (debug builds take a small fraction of this).
        #expect(elapsed < .seconds(5), "opening took \(elapsed)")

        #expect(model.version == 3)
        #expect(model.alignment == 32)
        #expect(model.metadata.count == 33)
        #expect(model.tensors.count == 272)
        #expect(model.fileSize == 98_362_432)
        #expect(model.dataOffset == 1_785_664)

        #expect(try model.string("general.architecture") == "llama")
        #expect(try model.integer("llama.block_count") == 30)
        #expect(try model.integer("llama.embedding_length") == 576)
        #expect(try model.integer("tokenizer.ggml.bos_token_id") == 1)
        #expect(try model.float("llama.rope.freq_base") == 100_000)
        #expect(try model.float("llama.attention.layer_norm_rms_epsilon") == 1e-5)

        let tokens = try #require(try model.stringArray("tokenizer.ggml.tokens", count: 49152))
        #expect(Array(tokens.prefix(3)) == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        let merges = try #require(try model.stringArray("tokenizer.ggml.merges"))
        #expect(merges.count == 48900)
        #expect(Array(merges.prefix(3)) == ["Ġ t", "Ġ a", "i n"])
        let types = try #require(try model.int32Array("tokenizer.ggml.token_type", count: 49152))
        #expect(types.first == 3 && types.last == 1)

        let embedding = try #require(model.tensor(named: "token_embd.weight"))
        #expect(embedding.type == .q8_0)
        #expect(embedding.dimensions == [576, 49152])
        #expect(embedding.rowLength == 576 && embedding.rowCount == 49152)
        #expect(embedding.byteCount == 30_081_024)
        #expect(Array(model.data(for: embedding).prefix(8)) == [0x32, 0x19, 0xD6, 0x0D, 0x13, 0xF7, 0xE5, 0xEE])

        let downProjection = try #require(model.tensor(named: "blk.0.ffn_down.weight"))
        #expect(downProjection.type == .q4_1 && downProjection.dimensions == [1536, 576])
        #expect(model.dataOffset + downProjection.offset == 31_868_992)

        let last = try #require(model.tensors.last)
        #expect(last.name == "output_norm.weight")
        #expect(model.dataOffset + last.offset + last.byteCount == model.fileSize)
        #expect(model.tensors.reduce(0) { $0 + $1.byteCount } == 96_576_768)
        #expect(model.tensors.reduce(0) { $0 + $1.elementCount } == 134_515_008)

        let summary = model.describe()
        #expect(summary.contains("tokenizer.ggml.tokens"))
        #expect(summary.contains("49152 × ["))
        #expect(summary.contains("Q4_1 210, F32 61, Q8_0 1"))
    }

    /// An interrupted download: the real file cut short opens with an error naming a tensor.
    @Test func truncatedRealModel() throws {
        let path = try Fixtures.requireDefaultModel()
        let handle = try #require(FileHandle(forReadingAtPath: path))
        let prefix = try #require(try handle.read(upToCount: 2_000_000))
        try handle.close()
        var b = GGUFBytes()
        b.bytes = [UInt8](prefix)
        #expect {
            _ = try openGGUF(b)
        } throws: { error in
            guard let error = error as? GGUFError,
                  case .tensorDataPastEnd(let tensor, _, _, let size) = error.kind else { return false }
            return tensor == "token_embd.weight" && size == 2_000_000
        }
    }
}
