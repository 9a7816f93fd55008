import Foundation

/// The machine a benchmark ran on, recorded beside its figures so that a cost report knows what
/// was measured: CPU model, logical cores, the SIMD features that matter to the kernels, memory.
public struct HostInfo: Codable, Sendable, Equatable {
    public var cpu: String
    public var architecture: String
    public var cores: Int
    public var features: [String]
    public var memoryBytes: UInt64
    /// The cloud instance type the user declared this host to be (`--instance`), if any.
    public var instance: String?

    public init(cpu: String, architecture: String, cores: Int, features: [String], memoryBytes: UInt64, instance: String? = nil) {
        self.cpu = cpu; self.architecture = architecture; self.cores = cores; self.features = features
        self.memoryBytes = memoryBytes; self.instance = instance
    }

    enum CodingKeys: String, CodingKey {
        case cpu, architecture, cores, features, instance
        case memoryBytes = "memory_bytes"
    }

    /// Features worth reporting, as /proc/cpuinfo names them.
    static let interesting: Set<String> = [
        "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8",
        "asimd", "asimddp", "asimdhp", "i8mm", "sve", "sve2", "bf16",
    ]

    public static func current(instance: String? = nil) -> HostInfo {
        #if arch(arm64)
        let arch = "arm64"
        #elseif arch(x86_64)
        let arch = "x86_64"
        #else
        let arch = "unknown"
        #endif
        var cpu = "unknown", features: [String] = []
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            var implementer: String?, part: String?
            for line in text.split(separator: "\n") {
                let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                switch kv[0] {
                case "model name" where cpu == "unknown": cpu = kv[1]
                case "flags", "Features":
                    if features.isEmpty { features = kv[1].split(separator: " ").map(String.init).filter(interesting.contains).sorted() }
                case "CPU implementer": implementer = implementer ?? kv[1]
                case "CPU part": part = part ?? kv[1]
                default: break
                }
            }
            if cpu == "unknown", let implementer, let part { cpu = armName(implementer: implementer, part: part) }
        }
        return HostInfo(cpu: cpu, architecture: arch, cores: ProcessInfo.processInfo.activeProcessorCount,
                        features: features, memoryBytes: ProcessInfo.processInfo.physicalMemory, instance: instance)
    }

    /// Arm cores as the Graviton generations use them (ARM implementer 0x41).
    static func armName(implementer: String, part: String) -> String {
        let known = ["0xd0c": "Neoverse N1 (Graviton2)", "0xd40": "Neoverse V1 (Graviton3)", "0xd4f": "Neoverse V2 (Graviton4)"]
        return implementer == "0x41" ? (known[part] ?? "Arm core \(part)") : "implementer \(implementer) part \(part)"
    }

    /// The CPU family a per-vCPU speed carries over within: AMD EPYC, Intel Xeon, or one Graviton
    /// generation (2, 3 and 4 differ in cores, vector width and memory). Nil: unknown.
    public static func cpuFamily(_ cpu: String) -> String? {
        let c = cpu.lowercased()
        for (key, family) in [("graviton2", "graviton2"), ("graviton3", "graviton3"), ("graviton4", "graviton4"),
                              ("neoverse n1", "graviton2"), ("neoverse v1", "graviton3"), ("neoverse v2", "graviton4")] where c.contains(key) {
            return family
        }
        if c.contains("epyc") || c.contains("amd") { return "amd" }
        if c.contains("xeon") || c.contains("intel") { return "intel" }
        return nil
    }
}
