// Throughput of Swiftlet's hot kernels, one benchmark per kernel and format, so a regression
// shows up in the kernel where it happens rather than only in end-to-end tokens/s.
//
// Shapes are SmolLM2-135M's: hidden size 576, FFN size 1536. A "matrix" is one FFN gate/up
// matrix, 1536 rows × 576 columns. It fits in L2/L3, so these are cache-resident kernel figures,
// not DRAM-bound whole-model figures (`swiftlet bench` measures those).
//
// Each benchmark times its own measured loop and records a custom metric (MB/s of weights or
// input, MMAC/s, MFLOP/s or ns per call: package-benchmark's custom metrics are integers),
// alongside package-benchmark's wall clock, throughput (iterations/s) and malloc count (the hot
// paths must not allocate: anything but 0 is a regression).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Benchmark
import Kernels
import LLMBase
import Quant

// MARK: - Shapes and fixtures

let rowsM = 1536                // weight rows (outputs)
let columnsK = 576              // weight columns (inputs)
let blocksPerRow = columnsK / 32
let prefillRows = 512           // activation rows of the prefill matmul
let poolCalls = 1000            // parallelFor calls per iteration
let elementwiseCalls = 100      // rmsNorm / softmax calls per iteration

extension BenchmarkMetric {
    static let weightsMBs = BenchmarkMetric.custom("weights MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let inputMBs = BenchmarkMetric.custom("input MB/s", polarity: .prefersLarger, useScalingFactor: false)
    static let mmacs = BenchmarkMetric.custom("MMAC/s", polarity: .prefersLarger, useScalingFactor: false)
    static let mflops = BenchmarkMetric.custom("MFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
    static let nsPerCall = BenchmarkMetric.custom("ns/call", polarity: .prefersSmaller, useScalingFactor: false)
}

/// Deterministic floats in [-1, 1) (SplitMix64), so every run quantizes the same weights.
struct FloatSource {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }
}

func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    memset(p, 0, bytes)
    return p
}

func randomFloats(_ count: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
    let p = allocate(bytes: count * 4).bindMemory(to: Float.self, capacity: count)
    var source = FloatSource(state: seed)
    for i in 0..<count { p[i] = source.next() }
    return p
}

/// Buffers shared by all benchmarks, built once on first use and kept for the process's life.
final class Fixtures: @unchecked Sendable {
    let weightsQ4_1: UnsafeRawPointer
    let weightsQ4_0: UnsafeRawPointer
    let weightsQ8_0: UnsafeRawPointer
    /// The same matrices interleaved 8 rows at a time (`InterleavedLayout`), for the VNNI kernels.
    let interleaved: [WeightEncoding: UnsafeRawPointer]
    let input: UnsafeMutablePointer<Float>          // prefillRows × columnsK activations
    let qValues: UnsafeMutablePointer<Int8>         // prefillRows × columnsK quantized activations
    let qScales: UnsafeMutablePointer<Float>
    let qSums: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>         // prefillRows × rowsM results
    let norm: UnsafeMutablePointer<Float>           // 2048 norm weights
    let scratch: UnsafeMutablePointer<Float>        // 2048 floats (rmsNorm output)
    let logits: UnsafeMutablePointer<Float>         // 2048 floats, softmax's starting values
    let probabilities: UnsafeMutablePointer<Float>  // 2048 floats, softmax in place
    let pool = ComputePool(threads: 2)
    let decode: MatmulContext
    let prefill: MatmulContext

