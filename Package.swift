// swift-tools-version:6.1
import PackageDescription
#if canImport(Glibc)
import Glibc
#endif

// Hot numeric targets are built for the host's instruction set (AVX-512/VNNI on Zen 4, NEON+dot on
// Graviton) in release builds; Swift's default x86_64 target is baseline SSE2. Parsers and I/O keep
// Swift's checked arithmetic and bounds checks: a hostile file must produce an error, not UB.
// `SWIFTLET_TARGET_CPU=neoverse-n1` (say) names the CPU instead: a cross build is for the target,
// not for the machine that builds it (scripts/test-arm64).
func environment(_ name: String) -> String? {
    #if canImport(Glibc)
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
    #else
    return nil
    #endif
}
let targetCPU = environment("SWIFTLET_TARGET_CPU")
let nativeRelease: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", targetCPU ?? "native"], .when(configuration: .release)),
]
let numericRelease: [SwiftSetting] = nativeRelease + [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

/// The feature words of the build host's /proc/cpuinfo: `flags` on x86_64, `Features` on arm64.
func hostCPUFeatures() -> Set<String> {
    #if canImport(Glibc)
    guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 8192)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(cString: line)
        guard text.hasPrefix("flags") || text.hasPrefix("Features") else { continue }
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
    }
    #endif
    return []
}

/// Whether to build the AVX-512 VNNI kernels: the build host has AVX-512 VNNI (with VL, BW and
/// F16C). `-target-cpu native` builds release binaries for the host, so the VNNI kernels are
/// compiled in exactly when it has them: Swift has no `#if` for CPU features, and their
/// intrinsics do not compile for a CPU without them. `SWIFTLET_PORTABLE=1` builds the portable
/// Swift-SIMD kernels only (as on arm64); a named target CPU never gets them (the host's flags
/// say nothing about it).
func buildAVX512VNNI() -> Bool {
    #if arch(x86_64)
    if environment("SWIFTLET_PORTABLE") == "1" || targetCPU != nil { return false }
    return ["avx512_vnni", "avx512vl", "avx512bw", "f16c"].allSatisfy(hostCPUFeatures().contains)
    #else
    return false
    #endif
}

/// Whether to build the AVX2 kernels (`vpmaddubsw`): the build host has AVX2, FMA and F16C, as
/// every x86_64 server CPU since 2013 does. They are the interleaved kernels of hosts without
/// AVX-512 VNNI (AMD Zen 2 and 3, older Intel); a VNNI host compiles them too, so that its tests
/// check them, and runs the VNNI ones. Same rules as VNNI for `SWIFTLET_PORTABLE` and a named CPU.
func buildAVX2() -> Bool {
    #if arch(x86_64)
    if environment("SWIFTLET_PORTABLE") == "1" || targetCPU != nil { return false }
    return ["avx2", "fma", "f16c"].allSatisfy(hostCPUFeatures().contains)
    #else
    return false
    #endif
}

/// The arm64 dot-product extensions the release build targets: `sdot` (SWIFTLET_NEON_DOTPROD) and
/// `smmla` (SWIFTLET_NEON_I8MM). For a named CPU, from what that CPU has (Neoverse N1 and later
/// have the dot product; V1, V2 and N2 also the int8 matrix multiply); for a native arm64
/// build, from the host's /proc/cpuinfo (`asimddp`, `i8mm`). As with VNNI, intrinsics for an
/// extension the target lacks do not compile, so the kernels using them are behind these defines.
func neonExtensions() -> (dotProduct: Bool, int8MatMul: Bool) {
    if let cpu = targetCPU?.lowercased() {
        let i8mm: Set<String> = ["neoverse-v1", "neoverse-v2", "neoverse-n2"]
        return (i8mm.contains(cpu) || cpu == "neoverse-n1", i8mm.contains(cpu))
    }
    #if arch(arm64)
    if environment("SWIFTLET_PORTABLE") == "1" { return (false, false) }
    let features = hostCPUFeatures()
    return (features.contains("asimddp"), features.contains("i8mm"))
    #else
    return (false, false)
    #endif
}
// Quant and Kernels: the VNNI and AVX2 gemms, and half-precision KV loads in one `vcvtph2ps`; on arm64 the
// dot-product kernels.
let quantDefines: [String] = (buildAVX512VNNI() ? ["SWIFTLET_AVX512_VNNI"] : [])
    + (buildAVX2() ? ["SWIFTLET_AVX2"] : [])
    + (neonExtensions().dotProduct ? ["SWIFTLET_NEON_DOTPROD"] : [])
    + (neonExtensions().int8MatMul ? ["SWIFTLET_NEON_I8MM"] : [])
