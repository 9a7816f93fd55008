import Foundation
import SwiftletTesting
import Testing

/// The `swiftlet` binary as a user meets it: malformed files end in status 1 and one line on stderr,
/// never a signal.
@Suite struct CLITests {
    func expectCleanFailure(_ args: [String], mentions: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Fixtures.runSwiftlet(args)
        #expect(!r.crashed, "crashed: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.status == 1, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.lowercased().contains(mentions.lowercased()), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }

    func write(_ bytes: [UInt8]) throws -> String {
        let path = Fixtures.temporaryPath()
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func malformedFilesFailCleanly() throws {
        let model = try Fixtures.requireDefaultModel()
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: model)).read(upToCount: 4096)!
        let truncated = try write(Array(head))          // an interrupted download
        let wrongMagic = try write(Array("GGUX".utf8) + Array(head.dropFirst(4)))
        let empty = try write([])
        defer { for p in [truncated, wrongMagic, empty] { unlink(p) } }
        for command in ["inspect", "generate"] {
            func args(_ file: String) -> [String] { command == "inspect" ? ["inspect", file] : ["generate", "-m", file, "-p", "hi", "-n", "2"] }
            try expectCleanFailure(args(truncated), mentions: "byte")
            try expectCleanFailure(args(wrongMagic), mentions: "magic")
            try expectCleanFailure(args(empty), mentions: "byte")
            try expectCleanFailure(args("/nonexistent/model.gguf"), mentions: "/nonexistent/model.gguf")
            try expectCleanFailure(args("/tmp"), mentions: "/tmp")
        }
    }