    init() {
        let floats = randomFloats(rowsM * columnsK, seed: 1)
        func quantized(_ rowBytes: Int, _ quantize: (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void) -> UnsafeRawPointer {
            let p = allocate(bytes: rowsM * rowBytes)
            for r in 0..<rowsM { quantize(floats + r * columnsK, p + r * rowBytes, columnsK) }
            return UnsafeRawPointer(p)
        }
        weightsQ4_1 = quantized(WeightEncoding.q4_1.rowBytes(columns: columnsK)) { Q4_1.quantize($0, into: $1, count: $2) }
        weightsQ4_0 = quantized(WeightEncoding.q4_0.rowBytes(columns: columnsK)) { Q4_0.quantize($0, into: $1, count: $2) }
        weightsQ8_0 = quantized(WeightEncoding.q8_0.rowBytes(columns: columnsK)) { Q8_0.quantize($0, into: $1, count: $2) }
        floats.deallocate()
        var copies: [WeightEncoding: UnsafeRawPointer] = [:]
        for (format, data) in [(WeightEncoding.q4_1, weightsQ4_1), (.q4_0, weightsQ4_0), (.q8_0, weightsQ8_0)] {
            let p = allocate(bytes: format.rowBytes(columns: columnsK) * rowsM)
            InterleavedLayout.repack(format, data, rowBytes: format.rowBytes(columns: columnsK),
                                     groups: 0..<(rowsM / InterleavedLayout.rows), columns: columnsK, into: p)
            copies[format] = UnsafeRawPointer(p)
        }
        interleaved = copies

        input = randomFloats(prefillRows * columnsK, seed: 2)
        let nb = prefillRows * blocksPerRow
        qValues = allocate(bytes: prefillRows * columnsK).bindMemory(to: Int8.self, capacity: prefillRows * columnsK)
        qScales = allocate(bytes: nb * 4).bindMemory(to: Float.self, capacity: nb)
        qSums = allocate(bytes: nb * 4).bindMemory(to: Float.self, capacity: nb)
        for i in 0..<prefillRows {
            quantizeActivations(input + i * columnsK, blocks: blocksPerRow, values: qValues + i * columnsK,
                                scales: qScales + i * blocksPerRow, sums: qSums + i * blocksPerRow)
        }
        output = allocate(bytes: prefillRows * rowsM * 4).bindMemory(to: Float.self, capacity: prefillRows * rowsM)
        norm = randomFloats(2048, seed: 3)
        scratch = randomFloats(2048, seed: 4)
        logits = randomFloats(2048, seed: 5)
        probabilities = randomFloats(2048, seed: 5)
        decode = MatmulContext(pool: pool, backend: .simd, maxRows: 1, maxColumns: columnsK)
        prefill = MatmulContext(pool: pool, backend: .blas, maxRows: prefillRows, maxColumns: columnsK)
        auto = MatmulContext(pool: pool, backend: .auto, maxRows: prefillRows, maxColumns: columnsK)
    }

    let auto: MatmulContext

    /// The matrix with its interleaved copy (what `auto` multiplies on a VNNI build).
    func interleavedWeights(_ format: WeightEncoding) -> WeightMatrix {
        let plain = weights(format)
        return WeightMatrix(format: format, data: plain.data, rows: rowsM, columns: columnsK, interleaved: interleaved[format])
    }

    /// The first quantized activation row.
    var activationRow: ActivationRow { ActivationRow(values: qValues, scales: qScales, sums: qSums) }

    func weights(_ format: WeightEncoding) -> WeightMatrix {
        let data: UnsafeRawPointer
        switch format {
        case .q4_1: data = weightsQ4_1
        case .q4_0: data = weightsQ4_0
        case .q8_0: data = weightsQ8_0
        case .f32: fatalError("not benchmarked")
        }
        return WeightMatrix(format: format, data: data, rows: rowsM, columns: columnsK)
    }
}

let fixtures = Fixtures()

// MARK: - Timing

@inline(__always) func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Runs `body` between start/stopMeasurement and returns its duration in ns (at least 1).
@inline(__always) func timed(_ benchmark: Benchmark, _ body: () -> Void) -> Double {
    benchmark.startMeasurement()
    let t0 = nanoseconds()
    body()
    let t1 = nanoseconds()
    benchmark.stopMeasurement()
    return Double(max(1, t1 - t0))
}

/// `amount` per ns × 1000 = millions of `amount` per second.
@inline(__always) func millionsPerSecond(_ amount: Double, _ ns: Double) -> Int { Int((amount / ns * 1000).rounded()) }

func configuration(_ custom: [BenchmarkMetric], maxDuration: Duration = .milliseconds(400)) -> Benchmark.Configuration {
    var units: [BenchmarkMetric: BenchmarkUnits] = [:]
    for metric in custom { units[metric] = .count }
    return .init(metrics: [.wallClock, .throughput, .mallocCountTotal] + custom, units: units, warmupIterations: 3,
                 maxDuration: maxDuration, maxIterations: 2000)
}

// MARK: - Kernel passes (specialized per format at the call site)

@inline(__always) func dotPass<F: DotFormat>(_: F.Type, _ w: UnsafeRawPointer, _ x: ActivationRow, _ out: UnsafeMutablePointer<Float>) {
    let rowBytes = blocksPerRow * F.blockBytes
    for r in 0..<rowsM { out[r] = Dot.dot(F.self, w + r * rowBytes, x, blocks: blocksPerRow) }
}

@inline(__always) func dot4Pass<F: DotFormat>(_: F.Type, _ w: UnsafeRawPointer, _ x: ActivationRow, _ out: UnsafeMutablePointer<Float>) {
    let rowBytes = blocksPerRow * F.blockBytes
    var r = 0
    while r + 4 <= rowsM {
        Dot.dot4(F.self, w + r * rowBytes, rowStride: rowBytes, x, blocks: blocksPerRow, into: out + r)
        r += 4
    }
}

typealias Pass = @Sendable (UnsafeRawPointer, ActivationRow, UnsafeMutablePointer<Float>) -> Void

let formats: [(name: String, format: WeightEncoding, dot: Pass, dot4: Pass)] = [
    ("Q4_1", .q4_1, { dotPass(Q4_1.self, $0, $1, $2) }, { dot4Pass(Q4_1.self, $0, $1, $2) }),
    ("Q4_0", .q4_0, { dotPass(Q4_0.self, $0, $1, $2) }, { dot4Pass(Q4_0.self, $0, $1, $2) }),
    ("Q8_0", .q8_0, { dotPass(Q8_0.self, $0, $1, $2) }, { dot4Pass(Q8_0.self, $0, $1, $2) }),
]

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    let f = fixtures
    let shape = "\(rowsM)x\(columnsK)"
    let macsPerMatrix = Double(rowsM * columnsK)