let quantRelease: [SwiftSetting] = numericRelease
    + quantDefines.map { .define($0, .when(configuration: .release)) }

let package = Package(
    name: "Swiftlet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swiftlet", targets: ["SwiftletCLI"]),
        .library(name: "SwiftletKernels", targets: ["LLMBase", "Quant", "Kernels"]),
    ],
    // OpenBLAS is a trait: `swift build --disable-default-traits` builds without it, and the
    // integer and SIMD F32 kernels then cover every matmul.
    traits: [
        .trait(name: "OpenBLAS", description: "Batched matmuls through OpenBLAS sgemm (Debian: libopenblas-dev)."),
        .default(enabledTraits: ["OpenBLAS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Already Hummingbird's dependencies; named here because the server uses them directly:
        // request logs, graceful shutdown, and the connection-level handlers (limits, 431).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // libnuma: NUMA nodes of the CPUs the compute threads are pinned to (Debian: libnuma-dev).
        .systemLibrary(name: "CNUMA", path: "Sources/CNUMA", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),
        .target(name: "CSupport"),
        .target(name: "LLMBase", swiftSettings: nativeRelease),
        .target(name: "GGUF", dependencies: ["LLMBase"]),
        .target(name: "Quant", dependencies: ["LLMBase"], swiftSettings: quantRelease),
        .target(name: "Kernels",
                dependencies: ["LLMBase", "Quant", "CSupport", "CNUMA", .target(name: "CBLAS", condition: .when(traits: ["OpenBLAS"]))],
                swiftSettings: quantRelease),
        .target(name: "Tokenizer", dependencies: ["LLMBase", "GGUF"]),
        .target(name: "Sampling", dependencies: ["LLMBase"], swiftSettings: nativeRelease),
        .target(name: "Models", dependencies: ["LLMBase", "GGUF", "Quant", "Kernels", "Tokenizer"],
                swiftSettings: nativeRelease),
        .target(name: "Scheduling"),
        .target(name: "Engine", dependencies: ["LLMBase", "Models", "Tokenizer", "Sampling", "Scheduling"]),
        .target(name: "OpenAIAPI", dependencies: ["Engine", "Sampling", "Tokenizer"]),
        // Prices and the cost arithmetic: the catalogue is data (Resources/prices.json, built from
        // ../shared/pricing/prices.md), found beside the executable at run time.
        .target(name: "Cost", dependencies: ["LLMBase"], resources: [.copy("Resources/prices.json")]),
        // Perplexity, multiple-choice accuracy and KL divergence on the real forward pass.
        .target(name: "Evaluation", dependencies: ["Models", "Tokenizer", "Sampling"], swiftSettings: nativeRelease),
        .target(name: "Server", dependencies: [
            "Engine", "OpenAIAPI", "Tokenizer", "Models", "Cost",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ]),
        .executableTarget(
            name: "SwiftletCLI",
            dependencies: [
                "LLMBase", "GGUF", "Quant", "Kernels", "Tokenizer", "Sampling", "Models", "Engine", "OpenAIAPI", "Server", "Cost", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .target(name: "SwiftletTesting", dependencies: ["LLMBase", "GGUF", "Quant", "Models"]),

        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "SwiftletTesting"]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "LLMBase"], exclude: ["Fixtures"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Quant", "LLMBase", "CSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF", "SwiftletTesting"]),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Kernels", "Quant", "Tokenizer", "Sampling", "SwiftletTesting", "Evaluation"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "Sampling"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Models", "Tokenizer", "GGUF", "SwiftletTesting"]),
        .testTarget(name: "OpenAIAPITests", dependencies: ["OpenAIAPI", "Engine", "Sampling", "Tokenizer"]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Engine", "Models", "Tokenizer", "OpenAIAPI", "SwiftletTesting", "Cost",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "CostTests", dependencies: ["Cost", "Sampling"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Models", "Tokenizer", "GGUF", "SwiftletTesting"]),
        .testTarget(name: "CLITests", dependencies: ["SwiftletTesting"]),
    ]
)

// Every Swift target, tests included, is built for the host in release, not only the numeric
// ones. `@inlinable` kernels are specialized in each module that calls them, and the linker keeps
// one copy of each specialization: a copy from a module built for baseline x86-64 (no FMA, so
// `addProduct` became a call to `fmaf` per lane) could stand in for the native one. That made the
// attention kernels many times slower in a CI run, because a test module called them directly.
for target in package.targets where target.type != .system && target.name != "CSupport" && target.swiftSettings == nil {
    target.swiftSettings = nativeRelease
}