    /// The other families through the binary: a Qwen2.5 file answers as the reference does, inspect
    /// names its architecture and kernels, and --chat on Gemma's base model (no template) is a
    /// clear refusal.
    @Test func otherFamiliesGenerateAndInspect() throws {
        let qwen = try Fixtures.requireModel(.qwen05), gemma = try Fixtures.requireModel(.gemma3)
        let r = try Fixtures.runSwiftlet(["generate", "-m", qwen, "-p", "The capital of France is", "-n", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(" Paris"), "stdout: \(r.stdout)")
        let inspect = try Fixtures.runSwiftlet(["inspect", qwen])
        #expect(inspect.stdout.contains("architecture: qwen2 (supported)"))
        #expect(inspect.stdout.contains("Q6_K"))
        try expectCleanFailure(["generate", "-m", gemma, "-p", "Hi", "-n", "2", "--chat"], mentions: "no chat template")
    }

    @Test func inspectPrintsMetadataAndTensors() throws {
        let r = try Fixtures.runSwiftlet(["inspect", try Fixtures.requireDefaultModel()])
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["llama.block_count", "tokenizer.ggml.tokens", "49152", "token_embd.weight", "Q8_0", "blk.29.ffn_down.weight", "Q4_1"] {
            #expect(r.stdout.contains(needle), "missing \(needle)")
        }
        #expect(r.stdout.count < 200_000, "long arrays must be summarized")
    }

    @Test func generateContinuesThePrompt() throws {
        let r = try Fixtures.runSwiftlet(["generate", "-m", try Fixtures.requireDefaultModel(), "-p", "The capital of France is", "-n", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(" Paris."), "stdout: \(r.stdout)")
        #expect(r.stderr.contains("prompt: 5 tokens") && r.stderr.contains("generated: 4 tokens"), "stderr: \(r.stderr)")
    }

    @Test func badArgumentsAreRejected() throws {
        let model = try Fixtures.requireDefaultModel()
        let r = try Fixtures.runSwiftlet(["generate", "-m", model, "-p", "hi", "--temp", "-1"])
        #expect(!r.crashed && r.status != 0 && r.stderr.contains("temperature"), "\(r.stderr)")
    }

    /// The cascade's options are checked before any model loads, each with a message naming it.
    @Test func serveRefusesAnIncompleteCascade() throws {
        let cases: [([String], String)] = [
            (["--student", "a.gguf"], "both --student and --teacher"),
            (["--student", "a.gguf", "--teacher", "http://127.0.0.1:9/v1"], "--teacher-model"),
            (["--student", "a.gguf", "--teacher", "b.gguf", "--cascade-threshold", "1.5"], "0…1"),
            (["--student", "a.gguf", "--teacher", "b.gguf", "--cascade-threshold", "tools=0.5"], "chat or completions"),
            (["--student", "a.gguf", "--teacher", "b.gguf", "--cascade-rule", "vibes"], "--cascade-rule"),
            (["--student", "a.gguf", "--teacher", "b.gguf", "--teacher-price", "1,2"], "upstream"),
            (["--student", "a.gguf", "--teacher", "http://127.0.0.1:9/v1", "--teacher-model", "t", "--teacher-price", "x"], "IN,OUT"),
        ]
        for (args, message) in cases {
            let r = try Fixtures.runSwiftlet(["serve"] + args)
            #expect(!r.crashed && r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    /// `serve --draft`: refusals before any model is loaded, and a draft whose vocabulary is not
    /// the target's (SmolLM2's 49,152 tokens against a tiny model's) refused at load.
    @Test func serveRefusesABadDraft() throws {
        let model = try Fixtures.requireDefaultModel()
        let tiny = try TinyLlama().writeTemporary()
        defer { try? FileManager.default.removeItem(atPath: tiny) }
        let cases: [([String], String)] = [
            (["-m", "a.gguf", "--draft", "b.gguf", "--prompt-lookup"], "choose one"),
            (["-m", "a.gguf", "--draft-for", "a"], "--draft MODEL or --prompt-lookup"),
            (["-m", "a.gguf", "--prompt-lookup", "--draft-max-seqs", "0"], "--draft-max-seqs"),
            (["-m", model, "--model", "other=\(model)", "--prompt-lookup"], "--draft-for NAME"),
            (["-m", model, "--draft", tiny], "the draft model cannot draft for this target"),
        ]
        for (args, message) in cases {
            let r = try Fixtures.runSwiftlet(["serve"] + args)
            #expect(!r.crashed && r.status != 0 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    /// `--kv-type f32` and the default half cache give the same greedy words here; an unknown
    /// type is refused with its name.
    @Test func kvTypeIsAnOption() throws {
        let model = try Fixtures.requireDefaultModel()
        for type in ["f16", "f32"] {
            let r = try Fixtures.runSwiftlet(["generate", "-m", model, "-p", "The capital of France is", "-n", "4", "--kv-type", type])
            #expect(r.status == 0 && r.stdout.hasPrefix(" Paris."), "\(type): \(r.stdout) \(r.stderr)")
        }
        let bad = try Fixtures.runSwiftlet(["generate", "-m", model, "-p", "hi", "--kv-type", "q8"])
        #expect(!bad.crashed && bad.status != 0 && bad.stderr.contains("kv-type"), "\(bad.stderr)")
    }

    /// `generate --prompt-lookup` and `--draft` (the model drafting for itself) print what the
    /// model alone prints, with a speculation line; a draft with another vocabulary, a missing
    /// draft file and conflicting options are refused with a message.
    @Test func speculativeGenerateKeepsTheOutputAndRefusesBadDrafts() throws {
        let model = try Fixtures.requireDefaultModel()
        let args = ["generate", "-m", model, "-p", "The capital of France is Paris. The capital of Italy is", "-n", "24"]
        let plain = try Fixtures.runSwiftlet(args)
        #expect(plain.status == 0, "\(plain.stderr)")
        for extra in [["--prompt-lookup"], ["--draft", model, "--draft-tokens", "3"], ["--draft", model, "--fixed-draft"]] {
            let r = try Fixtures.runSwiftlet(args + extra)
            #expect(r.status == 0 && r.stdout == plain.stdout, "\(extra): \(r.stdout) vs \(plain.stdout); \(r.stderr)")
            #expect(r.stderr.contains("speculation: ") && r.stderr.contains("draft tokens accepted"), "\(r.stderr)")
        }
        let gemma = try Fixtures.requireModel(.gemma3)
        let mismatch = try Fixtures.runSwiftlet(args + ["--draft", gemma])
        #expect(!mismatch.crashed && mismatch.status != 0 && mismatch.stderr.contains("cannot draft for this target"), "\(mismatch.stderr)")
        let missing = try Fixtures.runSwiftlet(args + ["--draft", "/nonexistent/draft.gguf"])
        #expect(!missing.crashed && missing.status != 0 && missing.stderr.contains("/nonexistent/draft.gguf"), "\(missing.stderr)")
        let both = try Fixtures.runSwiftlet(args + ["--draft", model, "--prompt-lookup"])
        #expect(!both.crashed && both.status != 0 && both.stderr.contains("choose one"), "\(both.stderr)")
        let zero = try Fixtures.runSwiftlet(args + ["--prompt-lookup", "--draft-tokens", "0"])
        #expect(!zero.crashed && zero.status != 0 && zero.stderr.contains("--draft-tokens"), "\(zero.stderr)")
    }

    /// `bench --prompt-lookup -o json`: one result per prompt of the file, output identical.
    @Test func speculativeBenchComparesWithTheTargetAlone() throws {
        let prompts = Fixtures.temporaryPath(".jsonl")
        try "{\"prompt\": \"one two three four one two three\"}\n{\"prompt_ids\": [504, 1300, 504, 1300, 504]}\n"
            .write(toFile: prompts, atomically: true, encoding: .utf8)
        let r = try Fixtures.runSwiftlet(["bench", "-m", try Fixtures.requireDefaultModel(), "--prompt-lookup", "--prompt-file", prompts,
                                          "-n", "8", "-r", "2", "-o", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let results = report?["results"] as? [[String: Any]] ?? []
        #expect(results.count == 2)
        for row in results {
            #expect(row["identicalOutput"] as? Bool == true)
            #expect((row["speedups"] as? [Double])?.count == 2 && (row["plainTokensPerSecond"] as? [Double])?.count == 2)
        }
        let bad = Fixtures.temporaryPath(".jsonl")
        try "not json\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try Fixtures.runSwiftlet(["bench", "-m", try Fixtures.requireDefaultModel(), "--prompt-lookup", "--prompt-file", bad, "-n", "4"])
        #expect(!refused.crashed && refused.status != 0 && refused.stderr.contains("line 1"), "\(refused.stderr)")
    }

    /// `bench -o json` carries llama-bench's field names and sane figures.
    @Test func benchReportsLlamaBenchFields() throws {
        let r = try Fixtures.runSwiftlet(["bench", "-m", try Fixtures.requireDefaultModel(), "-p", "16", "-n", "4", "-r", "2", "-o", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 2)
        for row in rows ?? [] {
            for key in ["n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "samples_ts", "model_type", "model_size", "backends",
                        "weight_bytes_per_token", "kv_bytes_per_token", "kv_type"] {
                #expect(row[key] != nil, "missing \(key)")
            }
            // SmolLM2-135M: tied embeddings (every weight read per token); 30 layers × K and V × 3 heads × 64 × 2 bytes.
            #expect(row["weight_bytes_per_token"] as? Int == row["model_size"] as? Int && row["kv_bytes_per_token"] as? Int == 23040)
            #expect((row["avg_ts"] as? Double ?? 0) > 0)
            #expect((row["samples_ts"] as? [Double])?.count == 2)
        }
        #expect(rows?.first?["n_prompt"] as? Int == 16)
        #expect(rows?.last?["n_gen"] as? Int == 4)
        let md = try Fixtures.runSwiftlet(["bench", "-m", try Fixtures.requireDefaultModel(), "-p", "8", "-n", "0", "-r", "1"])
        #expect(md.status == 0 && md.stdout.contains("| pp8 |"), "\(md.stdout)")
    }

    /// `bench --concurrency -o json` gives one object per level with the engine's figures, and the
    /// cache figures with `--shared-prefix`; bad levels are refused with a message.
    @Test func concurrencyBenchReportsEachLevel() throws {
        let model = try Fixtures.requireDefaultModel()
        let r = try Fixtures.runSwiftlet(["bench", "-m", model, "--concurrency", "1,3", "-p", "8", "-n", "4", "-r", "1",
                                          "--shared-prefix", "32", "-o", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.map { $0["concurrency"] as? Int } == [1, 3])
        for row in rows ?? [] {
            for key in ["gen_tokens_per_second", "prompt_tokens_per_second", "ttft_ms_p50", "ttft_ms_p95", "tpot_ms_p50",
                        "tpot_ms_p95", "cache_hit_rate", "ttft_ms_p50_no_prefix_cache", "shared_prefix",
                        "model_size", "weight_bytes_per_token", "kv_bytes_per_token"] {
                #expect(row[key] != nil, "missing \(key)")
            }
            #expect((row["gen_tokens_per_second"] as? Double ?? 0) > 0)
            // 32 of each prompt's 40 tokens come from the cache (two full blocks of 16).
            #expect(abs((row["cache_hit_rate"] as? Double ?? 0) - 0.8) < 1e-9)
        }
        let bad = try Fixtures.runSwiftlet(["bench", "-m", model, "--concurrency", "4,0"])
        #expect(!bad.crashed && bad.status != 0 && bad.stderr.contains("--concurrency"), "\(bad.stderr)")
    }

    @Test func quantizeWritesAReadableFileAndRefusesItsInput() throws {
        let model = try Fixtures.requireDefaultModel()
        let refused = try Fixtures.runSwiftlet(["quantize", model, model, "--type", "q8_0"])
        #expect(!refused.crashed && refused.status == 1 && refused.stderr.contains("refusing to overwrite"), "\(refused.stderr)")
        let out = Fixtures.temporaryPath("-q8_0.gguf")
        defer { unlink(out) }
        let r = try Fixtures.runSwiftlet(["quantize", model, out, "--type", "q8_0"])
        #expect(r.status == 0 && r.stdout.contains("bits per weight"), "\(r.stdout) \(r.stderr)")
        let inspect = try Fixtures.runSwiftlet(["inspect", out])
        #expect(inspect.status == 0 && inspect.stdout.contains("Q8_0"))
        let gen = try Fixtures.runSwiftlet(["generate", "-m", out, "-p", "The capital of France is", "-n", "3"])
        #expect(gen.status == 0 && gen.stdout.contains("Paris"), "\(gen.stdout)")
    }

    /// `eval cascade` with the default model as both student and teacher (a cascade that cannot
    /// gain), on 12 items: a table with both
    /// models alone and the thresholds; `--json` is read by `report --cascade` into a chart.
    @Test func cascadeEvaluatesThresholdsAndTheReportChartsIt() throws {
        let model = try Fixtures.requireDefaultModel()
        let task = Fixtures.referenceDirectory.appendingPathComponent("wikihow_goal_inference_200.jsonl").path
        let md = try Fixtures.runSwiftlet(["eval", "cascade", "--student", model, "--teacher", model, "--task", task, "--limit", "12",
                                           "--price-per-hour", "0.1"])
        #expect(md.status == 0, "\(md.stderr)")
        #expect(md.stdout.contains("| student alone |") && md.stdout.contains("| teacher alone |") && md.stdout.contains("| cascade"), "\(md.stdout)")
        #expect(md.stdout.contains("$ per 1,000 items") && md.stdout.contains("this host at $0.1/h"), "\(md.stdout)")
        let json = Fixtures.temporaryPath(".json")
        let j = try Fixtures.runSwiftlet(["eval", "cascade", "--student", model, "--teacher", model, "--task", task, "--limit", "12", "--json"])
        #expect(j.status == 0, "\(j.stderr)")
        try j.stdout.write(toFile: json, atomically: true, encoding: .utf8)
        let object = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        let rows = object?["rows"] as? [[String: Any]] ?? []
        #expect(rows.count >= 21 && (object?["student"] as? [String: Any])?["confidence"] != nil)
        // The same model twice: every threshold has the same accuracy.
        #expect(Set(rows.compactMap { $0["accuracy"] as? Double }).count == 1)
        let bench = Fixtures.temporaryPath(".jsonl"), html = Fixtures.temporaryPath(".html")
        try Data("""
            {"concurrency":1,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12,"model_type":"llama 135M Q4_1","host":{"cpu":"AMD EPYC","architecture":"x86_64","cores":2,"features":[],"memory_bytes":1}}
            """.utf8).write(to: URL(fileURLWithPath: bench))
        let rep = try Fixtures.runSwiftlet(["report", "--bench", bench, "--instance", "c7a.large", "--cascade", json, "-o", html])
        #expect(rep.status == 0, "\(rep.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("Confidence cascade") && page.contains("teacher alone") && page.contains("<svg"))
        let bad = try Fixtures.runSwiftlet(["report", "--bench", bench, "--instance", "c7a.large", "--cascade", bench, "-o", html])
        #expect(!bad.crashed && bad.status != 0 && bad.stderr.contains("cannot read the cascade"), "\(bad.stderr)")
    }

    /// `swiftlet cost` from a bench result (host recorded), as a FinOps reader gets it; and its
    /// errors: a bad price file names entry and field, an unknown instance lists the known ones.
    @Test func costReportsFromABenchResult() throws {
        let bench = Fixtures.temporaryPath()
        defer { unlink(bench) }
        try Data("""
            {"concurrency":1,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12,"model_type":"llama 135M Q4_1","host":{"cpu":"AMD EPYC","architecture":"x86_64","cores":2,"features":[],"memory_bytes":1}}
            {"concurrency":16,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":700,"gen_tokens_per_second":300,"tpot_ms_p95":55,"model_type":"llama 135M Q4_1"}
            """.utf8).write(to: URL(fileURLWithPath: bench))
        let r = try Fixtures.runSwiftlet(["cost", "--bench", bench, "--instance", "c7a.xlarge", "--compare", "nova-micro", "--requests-per-day", "200000"])
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["c7a.xlarge", "$ per 1M output tokens", "Amazon Nova Micro", "break-even", "estimate", "ASSUMPTIONS", "Spot", "at least 2 instances"] {
            #expect(r.stdout.contains(needle), "missing \(needle)")
        }
        // An x86 measurement says nothing about Graviton: the declared arm64 instance is not guessed.
        let arm = try Fixtures.runSwiftlet(["cost", "--bench", bench, "--instance", "c7g.xlarge"])
        #expect(arm.status == 0 && arm.stdout.contains("c7g.xlarge (AWS Graviton3, arm64) is not estimated"), "\(arm.stdout)")
        // This file predates model_size: no bandwidth model, and the note says why.
        #expect(arm.stdout.contains("no bandwidth model for c6g.large") && !arm.stdout.contains("MODELLED, NOT MEASURED"), "\(arm.stdout)")
        let j = try Fixtures.runSwiftlet(["cost", "--bench", bench, "--instance", "c7a.large", "--max-tpot-ms", "20", "--json"])
        let o = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        // The 20 ms bound rules out concurrency 16 (55 ms at p95).
        #expect((o?["reference_instance"] as? [String: Any])?["concurrency"] as? Int == 1)

        let prices = Fixtures.temporaryPath()
        defer { unlink(prices) }
        try Data(#"{"instances":[{"name":"c7g.xlarge","vcpus":4,"memory_gib":8,"architecture":"arm64","cpu":"c","source":"s","date":"undated"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: prices))
        try expectCleanFailure(["cost", "--bench", bench, "--prices", prices], mentions: "price_per_hour")
        try expectCleanFailure(["cost", "--bench", bench, "--instance", "c99.huge"], mentions: "c7g.xlarge")
        try expectCleanFailure(["cost", "--bench", "/nonexistent.json"], mentions: "/nonexistent.json")
    }

    /// `cost roofline` reads only the file's header: weights + KV at the mean decode context over
    /// the instance's bandwidth share, stated as a model; `cost --bench` with model_size shows
    /// the same figure under "Modelled, not measured".
    @Test func rooflineModelsGravitonFromTheFile() throws {
        let model = try Fixtures.requireDefaultModel()
        let r = try Fixtures.runSwiftlet(["cost", "roofline", model, "--instances", "c7g.large,c8g", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let rows = try #require((o?["models"] as? [[String: Any]])?.first?["rows"] as? [[String: Any]])
        #expect(rows.map { $0["instance"] as? String } == ["c7g.large", "c8g.large", "c8g.xlarge", "c8g.2xlarge", "c8g.4xlarge"])
        let c7g = rows[0]
        let weights = try #require(c7g["weight_bytes_per_token"] as? Double), bytes = try #require(c7g["bytes_per_output_token"] as? Double)
        // 512 prompt + 128/2 output = 576 positions of 23,040 bytes.
        #expect(c7g["context_positions"] as? Double == 576 && abs(bytes - weights - 576 * 23040) < 1e-6)
        #expect(abs((c7g["output_tokens_per_second_ceiling"] as? Double ?? 0) - 9.6e9 / bytes) < 1e-6)
        #expect((c7g["basis"] as? String)?.hasPrefix("modelled, not measured") == true)

        let md = try Fixtures.runSwiftlet(["cost", "roofline", model, "--instances", "c6g.large", "--format", "markdown"])
        #expect(md.status == 0 && md.stdout.contains("| c6g.large | 2 | AWS Graviton2 |") && md.stdout.lowercased().contains("upper bound on speed / lower bound on cost"), "\(md.stdout)")
        try expectCleanFailure(["cost", "roofline", model, "--instances", "c7i.large"], mentions: "c6g.large")

        let bench = Fixtures.temporaryPath()
        defer { unlink(bench) }
        try Data(#"{"concurrency":1,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12,"model_type":"llama 135M Q4_1","model_size":\#(Int(weights)),"weight_bytes_per_token":\#(Int(weights)),"kv_bytes_per_token":23040,"host":{"cpu":"AMD EPYC","architecture":"x86_64","cores":2,"features":[],"memory_bytes":1}}"#.utf8)
            .write(to: URL(fileURLWithPath: bench))
        let cost = try Fixtures.runSwiftlet(["cost", "--bench", bench, "--json"])
        #expect(cost.status == 0, "\(cost.stderr)")
        let j = try JSONSerialization.jsonObject(with: Data(cost.stdout.utf8)) as? [String: Any]
        let same = try #require((j?["modelled"] as? [[String: Any]])?.first { $0["instance"] as? String == "c7g.large" })
        #expect(same["output_tokens_per_second_ceiling"] as? Double == c7g["output_tokens_per_second_ceiling"] as? Double)
        let text = try Fixtures.runSwiftlet(["cost", "--bench", bench])
        #expect(text.stdout.contains("MODELLED, NOT MEASURED (BANDWIDTH MODEL)") && text.stdout.contains("--instance NAME"), "\(text.stdout)")
    }

    /// The seeds' worked example from one command, to the dollar, every input shown; and the
    /// same as a section of the report.
    /// With a cascade, escalated requests cost the teacher too: 25% escalated on the seed example
    /// adds $4,500 to the student's $3,600; a cascade file without a chosen threshold is refused.
    @Test func distillationPaybackCountsTheCascadesEscalations() throws {
        let base = ["cost", "distill", "--tokens-per-day", "30000000", "--teacher-monthly", "18000", "--student-fraction", "0.2", "--one-time", "9000"]
        let r = try Fixtures.runSwiftlet(base + ["--escalation-rate", "0.25"])
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["$8,100.00/month", "monthly saving   $9,900.00", "25.0% of requests also go to the teacher (--escalation-rate)"] {
            #expect(r.stdout.contains(needle), "missing \(needle): \(r.stdout)")
        }
        let none = Fixtures.temporaryPath(".json")
        try #"{"chart": {"chosenThreshold": null, "withinPoints": 2}, "rows": [{"threshold": 0.5, "escalationRate": 0.4}]}"#
            .write(toFile: none, atomically: true, encoding: .utf8)
        let refused = try Fixtures.runSwiftlet(base + ["--cascade", none])
        #expect(!refused.crashed && refused.status != 0 && refused.stderr.contains("chose no threshold"), "\(refused.stderr)")
        let chosen = Fixtures.temporaryPath(".json")
        try #"{"chart": {"chosenThreshold": 0.5, "withinPoints": 2}, "rows": [{"threshold": 0.5, "escalationRate": 0.4}]}"#
            .write(toFile: chosen, atomically: true, encoding: .utf8)
        let measured = try Fixtures.runSwiftlet(base + ["--cascade", chosen])
        #expect(measured.status == 0 && measured.stdout.contains("40.0% of requests also go to the teacher (measured by eval cascade"), "\(measured.stdout)")
        let bad = try Fixtures.runSwiftlet(base + ["--escalation-rate", "1.5"])
        #expect(!bad.crashed && bad.status != 0 && bad.stderr.contains("--escalation-rate"), "\(bad.stderr)")
    }

    @Test func distillationPaybackReproducesTheSeedExample() throws {
        let r = try Fixtures.runSwiftlet(["cost", "distill", "--tokens-per-day", "30000000", "--teacher-monthly", "18000",
                                          "--student-fraction", "0.2", "--one-time", "9000"])
        #expect(r.status == 0, "\(r.stderr)")
        for needle in ["912,500,000 tokens/month", "$18,000.00/month", "$3,600.00/month", "monthly saving   $14,400.00", "$9,000.00",
                       "0.625 months = 19.0 days (2.7 weeks)", "--teacher-monthly", "--student-fraction", "--one-time", "not a drop-in"] {
            #expect(r.stdout.contains(needle), "missing \(needle): \(r.stdout)")
        }
        let j = try Fixtures.runSwiftlet(["cost", "distill", "--tokens-per-day", "30000000", "--teacher-monthly", "18000",
                                          "--student-fraction", "0.2", "--one-time", "9000", "--json"])
        let o = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        #expect((o?["monthly_saving"] as? Double).map { abs($0 - 14_400) < 1e-6 } == true && (o?["payback_days"] as? Double ?? 99) < 21)
        for (args, mentions) in [(["--teacher-monthly", "10", "--one-time", "5"], "--student"), (["--teacher-monthly", "10", "--student-fraction", "0.2"], "--one-time"),
                                 (["--teacher-monthly", "10", "--student-fraction", "2", "--one-time", "5"], "--student-fraction")] {
            let bad = try Fixtures.runSwiftlet(["cost", "distill", "--tokens-per-day", "1000"] + args)
            #expect(!bad.crashed && bad.status != 0 && bad.stderr.contains(mentions), "\(bad.stderr)")
        }

        let bench = Fixtures.temporaryPath(".json"), html = Fixtures.temporaryPath(".html")
        defer { unlink(bench); unlink(html) }
        try Data(#"{"concurrency":1,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12}"#.utf8)
            .write(to: URL(fileURLWithPath: bench))
        let rep = try Fixtures.runSwiftlet(["report", "--bench", bench, "--instance", "c7a.large", "--tokens-per-day", "30000000",
                                            "--teacher-monthly", "18000", "--student-fraction", "0.2", "--one-time", "9000", "-o", html])
        #expect(rep.status == 0, "\(rep.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("Distillation payback") && page.contains("$14,400") && page.contains("payback 19.0 days"))
    }

    /// A sweep from a full-precision source (a synthetic F32 model with 256-wide rows, so every
    /// K-quant applies): the report says the deltas measure weight quantization, and the KL
    /// divergence against the exact source falls in the order of the bits per weight.
    @Test func sweepFromAnF32SourceOrdersTypesByPrecision() throws {
        let source = try TinyLlama(layers: 2, hidden: 256, feedForward: 512, heads: 4, kvHeads: 2, context: 64, seed: 11).writeTemporary()
        let text = Fixtures.temporaryPath(".txt"), work = Fixtures.temporaryPath("-sweep")
        defer { unlink(source); unlink(text); try? FileManager.default.removeItem(atPath: work) }
        var rng: UInt64 = 5
        let words = (0..<900).map { _ -> String in
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return ["ab", "a", "b", "cab", "abc", "zz", "ka"][Int(rng >> 33) % 7]
        }
        try Data(words.joined(separator: " ").utf8).write(to: URL(fileURLWithPath: text))
        let r = try Fixtures.runSwiftlet(["eval", "sweep", "-m", source, "-f", text, "--ctx", "64", "--types", "q8_0,q6_k,q5_k_m,q4_k_m,q4_0",
                                          "--bench-prompt", "8", "--bench-gen", "4", "--work-dir", work, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((o?["source"] as? [String: Any])?["full_precision"] as? Bool == true)
        #expect((o?["deltas_measure"] as? String)?.contains("quantizing its weights") == true)
        let rows = o?["rows"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["label"] as? String } == ["source, exact", "source, auto", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0"])
        let kl = rows.dropFirst(2).map { $0["kl_divergence"] as? Double ?? .nan }
        #expect(zip(kl, kl.dropFirst()).allSatisfy { $0 < $1 }, "KL by type: \(kl)")
        let bits = rows.dropFirst(2).map { $0["bits_per_weight"] as? Double ?? .nan }
        #expect(zip(bits, bits.dropFirst()).allSatisfy { $0 > $1 }, "bits per weight: \(bits)")
    }

    /// A reduced sweep of the default model over four types (what fits in CI), as JSON, then the
    /// report charting it.
    @Test func sweepOverFourTypesAndReportIt() throws {
        let model = try Fixtures.requireDefaultModel()
        let text = Fixtures.referenceDirectory.appendingPathComponent("botchan_first16384.txt").path
        let task = Fixtures.referenceDirectory.appendingPathComponent("wikihow_goal_inference_200.jsonl").path
        let work = Fixtures.temporaryPath("-sweep")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try Fixtures.runSwiftlet(["eval", "sweep", "-m", model, "-f", text, "--task", task, "--limit", "600", "--task-limit", "12",
                                          "--ctx", "256", "--bench-prompt", "32", "--bench-gen", "8", "--work-dir", work, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let rows = o?["rows"] as? [[String: Any]] ?? []
        // The shipped file is Q4_1: the source rows, then the types made from it (its own type is "source, auto").
        #expect(rows.map { $0["label"] as? String } == ["source, exact", "source, auto", "q8_0", "q4_0"])
        #expect(o?["base"] as? String == "source, exact")
        let source = o?["source"] as? [String: Any]
        #expect(source?["type"] as? String == "q4_1" && source?["full_precision"] as? Bool == false)
        #expect((o?["deltas_measure"] as? String)?.contains("re-quantizing") == true)
        func value(_ label: String, _ key: String) -> Double { rows.first { $0["label"] as? String == label }?[key] as? Double ?? .nan }
        #expect(value("source, exact", "kl_divergence") == 0 && value("q8_0", "kl_divergence") < value("q4_0", "kl_divergence"))
        #expect(rows.dropFirst().allSatisfy { ($0["perplexity_change_percent_ci95"] as? [Double])?.count == 2 })
        #expect(value("q4_0", "bits_per_weight") < value("q8_0", "bits_per_weight") && value("q8_0", "bits_per_weight") < 32.0001)
        #expect(rows.allSatisfy { ($0["accuracy"] as? Double).map { (0...1).contains($0) } ?? false })
        #expect(rows.allSatisfy { ($0["dollars_per_million_output"] as? Double ?? 0) > 0 })

        let sweep = Fixtures.temporaryPath(".json")
        let bench = Fixtures.temporaryPath(".json")
        let html = Fixtures.temporaryPath(".html")
        defer { for p in [sweep, bench, html] { unlink(p) } }
        try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: sweep))
        try Data(#"{"concurrency":1,"n_prompt":512,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12}"#.utf8)
            .write(to: URL(fileURLWithPath: bench))
        let rep = try Fixtures.runSwiftlet(["report", "--bench", bench, "--instance", "c7g.xlarge", "--sweep", sweep, "-o", html])
        #expect(rep.status == 0, "\(rep.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("source, auto") && page.contains("q4_0") && page.components(separatedBy: "<svg").count - 1 == 4)
        #expect(page.contains("single stream") && page.contains("botchan_first16384.txt"))
    }
}
