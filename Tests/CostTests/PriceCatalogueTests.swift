import Foundation
import Testing

@testable import Cost

/// The built-in catalogue (every figure with a source and a date), overrides, and errors that
/// name the entry and field.
@Suite struct PriceCatalogueTests {
    @Test func everyEntryHasASourceAndADate() throws {
        let c = try PriceCatalogue.builtin()
        #expect(c.instances.count >= 30 && c.managed.count >= 10 && c.discounts.count == 3)
        let dates = c.instances.map(\.date) + c.managed.map(\.date) + c.discounts.map(\.date)
        let sources = c.instances.map(\.source) + c.managed.map(\.source) + c.discounts.map(\.source)
        #expect(sources.allSatisfy { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
        #expect(dates.allSatisfy { $0 == "undated" || $0.range(of: #"^\d{4}-\d{2}(-\d{2})?$"#, options: .regularExpression) != nil })
        #expect(c.discounts.allSatisfy { $0.assumption })
        // Figures from ../shared/pricing/prices.md.
        #expect(c.instance("c7g.xlarge")?.pricePerHour == 0.145 && c.instance("c7g.xlarge")?.date == "2026-09-29")
        #expect(c.instance("c7g.xlarge")?.architecture == "arm64" && c.instance("c7i.xlarge")?.architecture == "x86_64")
        let nova = try #require(c.managedModel("nova-micro"))
        #expect(nova.inputPerMillion == 0.035 && nova.outputPerMillion == 0.14 && nova.batchOutputPerMillion == 0.07
                && nova.cachedInputPerMillion == 0.00875)
        #expect(c.managedModel("llama-3.2-1b")?.batchInputPerMillion == nil)
        #expect(c.discount("spot")?.multiplier == 0.35 && c.discount("savings-3y")?.multiplier == 0.5)
    }

    static func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prices-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func anOverrideFileReplacesAndExtends() throws {
        let path = try Self.write("""
            {"instances": [
               {"name": "c7g.xlarge", "vcpus": 4, "memory_gib": 8, "price_per_hour": 0.1, "architecture": "arm64",
                "cpu": "Graviton3", "source": "our contract", "date": "2026-11-01"},
               {"name": "onprem.box", "vcpus": 64, "memory_gib": 256, "price_per_hour": 1.5, "architecture": "x86_64",
                "cpu": "EPYC", "source": "amortized hardware", "date": "undated"}],
             "managed": [{"name": "my-api", "input_per_million": 0.2, "output_per_million": 0.4, "source": "invoice", "date": "2026-10"}]}
            """)
        let c = try PriceCatalogue.load(overrides: path)
        let builtin = try PriceCatalogue.builtin()
        #expect(c.instance("c7g.xlarge")?.pricePerHour == 0.1 && c.instance("c7g.xlarge")?.source == "our contract")
        #expect(c.instance("onprem.box")?.vcpus == 64)
        #expect(c.instances.count == builtin.instances.count + 1)
        #expect(c.managedModel("my-api")?.outputPerMillion == 0.4 && c.managed.count == builtin.managed.count + 1)
        #expect(c.managedModel("nova-micro") == builtin.managedModel("nova-micro"))
    }

    @Test func badFilesNameTheEntryAndField() throws {
        func error(_ text: String) throws -> String {
            let path = try Self.write(text)
            do {
                _ = try PriceCatalogue.load(overrides: path)
                return "no error"
            } catch { return error.description }
        }
        let missing = try error(#"{"instances":[{"name":"x.large","vcpus":2,"memory_gib":4,"architecture":"arm64","cpu":"c","source":"s","date":"undated"}]}"#)
        #expect(missing.contains("instances 'x.large'") && missing.contains("'price_per_hour'") && missing.contains("missing"))
        let negative = try error(#"{"managed":[{"name":"m","input_per_million":-1,"output_per_million":1,"source":"s","date":"undated"}]}"#)
        #expect(negative.contains("managed 'm'") && negative.contains("'input_per_million'"))
        let noSource = try error(#"{"managed":[{"name":"m","input_per_million":1,"output_per_million":1,"date":"undated"}]}"#)
        #expect(noSource.contains("'source'"))
        let badDate = try error(#"{"managed":[{"name":"m","input_per_million":1,"output_per_million":1,"source":"s","date":"last week"}]}"#)
        #expect(badDate.contains("'date'") && badDate.contains("last week"))
        let arch = try error(#"{"instances":[{"name":"x","vcpus":2,"memory_gib":4,"price_per_hour":1,"architecture":"sparc","cpu":"c","source":"s","date":"undated"}]}"#)
        #expect(arch.contains("'architecture'"))
        let halfBatch = try error(#"{"managed":[{"name":"m","input_per_million":1,"output_per_million":1,"batch_input_per_million":0.5,"source":"s","date":"undated"}]}"#)
        #expect(halfBatch.contains("batch_output_per_million"))
        let cores = try error(#"{"cpus":[{"name":"X","cores_per_socket":0,"memory":"m","memory_bandwidth_gb_per_second":100,"source":"s","date":"undated"}]}"#)
        #expect(cores.contains("cpus 'X'") && cores.contains("'cores_per_socket'"))
        #expect(try error(#"{"cpus":[{"name":"X","cores_per_socket":64,"memory":"m","source":"s","date":"undated"}]}"#).contains("'memory_bandwidth_gb_per_second'"))
        #expect(try error("{not json").contains("not valid JSON"))
        #expect(try error(#"{"instances": {}}"#).contains("'instances' must be an array"))
        #expect(try error(#"{"discounts":[{"name":"d","multiplier":1.5,"source":"s","date":"undated"}]}"#).contains("'multiplier'"))
        do {
            _ = try PriceCatalogue.load(overrides: "/no/such/prices.json")
            Issue.record("expected an error")
        } catch { #expect(error.description.contains("/no/such/prices.json")) }
    }

    @Test func benchResultsReadAsMeasurements() throws {
        let concurrency = try Self.write("""
            {"concurrency":1,"n_prompt":128,"n_gen":64,"prompt_tokens_per_second":600,"gen_tokens_per_second":80,"tpot_ms_p95":13,"model_type":"llama 135M Q4_1","host":{"cpu":"AMD EPYC","architecture":"x86_64","cores":2,"features":["avx2"],"memory_bytes":1000,"instance":"c7a.large"}}
            {"concurrency":8,"n_prompt":128,"n_gen":64,"prompt_tokens_per_second":650,"gen_tokens_per_second":230,"tpot_ms_p95":40}
            """)
        let m = try BenchMeasurement.load(concurrency)
        #expect(m.levels.map(\.concurrency) == [1, 8] && m.promptTokens == 128 && m.outputTokens == 64)
        #expect(m.levels[1].outputTokensPerSecond == 230 && abs(m.levels[1].tpotP95 - 0.040) < 1e-12)
        #expect(m.host?.instance == "c7a.large" && m.host?.cores == 2 && m.model == "llama 135M Q4_1")

        let llamaBench = try Self.write(#"[{"n_prompt":512,"n_gen":0,"avg_ts":300},{"n_prompt":0,"n_gen":128,"avg_ts":100}]"#)
        let l = try BenchMeasurement.load(llamaBench)
        #expect(l.levels == [Throughput(concurrency: 1, promptTokensPerSecond: 300, outputTokensPerSecond: 100, tpotP95: 0.01)])

        #expect(throws: BenchMeasurementError.self) { try BenchMeasurement.load(try Self.write(#"[{"n_prompt":1}]"#)) }
        #expect(throws: BenchMeasurementError.self) { try BenchMeasurement.load(try Self.write("not json")) }
    }

    @Test func analysisMarksEstimatesAndUsesMeasuredInstances() throws {
        let catalogue = try PriceCatalogue.builtin()
        let level = Throughput(concurrency: 4, promptTokensPerSecond: 1000, outputTokensPerSecond: 200, tpotP95: 0.02)
        let host = HostInfo(cpu: "AMD EPYC", architecture: "x86_64", cores: 2, features: [], memoryBytes: 1 << 30)
        var onGraviton = host
        (onGraviton.cores, onGraviton.architecture, onGraviton.instance, onGraviton.cpu) = (4, "arm64", "c7g.xlarge", "Neoverse V1 (Graviton3)")
        let here = BenchMeasurement(host: host, model: "m", promptTokens: 256, outputTokens: 128, levels: [level], origin: "here")
        let there = BenchMeasurement(host: onGraviton, model: "m", promptTokens: 256, outputTokens: 128, levels: [level.scaled(by: 1.5)], origin: "c7g.json")
        let w = Workload(requestsPerDay: 100_000, promptTokens: 256, outputTokens: 128, averageToPeak: 0.5)
        let a = try CostAnalysis(catalogue: catalogue, measurements: [here, there], workload: w,
                                 declaredInstance: catalogue.instance("c7a.large"), compare: [catalogue.managedModel("nova-micro")!])
        let declared = try #require(a.instances.first)
        #expect(declared.declared && declared.cost.instance.name == "c7a.large" && declared.cost.measured)   // 2 vCPU x86_64, as measured
        let c7g = try #require(a.instances.first { $0.cost.instance.name == "c7g.xlarge" })
        #expect(c7g.cost.measured && c7g.cost.throughput.outputTokensPerSecond == 300)
        // Estimates only within a CPU family: AMD from this AMD host, Graviton3 from the c7g result;
        // Intel, Graviton2 and Graviton4 are left out and named, not guessed.
        let c7a = try #require(a.instances.first { $0.cost.instance.name == "c7a.4xlarge" })
        #expect(!c7a.cost.measured && c7a.cost.throughput.outputTokensPerSecond == 200 * 8 && c7a.basis.hasPrefix("estimate"))
        let m7g = try #require(a.instances.first { $0.cost.instance.name == "m7g.2xlarge" })
        #expect(!m7g.cost.measured && m7g.cost.throughput.outputTokensPerSecond == 300 * 2)
        #expect(!a.instances.contains { ["c7i.4xlarge", "c6g.xlarge", "c8g.xlarge", "m7i.large"].contains($0.cost.instance.name) })
        #expect(a.notes.contains { $0.hasPrefix("not estimated") && $0.contains("c7i.4xlarge") && $0.contains("c8g.xlarge") })
        #expect(!a.instances.contains { $0.cost.instance.accelerator != nil })
        #expect(a.managed.count == 1 && a.reference?.cost.instance.name == "c7a.large")
        let text = CostReport.render(a, format: .table)
        #expect(text.contains("c7a.large") && text.contains("Amazon Nova Micro") && text.contains("ASSUMPTIONS") && text.contains("estimate"))
        let json = try JSONSerialization.jsonObject(with: Data(CostReport.render(a, format: .json).utf8)) as? [String: Any]
        #expect((json?["instances"] as? [[String: Any]])?.count == a.instances.count)

        // The HTML report: self-contained (no scripts, nothing fetched), one chart per section.
        let html = HTMLReport.render(a, sweep: [QuantPoint(type: "q8_0", perplexity: 34.5, accuracy: 0.6, dollarsPerMillionOutput: 0.3),
                                                QuantPoint(type: "q4_0", perplexity: 37.0, accuracy: 0.55, dollarsPerMillionOutput: 0.2)])
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http") == false)
        #expect(html.contains("c7a.large") && html.contains("Amazon Nova Micro") && html.contains("q8_0, acc 60.0% ← cheapest within 2%"))
    }

    /// Several runs: the median is used, the range is carried to $/1M tokens and to the
    /// break-even, and runs more than 20% apart are warned about.
    @Test func repeatedRunsCarryTheirSpread() throws {
        let catalogue = try PriceCatalogue.builtin()
        let runs = [150.0, 200, 260].map { Throughput(concurrency: 4, promptTokensPerSecond: 5 * $0, outputTokensPerSecond: $0, tpotP95: 0.02) }
        let level = Throughput.median(of: runs)
        #expect(level.outputTokensPerSecond == 200 && level.promptTokensPerSecond == 1000 && level.outputRuns == [150, 200, 260])
        #expect(abs(level.spread! - 0.55) < 1e-12)
        #expect(level.slowestAndFastest!.slowest.outputTokensPerSecond == 150 && level.slowestAndFastest!.fastest.promptTokensPerSecond == 1300)
        #expect(Throughput.median(of: [runs[0]]).spread == nil)
        let host = HostInfo(cpu: "AMD EPYC", architecture: "x86_64", cores: 2, features: [], memoryBytes: 1 << 30)
        let m = BenchMeasurement(host: host, model: "m", promptTokens: 256, outputTokens: 128, levels: [level], origin: "here")
        let w = Workload(requestsPerDay: 100_000, promptTokens: 256, outputTokens: 128, averageToPeak: 0.5)
        let a = try CostAnalysis(catalogue: catalogue, measurements: [m], workload: w,
                                 declaredInstance: catalogue.instance("c7a.large"), compare: [catalogue.managedModel("nova-micro")!])
        let r = try #require(a.reference?.range)
        #expect(r.fastest.outputPerMillionFull < a.reference!.cost.outputPerMillionFull && a.reference!.cost.outputPerMillionFull < r.slowest.outputPerMillionFull)
        #expect(a.notes.first?.hasPrefix("WARNING: at concurrency 4 the 3 runs disagree by 55%") == true, "\(a.notes)")
        #expect(a.managed[0].breakEvenRange != nil)
        let text = CostReport.render(a, format: .table)
        #expect(text.contains("Median of 3 runs") && text.contains("WARNING"))
        // Runs within 20%: no warning, the spread is still stated.
        let calm = Throughput.median(of: [190.0, 200, 210].map { Throughput(concurrency: 4, promptTokensPerSecond: 1000, outputTokensPerSecond: $0, tpotP95: 0.02) })
        let quiet = try CostAnalysis(catalogue: catalogue, measurements: [BenchMeasurement(host: host, model: "m", promptTokens: 256, outputTokens: 128, levels: [calm], origin: "here")],
                                     workload: w, declaredInstance: catalogue.instance("c7a.large"), compare: [])
        #expect(!quiet.notes.contains { $0.hasPrefix("WARNING") } && quiet.notes.contains { $0.contains("within 10%") })
    }
}
