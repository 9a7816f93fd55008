import Foundation
import Testing

@testable import Cost

/// The bandwidth model of instances with no measurement on their CPU family (Graviton from an
/// x86 host): its arithmetic, kept apart from measured and estimated rows, replaced by a recorded
/// arm64 result, and left out with a note when the bench file predates `model_size`.
@Suite struct BandwidthModelTests {
    static let catalogue = try! PriceCatalogue.builtin()
    /// 576 prompt + 128 output tokens: a mean decode context of 576 + 64 = 640 positions.
    static let workload = Workload(requestsPerDay: 100_000, promptTokens: 576, outputTokens: 128, averageToPeak: 0.5)
    static let graviton = catalogue.instances.filter { $0.cpu.contains("Graviton") }

    static func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// An AMD host's result of a model whose decode step reads 86 MB of weights and 15,625 bytes of
    /// KV cache per position: 86 MB + 640 × 15,625 B = 96 MB per output token.
    static func x86Result(withSize: Bool = true) throws -> BenchMeasurement {
        let size = withSize ? #","model_size":86000000,"weight_bytes_per_token":86000000,"kv_bytes_per_token":15625"# : ""
        return try BenchMeasurement.load(try write("""
            {"concurrency":1,"n_prompt":576,"n_gen":128,"prompt_tokens_per_second":600,"gen_tokens_per_second":90,"tpot_ms_p95":12,"model_type":"llama 135M Q4_1"\(size),"host":{"cpu":"AMD EPYC 9R14","architecture":"x86_64","cores":2,"features":["avx2"],"memory_bytes":1}}
            {"concurrency":4,"n_prompt":576,"n_gen":128,"prompt_tokens_per_second":700,"gen_tokens_per_second":200,"tpot_ms_p95":20,"model_type":"llama 135M Q4_1"\(size)}
            """))
    }

    static func analysis(_ measurements: [BenchMeasurement], declared: String? = nil) throws -> CostAnalysis {
        try CostAnalysis(catalogue: catalogue, measurements: measurements, workload: workload,
                         declaredInstance: declared.flatMap(catalogue.instance), compare: [catalogue.managedModel("nova-micro")!])
    }

    @Test func theCatalogueHasEachGravitonSocket() throws {
        let sockets = Self.catalogue.cpus.map { ($0.name, $0.bandwidthGBPerSecond, $0.coresPerSocket, $0.threadsPerCore) }
        #expect(sockets.map(\.0) == ["AWS Graviton2", "AWS Graviton3", "AWS Graviton4"])
        #expect(sockets.map(\.1) == [204.8, 307.2, 537.6] && sockets.map(\.2) == [64, 64, 96] && sockets.allSatisfy { $0.3 == 1 })
        #expect(Self.catalogue.cpus.allSatisfy { $0.source.contains("http") && !$0.memory.isEmpty })
        #expect(Self.graviton.count == 20 && Self.graviton.allSatisfy { Self.catalogue.socket(of: $0) != nil })
        #expect(Self.catalogue.socket(of: Self.catalogue.instance("c7i.xlarge")!) == nil)
    }

