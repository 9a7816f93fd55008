import GGUF
import Kernels
import Models
import Sampling
import SwiftletTesting
import Testing

/// The batched forward pass over many sequences through block tables of a paged cache.
@Suite struct PagedBatchTests {
    /// Logits of `ids` run alone through a contiguous cache, one row per token.
    func alone(_ model: LlamaModel, _ ids: [Int]) throws -> [[Float]] {
        let cache = try model.makeCache(capacity: ids.count)
        let scratch = model.makeScratch(maxTokens: ids.count, contextCapacity: ids.count)
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: cache, scratch: scratch, allLogits: true) }
        return (0..<ids.count).map { Array(scratch.logits(row: $0, vocabularySize: model.config.vocabularySize)) }
    }

    /// Three sequences in scattered blocks, prefilled in two batches of mixed chunks (one sequence
    /// decoding while others prefill), give the logits each gives alone.
    @Test(arguments: [MatmulBackend.simd, .blas, .reference])
    func scatteredBlocksMatchContiguous(_ backend: MatmulBackend) throws {
        let model = try LlamaModel(gguf: TinyLlama(type: .q8_0).open(), backend: backend)
        let sequences = [[3, 7, 1, 28, 29, 5, 12, 30, 4, 9], [8, 8, 2, 14], [5, 6, 7, 8, 9, 10, 11]]
        let tables = [[5, 0, 9], [2, 7], [3, 1]]       // block size 4: positions 0…11 of sequence 0 in blocks 5, 0, 9
        let cache = model.makePagedCache(blockCount: 10, blockSize: 4)
        let scratch = model.makeScratch(maxTokens: 32, contextCapacity: 16, logitRows: 32)
        let batch = ForwardBatch(capacity: 32, maxSequences: 4, maxBlockEntries: 16)
        let vocab = model.config.vocabularySize
        var got: [[[Float]]] = sequences.map { _ in [] }
        // Step 1: the first 6 tokens of sequence 0, the first 1 of sequence 1, all of sequence 2.
        // Step 2: the rest of sequences 0 and 1.
        for split in [[(0, 0..<6), (1, 0..<1), (2, 0..<7)], [(1, 1..<4), (0, 6..<10)]] {
            batch.removeAll()
            var rows: [(Int, Range<Int>)] = []
            for (s, range) in split {
                let r = try batch.append(sequences[s][range], start: range.lowerBound, blockTable: tables[s], logits: .all)
                rows.append((s, r))
            }
            try model.forward(batch: batch, cache: cache, scratch: scratch)
            for (s, r) in rows { for row in r { got[s].append(Array(scratch.logits(row: row, vocabularySize: vocab))) } }
        }
        for (s, ids) in sequences.enumerated() {
            let expected = try alone(model, ids)
            #expect(got[s].count == ids.count)
            for (pos, (a, b)) in zip(expected, got[s]).enumerated() {
                let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
                #expect(worst <= 1e-4, "\(backend) sequence \(s) position \(pos): \(worst)")
            }
        }
    }

    @Test func badBatchesAreErrors() throws {
        let model = try LlamaModel(gguf: TinyLlama().open())
        let cache = model.makePagedCache(blockCount: 4, blockSize: 4)
        let scratch = model.makeScratch(maxTokens: 8, contextCapacity: 16, logitRows: 8)
        let batch = ForwardBatch(capacity: 8, maxSequences: 2, maxBlockEntries: 4)
        try batch.append([1, 2, 3, 4, 5], start: 0, blockTable: [0], logits: .last)
        #expect(throws: ModelError.positionOutsideBlocks(position: 4, blocks: 1, blockSize: 4)) {
            try model.forward(batch: batch, cache: cache, scratch: scratch)
        }
        batch.removeAll()
        try batch.append([1, 2], start: 0, blockTable: [7], logits: .last)
        #expect(throws: ModelError.blockOutOfRange(block: 7, blockCount: 4)) {
            try model.forward(batch: batch, cache: cache, scratch: scratch)
        }
        batch.removeAll()
        #expect(throws: ModelError.tooManyTokens(count: 9, capacity: 8)) {
            try batch.append(Array(repeating: 1, count: 9), start: 0, blockTable: [0, 1, 2], logits: .none)
        }
        try batch.append([1], start: 0, blockTable: [0], logits: .last)
        try batch.append([1], start: 0, blockTable: [1], logits: .last)
        #expect(throws: ModelError.tooManySequences(count: 3, capacity: 2)) {
            try batch.append([1], start: 0, blockTable: [2], logits: .last)
        }
    }

    /// Groups of three heads of 64 take consecutive prompt tokens in pairs (`scoresTokenPair`): a
    /// prompt in one pass (pairs, one straddling a block edge, an odd token left over) gives the
    /// logits of the same prompt fed one token at a time (no pairs), on F32 and half caches.
    @Test(arguments: [33, 40], [KVCacheType.f32, .f16])
    func tokenPairsMatchOneTokenAtATime(count: Int, cache type: KVCacheType) throws {
        let model = try LlamaModel(gguf: TinyLlama(hidden: 384, heads: 6, kvHeads: 2).open(), backend: .simd)
        #expect(model.config.headDim == 64 && model.config.heads == 3 * model.config.kvHeads)
        let ids = (0..<count).map { ($0 * 7 + 3) % model.config.vocabularySize }
        let vocab = model.config.vocabularySize
        let batchCache = try model.makeCache(capacity: count, type: type)
        let scratch = model.makeScratch(maxTokens: count, contextCapacity: count)
        try ids.withUnsafeBufferPointer { try model.forward($0, start: 0, cache: batchCache, scratch: scratch, allLogits: true) }
        let batched = (0..<count).map { Array(scratch.logits(row: $0, vocabularySize: vocab)) }
        let stepCache = try model.makeCache(capacity: count, type: type)
        let stepScratch = model.makeScratch(maxTokens: 1, contextCapacity: count, allLogits: false)
        for (pos, id) in ids.enumerated() {
            try model.forward(token: id, position: pos, cache: stepCache, scratch: stepScratch)
            let one = stepScratch.logits(row: 0, vocabularySize: vocab)
            let worst = zip(batched[pos], one).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
            #expect(worst <= 1e-4, "\(type) position \(pos): \(worst)")
        }
    }

    /// Logits of `ids` fed one token at a time (the decode path: integer kernels on quantized weights).
    func incremental(_ model: LlamaModel, _ ids: [Int]) throws -> [[Float]] {
        let cache = try model.makeCache(capacity: ids.count)
        let scratch = model.makeScratch(maxTokens: 1, contextCapacity: ids.count, allLogits: false)
        return try ids.enumerated().map { pos, id in
            try model.forward(token: id, position: pos, cache: cache, scratch: scratch)
            return Array(scratch.logits(row: 0, vocabularySize: model.config.vocabularySize))
        }
    }

    /// The reference prompts teacher-forced inside a batch of 16 mixed requests (the 6 reference
    /// sequences, plus decoding and prefilling sequences of other lengths) pick the same top-1 token
    /// as alone — in one pass, and one token at a time through the decode kernels — and as the
    /// reference, wherever the reference's top-1 margin is at least 0.5.
    @Test func greedyChoicesDoNotDependOnTheBatch() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: Fixtures.requireDefaultModel()))
        let records = try Fixtures.referenceLines("q4_1/prompts.jsonl", as: ReferencePrompt.self)
        let blockSize = 16
        var sequences = records.map { Array($0.sequence.prefix($0.top5.count)) }
        var state: UInt64 = 7
        func random(_ n: Int) -> [Int] {
            (0..<n).map { _ in state = state &* 6_364_136_223_846_793_005 &+ 1; return Int(state >> 33) % model.config.vocabularySize }
        }
        let fillers = 16 - sequences.count
        for i in 0..<fillers { sequences.append(random(5 + 13 * i)) }
        // Blocks handed out in a shuffled order, so tables are scattered.
        let blocksNeeded = sequences.map { ($0.count + blockSize - 1) / blockSize }
        var shuffler = SplitMix64(seed: 3)
        var free = Array(0..<blocksNeeded.reduce(0, +)).shuffled(using: &shuffler)
        let tables = blocksNeeded.map { n in (0..<n).map { _ in free.removeLast() } }
        let cache = model.makePagedCache(blockCount: blocksNeeded.reduce(0, +), blockSize: blockSize)
        let total = sequences.reduce(0) { $0 + $1.count }
        let scratch = model.makeScratch(maxTokens: total, contextCapacity: 256, logitRows: total)
        let batch = ForwardBatch(capacity: total, maxSequences: 32, maxBlockEntries: 64)
        // Fillers first prefill all but their last token, so that in the measured pass they decode.
        batch.removeAll()
        for s in records.count..<sequences.count where sequences[s].count > 1 {
            try batch.append(sequences[s].dropLast(), start: 0, blockTable: tables[s], logits: .none)
        }
        try model.forward(batch: batch, cache: cache, scratch: scratch)
        batch.removeAll()
        var rows: [Range<Int>] = []
        for s in 0..<sequences.count {
            if s < records.count {
                rows.append(try batch.append(sequences[s], start: 0, blockTable: tables[s], logits: .all))
            } else {
                try batch.append(sequences[s].suffix(1), start: sequences[s].count - 1, blockTable: tables[s], logits: .last)
            }
        }
        try model.forward(batch: batch, cache: cache, scratch: scratch)
        let vocab = model.config.vocabularySize
        var checked = 0
        for (s, record) in records.enumerated() {
            let single = try alone(model, sequences[s]), stepwise = try incremental(model, sequences[s])
            func top1(_ row: [Float]) -> Int { row.indices.max { row[$0] < row[$1] }! }
            for (pos, expected) in record.top5.enumerated() where record.top1Margins[pos] >= 0.5 {
                let inBatch = scratch.logits(row: rows[s].lowerBound + pos, vocabularySize: vocab)
                let batchTop = inBatch.indices.max { inBatch[$0] < inBatch[$1] }!
                #expect(batchTop == expected[0].id && top1(single[pos]) == expected[0].id && top1(stepwise[pos]) == expected[0].id,
                        "\(record.prompt.prefix(20))… position \(pos)")
                checked += 1
            }
        }
        #expect(checked > 50)
    }
}
