import ArgumentParser
import Engine
import GGUF
import Kernels
import Models
import Tokenizer

/// Speculative decoding options, shared by the commands that generate.
struct SpeculationArguments: ParsableArguments {
    @Option(help: "Draft model (GGUF) for speculative decoding: a smaller model with the target's vocabulary, such as its distilled student.")
    var draft: String?

    @Flag(help: "Speculate by prompt lookup instead: draft what followed the latest earlier occurrence of the last n-gram (no draft model).")
    var promptLookup = false

    @Option(help: "The most draft tokens one target pass checks.")
    var draftTokens: Int = 8

    @Flag(help: "Always draft --draft-tokens tokens (default: adapt the length to the measured acceptance and pass times, down to none).")
    var fixedDraft = false

    @Option(help: "The draft model scores only its first N token ids (the frequent ones), its control and end-of-turn tokens and the text's tokens: a cheaper draft step; the target still checks every token against its whole vocabulary. 0: every id. Default: 32768 for vocabularies over 65536 ids, else every id.")
    var draftVocab: Int?

    @Option(help: "Prompt lookup: the shortest n-gram to match.")
    var ngramMin: Int = 1

    @Option(help: "Prompt lookup: the longest n-gram to match.")
    var ngramMax: Int = 3

    var isActive: Bool { draft != nil || promptLookup }

    var options: SpeculationOptions {
        SpeculationOptions(maxDraftTokens: draftTokens, adaptive: !fixedDraft, draftVocabulary: draftVocabulary)
    }

    var draftVocabulary: DraftVocabulary {
        switch draftVocab {
        case nil: return .automatic
        case 0: return .whole
        case let n?: return .first(n)
        }
    }

    func validate() throws {
        if draft != nil && promptLookup { throw ValidationError("--draft and --prompt-lookup are two ways to draft: choose one") }
        guard (1...64).contains(draftTokens) else { throw ValidationError("--draft-tokens must be in 1…64") }
        if let n = draftVocab {
            guard draft != nil else { throw ValidationError("--draft-vocab narrows a draft model's vocabulary: it needs --draft") }
            guard n == 0 || n >= 16 else { throw ValidationError("--draft-vocab must be 0 (every id) or at least 16 token ids") }
        }
        guard 1 <= ngramMin, ngramMin <= ngramMax, ngramMax <= 16 else {
            throw ValidationError("--ngram-min and --ngram-max need 1 ≤ min ≤ max ≤ 16")
        }
    }

    /// The draft source, loading the draft model (same backend and threads as the target's).
    func source(backend: MatmulBackend, threads: Int?) throws -> DraftSource? {
        if promptLookup { return .promptLookup(minNgram: ngramMin, maxNgram: ngramMax) }
        guard let draft else { return nil }
        let gguf = try GGUFFile(path: draft)
        return .model(try ModelLoader.load(gguf, backend: backend, threads: threads), try Tokenizer(gguf: gguf))
    }

    /// One line on what speculation did.
    static func summary(_ s: SpeculationStats) -> String {
        func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        return "speculation: \(s.accepted) of \(s.drafted) draft tokens accepted (\(fixed(100 * s.acceptanceRate, 1))%), "
            + "\(s.verifyPasses) checking and \(s.plainPasses) plain target passes, "
            + "\(fixed(s.tokensPerTargetPass, 2)) tokens per target pass"
    }
}