    @Test func ceilingOfC7gLargeAndC8g4xlarge() throws {
        let m = try Self.x86Result()
        #expect(m.footprint == ModelFootprint(modelBytes: 86e6, weightBytesPerToken: 86e6, kvBytesPerPosition: 15625))
        let a = try Self.analysis([m])
        // c7g.large: 307.2 GB/s × 2/64 = 9.6 GB/s ÷ 96 MB = 100 tokens/s; $0.0725/h ÷ (3600 × 100) × 10⁶.
        let c7g = try #require(a.modelled.first { $0.instance.name == "c7g.large" })
        #expect(abs(c7g.bandwidthShare - 9.6e9) < 1e-3 && c7g.contextTokens == 640)
        #expect(abs(c7g.kvBytes! - 10e6) < 1e-6 && abs(c7g.bytesPerToken - 96e6) < 1e-6)
        #expect(abs(c7g.outputTokensPerSecond - 100) < 1e-9)
        #expect(abs(c7g.dollarsPerMillionOutputFloor - 0.0725 / 0.36) < 1e-12)
        // c8g.4xlarge: 537.6 GB/s × 16/96 = 89.6 GB/s ÷ 96 MB = 933.3 tokens/s at $0.6381/h.
        let c8g = try #require(a.modelled.first { $0.instance.name == "c8g.4xlarge" })
        #expect(abs(c8g.bandwidthShare - 89.6e9) < 1e-3)
        #expect(abs(c8g.outputTokensPerSecond - 89.6e9 / 96e6) < 1e-9)
        #expect(abs(c8g.dollarsPerMillionOutputFloor - 0.6381 / (3600 * 89.6e9 / 96e6) * 1e6) < 1e-12)
        #expect(c8g.basis.contains("537.6 GB/s per 96-core socket (12 channels DDR5-5600) × 16/96 vCPUs") && c8g.basis.contains("89.6 GB/s"))
        #expect(c8g.basis.contains("96.0 MB read per output token = weights 86.0 MB") && c8g.basis.contains("640 positions × 15.6 kB"))
    }

    /// From an x86 result: no Graviton row, every Graviton instance modelled apart, in the text,
    /// the JSON and the HTML, and the break-even from the measured rows only.
    @Test func gravitonIsModelledApartFromAnX86Measurement() throws {
        let a = try Self.analysis([try Self.x86Result()], declared: "c7g.xlarge")
        #expect(!a.instances.contains { $0.cost.instance.architecture == "arm64" })
        #expect(Set(a.modelled.map(\.instance.name)) == Set(Self.graviton.map(\.name)))
        #expect(a.reference?.cost.instance.architecture == "x86_64" && a.reference?.cost.measured == false)
        #expect(a.notes.contains { $0.contains("c7g.xlarge (AWS Graviton3, arm64) is not estimated") && $0.contains("Modelled, not measured") })
        #expect(a.assumptions.contains { $0.hasPrefix("memory bandwidth: AWS Graviton4 537.6 GB/s per 96-core socket") })

        let text = CostReport.render(a, format: .table)
        let section = try #require(text.range(of: "MODELLED, NOT MEASURED (BANDWIDTH MODEL)"))
        let modelled = String(text[section.upperBound...]).components(separatedBy: "MANAGED MODELS")[0]
        #expect(modelled.lowercased().contains("upper bound on speed / lower bound on cost only while the instance gets no more than its bandwidth share; prompt processing and batching are compute-bound and not modelled"))
        #expect(modelled.contains("swiftlet bench --concurrency 1,4,16 -o json --instance NAME"))
        #expect(modelled.contains("c7g.large") && modelled.contains("$0.201") && modelled.contains("100"))
        // Not in the measured/estimated table above it.
        let table = text.components(separatedBy: "SELF-HOSTED, PER INSTANCE TYPE")[1].components(separatedBy: "MODELLED, NOT MEASURED")[0]
        #expect(!table.contains("c7g.") && !table.contains("c8g.") && !table.contains("c6g."))

        let json = try JSONSerialization.jsonObject(with: Data(CostReport.render(a, format: .json).utf8)) as? [String: Any]
        let rows = try #require(json?["modelled"] as? [[String: Any]])
        let c8g = try #require(rows.first { $0["instance"] as? String == "c8g.4xlarge" })
        #expect(abs((c8g["output_tokens_per_second_ceiling"] as? Double ?? 0) - 933.333) < 1e-3)
        #expect(c8g["bytes_per_output_token"] as? Double == 96e6 && c8g["measured"] as? Bool == false)
        #expect((c8g["basis"] as? String)?.contains("compute-bound and not modelled") == true)
        #expect((json?["instances"] as? [[String: Any]])?.contains { $0["architecture"] as? String == "arm64" } == false)

        let html = HTMLReport.render(a)
        #expect(html.contains("Modelled, not measured (bandwidth model)") && html.contains("c8g.4xlarge") && html.contains("lower bound on cost"))
    }

