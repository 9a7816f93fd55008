// swift-tools-version:6.1
import PackageDescription

// Kernel micro-benchmarks for Swiftlet, using ordo-one's package-benchmark. A separate package so
// the root package's build, tests and CI never fetch or compile the benchmark machinery.
//
//   cd Benchmarks && swift package --disable-sandbox benchmark
//
// The kernels (`Dot`, `quantizeActivations`, `Elementwise`) are @inlinable, so they are compiled
// into this target: it gets the same release flags as the root's numeric targets.
let package = Package(
    name: "SwiftletBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Swiftlet", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SwiftletKernels", package: "Swiftlet"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            swiftSettings: [
                .unsafeFlags(["-target-cpu", "native", "-Ounchecked"], .when(configuration: .release)),
            ],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]),
    ]
)