    // Integer dot kernels, one thread, a whole matrix against one activation row.
    for (name, format, dot, dot4) in formats {
        let w = f.weights(format)
        let bytes = Double(w.rowBytes * rowsM)
        for (kernel, pass) in [("dot", dot), ("dot4", dot4)] {
            Benchmark("Dot.\(kernel) \(name) \(shape)", configuration: configuration([.weightsMBs, .mmacs])) { benchmark in
                let x = f.activationRow
                let ns = timed(benchmark) { pass(w.data, x, f.output) }
                blackHole(f.output[0])
                benchmark.measurement(.weightsMBs, millionsPerSecond(bytes, ns))
                benchmark.measurement(.mmacs, millionsPerSecond(macsPerMatrix, ns))
            }
        }
    }

    // Activation quantization, one thread, prefill-sized: 512 rows × 576.
    Benchmark("quantizeActivations \(prefillRows)x\(columnsK)", configuration: configuration([.inputMBs])) { benchmark in
        let ns = timed(benchmark) {
            for i in 0..<prefillRows {
                quantizeActivations(f.input + i * columnsK, blocks: blocksPerRow, values: f.qValues + i * columnsK,
                                    scales: f.qScales + i * blocksPerRow, sums: f.qSums + i * blocksPerRow)
            }
        }
        benchmark.measurement(.inputMBs, millionsPerSecond(Double(prefillRows * columnsK * 4), ns))
    }