    /// A recorded Graviton3 result replaces the model for every Graviton3 instance (measured on
    /// c7g.xlarge, scaled per vCPU on the others); Graviton2 and 4 stay modelled.
    @Test func aRecordedGraviton3ResultRemovesTheirModel() throws {
        let arm = try BenchMeasurement.load(try Self.write("""
            {"concurrency":1,"n_prompt":576,"n_gen":128,"prompt_tokens_per_second":400,"gen_tokens_per_second":60,"tpot_ms_p95":18,"model_type":"llama 135M Q4_1","model_size":86000000,"host":{"cpu":"Neoverse V1 (Graviton3)","architecture":"arm64","cores":4,"features":["asimddp","sve"],"memory_bytes":1,"instance":"c7g.xlarge"}}
            """))
        let a = try Self.analysis([try Self.x86Result(), arm])
        let c7gx = try #require(a.instances.first { $0.cost.instance.name == "c7g.xlarge" })
        #expect(c7gx.cost.measured && c7gx.basis.hasPrefix("measured on c7g.xlarge") && c7gx.cost.throughput.outputTokensPerSecond == 60)
        let c7gl = try #require(a.instances.first { $0.cost.instance.name == "c7g.large" })
        #expect(!c7gl.cost.measured && c7gl.basis.hasPrefix("estimate") && c7gl.cost.throughput.outputTokensPerSecond == 30)
        #expect(a.instances.contains { $0.cost.instance.name == "r7g.4xlarge" && !$0.cost.measured })
        let modelled = Set(a.modelled.map(\.instance.name))
        #expect(!modelled.contains { $0.hasPrefix("c7g.") || $0.hasPrefix("m7g.") || $0.hasPrefix("r7g.") })
        #expect(modelled.contains("c6g.large") && modelled.contains("c8g.4xlarge") && modelled.count == 8)
        // Only a result on the same CPU model is "measured".
        #expect(a.instances.filter(\.cost.measured).map(\.cost.instance.name) == ["c7g.xlarge"])
    }

    /// A bench file from before `model_size` loads; the model is then left out, with a note.
    @Test func anOldBenchFileLoadsWithoutAModel() throws {
        let m = try Self.x86Result(withSize: false)
        #expect(m.footprint == nil && m.levels.count == 2)
        let a = try Self.analysis([m])
        #expect(a.modelled.isEmpty && !a.instances.contains { $0.cost.instance.architecture == "arm64" })
        #expect(a.notes.contains { $0.hasPrefix("no bandwidth model for c6g.large") && $0.contains("does not record the model's size") })
        #expect(!CostReport.render(a, format: .table).contains("MODELLED, NOT MEASURED"))
        let json = try JSONSerialization.jsonObject(with: Data(CostReport.render(a, format: .json).utf8)) as? [String: Any]
        #expect((json?["modelled"] as? [Any])?.isEmpty == true)
        // model_size without the newer fields: the tensor data stands in for the weights, KV not counted, and both are said.
        let sizeOnly = try BenchMeasurement.load(try Self.write(#"[{"n_prompt":512,"n_gen":0,"avg_ts":300,"model_size":96000000,"host":{"cpu":"AMD EPYC","architecture":"x86_64","cores":2,"features":[],"memory_bytes":1}},{"n_prompt":0,"n_gen":128,"avg_ts":100,"model_size":96000000}]"#))
        let c = try #require(try Self.analysis([sizeOnly]).modelled.first { $0.instance.name == "c7g.large" })
        #expect(c.kvBytes == nil && abs(c.outputTokensPerSecond - 100) < 1e-9)
        #expect(c.basis.contains("weights read per token not recorded") && c.basis.contains("KV cache not counted"))
    }
}