    // MatmulContext on the 2-thread pool: decode (1 row, integer kernels) and prefill (512 rows,
    // dequantized tiles + OpenBLAS sgemm).
    for (name, format, _, _) in formats {
        let w = f.weights(format)
        let bytes = Double(w.rowBytes * rowsM)
        Benchmark("matmul simd \(name) rows=1 \(shape)", configuration: configuration([.weightsMBs])) { benchmark in
            let ns = timed(benchmark) { f.decode.multiply(f.input, rows: 1, weight: w, into: f.output) }
            benchmark.measurement(.weightsMBs, millionsPerSecond(bytes, ns))
        }
        Benchmark("matmul blas \(name) rows=\(prefillRows) \(shape)",
                  configuration: configuration([.mflops], maxDuration: .milliseconds(800))) { benchmark in
            let ns = timed(benchmark) { f.prefill.multiply(f.input, rows: prefillRows, weight: w, into: f.output) }
            benchmark.measurement(.mflops, millionsPerSecond(2 * Double(prefillRows) * macsPerMatrix, ns))
        }
    }

    // The interleaved kernels (VNNI where the build has them, else their scalar twin: see the
    // benchmark's name), one thread, one activation row and 512, and `auto` on the 2-thread pool.
    let kind = InterleavedKernels.vectorized ? "vnni" : "scalar"
    for (name, format, _, _) in formats {
        let w = f.interleavedWeights(format)
        let bytes = Double(w.rowBytes * rowsM)
        for n in [1, prefillRows] {
            Benchmark("Interleaved \(kind) \(name) rows=\(n) \(shape)",
                      configuration: configuration([.weightsMBs, .mmacs], maxDuration: .milliseconds(800))) { benchmark in
                let ns = timed(benchmark) {
                    InterleavedKernels.multiply(format, w.interleaved!, groups: 0..<(rowsM / InterleavedLayout.rows),
                                                columns: columnsK, values: f.qValues, scales: f.qScales, sums: f.qSums,
                                                rows: n, into: f.output, ldy: rowsM)
                }
                blackHole(f.output[0])
                benchmark.measurement(.weightsMBs, millionsPerSecond(bytes, ns))
                benchmark.measurement(.mmacs, millionsPerSecond(Double(n) * macsPerMatrix, ns))
            }
            Benchmark("matmul auto \(name) rows=\(n) \(shape)",
                      configuration: configuration([.weightsMBs, .mflops], maxDuration: .milliseconds(800))) { benchmark in
                let ns = timed(benchmark) { f.auto.multiply(f.input, rows: n, weight: w, into: f.output) }
                benchmark.measurement(.weightsMBs, millionsPerSecond(bytes, ns))
                benchmark.measurement(.mflops, millionsPerSecond(2 * Double(n) * macsPerMatrix, ns))
            }
        }
    }

    // Hand-out cost of the compute pool: 36 empty chunks (a decode step runs hundreds of these).
    Benchmark("ComputePool.parallelFor 36 empty chunks", configuration: configuration([.nsPerCall])) { benchmark in
        let ns = timed(benchmark) {
            for _ in 0..<poolCalls { f.pool.parallelFor(chunks: 36) { _, _ in } }
        }
        benchmark.measurement(.nsPerCall, Int((ns / Double(poolCalls)).rounded()))
    }

    // Elementwise kernels on a hidden-size row (576) and a longer one (2048).
    for n in [576, 2048] {
        Benchmark("Elementwise.rmsNorm \(n)", configuration: configuration([.nsPerCall])) { benchmark in
            let ns = timed(benchmark) {
                for _ in 0..<elementwiseCalls {
                    Elementwise.rmsNorm(f.input, weight: f.norm, count: n, epsilon: 1e-5, into: f.scratch)
                }
            }
            blackHole(f.scratch[0])
            benchmark.measurement(.nsPerCall, Int((ns / Double(elementwiseCalls)).rounded()))
        }
        Benchmark("Elementwise.softmax \(n)", configuration: configuration([.nsPerCall])) { benchmark in
            // In place, repeatedly, from the same logits each iteration: after the first call the
            // row is a distribution, which costs softmax the same work.
            f.probabilities.update(from: f.logits, count: n)
            let ns = timed(benchmark) {
                for _ in 0..<elementwiseCalls { Elementwise.softmax(f.probabilities, count: n) }
            }
            blackHole(f.probabilities[0])
            benchmark.measurement(.nsPerCall, Int((ns / Double(elementwiseCalls)).rounded()))
        }
    }
}
