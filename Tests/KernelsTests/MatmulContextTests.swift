import Kernels
import LLMBase
import Quant
import Testing
#if canImport(Glibc)
import CSupport
import Glibc
import Synchronization
#endif

/// The matmul paths agree: BLAS and the panel gemm on dequantized weights equal the F32 product of
/// the dequantized weights (to F32 rounding); the integer path equals it within the 8-bit
/// activation error.
@Suite struct MatmulContextTests {
    static let pool = ComputePool(threads: 2)

    @Test(arguments: [WeightEncoding.q8_0, .q4_0, .q4_1, .f32], [1, 2, 5, 70])
    func pathsAgree(_ format: WeightEncoding, rows n: Int) {
        let k = 96, m = 202   // m not a multiple of the chunk size nor of the 4-row panel, k three blocks
        var rng = SplitMixForTests(UInt64(n * 31 + k))
        let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        let bytes: [UInt8]
        switch format {
        case .f32: bytes = wf.withUnsafeBytes { Array($0) }
        default:
            var b = [UInt8](repeating: 0, count: format.rowBytes(columns: k) * m)
            wf.withUnsafeBufferPointer { s in b.withUnsafeMutableBytes { d in
                switch format {
                case .q8_0: Q8_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
                case .q4_0: Q4_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
                default: Q4_1.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
                }
            } }
            bytes = b
        }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(format: format, data: raw.baseAddress!, rows: m, columns: k)
            var dequantized = [Float](repeating: 0, count: m * k)
            dequantized.withUnsafeMutableBufferPointer { w.dequantizeRows(0, count: m, into: $0.baseAddress!) }
            var exact = [Float](repeating: 0, count: n * m)
            Matmul.f32Reference(x, rows: n, inputs: k, weights: dequantized, outputs: m, into: &exact)
            for backend in [MatmulBackend.simd, .blas, .auto] {
                let context = MatmulContext(pool: Self.pool, backend: backend, maxRows: n, maxColumns: k)
                var y = [Float](repeating: .nan, count: n * m)
                y.withUnsafeMutableBufferPointer { context.multiply(x, rows: n, weight: w, into: $0.baseAddress!) }
                let usesIntegers = MatmulPlanner.path(backend, format: format, rows: n) == .integer
                for i in 0..<(n * m) {
                    let row = i / m
                    let xMax = x[(row * k)..<(row * k + k)].map(abs).max()!
                    // 8-bit activations: each element off by ≤ half a step (xMax/254), times Σ|w|.
                    let rowSum = dequantized[((i % m) * k)..<((i % m) * k + k)].reduce(0) { $0 + abs($1) }
                    let tolerance: Float = usesIntegers ? rowSum * xMax / 254 + 1e-3 : 1e-4 * max(1, abs(exact[i]))
                    #expect(abs(y[i] - exact[i]) <= tolerance, "\(format) \(backend) n=\(n) [\(i)]: \(y[i]) vs \(exact[i])")
                }
            }
        }
    }

    /// With `singleRowNumerics`, a batch's rows equal one-row calls bit for bit (speculative checks
    /// rely on it). Without it, 5 rows on `simd` take the F32 panel gemm, which rounds differently.
    @Test(arguments: [WeightEncoding.q8_0, .q4_1, .f32], [MatmulBackend.simd, .auto])
    func singleRowNumericsMatchOneRowCalls(_ format: WeightEncoding, backend: MatmulBackend) {
        let k = 96, m = 202, n = 5
        var rng = SplitMixForTests(UInt64(k + m))
        let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        var bytes = [UInt8](repeating: 0, count: format == .f32 ? m * k * 4 : format.rowBytes(columns: k) * m)
        wf.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { d in
            switch format {
            case .q8_0: Q8_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            case .q4_1: Q4_1.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            default: d.copyMemory(from: UnsafeRawBufferPointer(s))
            }
        } }
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(format: format, data: raw.baseAddress!, rows: m, columns: k)
            let context = MatmulContext(pool: Self.pool, backend: backend, maxRows: n, maxColumns: k)
            var single = [Float](repeating: .nan, count: n * m)
            x.withUnsafeBufferPointer { xp in
                single.withUnsafeMutableBufferPointer { yp in
                    for i in 0..<n { context.multiply(xp.baseAddress! + i * k, rows: 1, weight: w, into: yp.baseAddress! + i * m) }
                }
            }
            context.singleRowNumerics = true
            var batch = [Float](repeating: .nan, count: n * m)
            batch.withUnsafeMutableBufferPointer { context.multiply(x, rows: n, weight: w, into: $0.baseAddress!) }
            #expect(batch == single, "\(format) \(backend): \(zip(batch, single).filter { $0 != $1 }.count) of \(n * m) differ")
        }
    }

    /// `sameInput` reuses the previous call's 8-bit activations only for the same input, rows and
    /// columns: results equal fresh calls, including after a call on another input in between.
    @Test(arguments: [1, 9])
    func sameInputReusesActivationsOnlyWhenTheyMatch(rows n: Int) {
        let k = 64, m = 32
        var rng = SplitMixForTests(UInt64(n))
        let weights = (0..<3).map { _ -> [UInt8] in
            let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }
            var b = [UInt8](repeating: 0, count: WeightEncoding.q8_0.rowBytes(columns: k) * m)
            wf.withUnsafeBufferPointer { s in b.withUnsafeMutableBytes { Q8_0.quantize(s.baseAddress!, into: $0.baseAddress!, count: m * k) } }
            return b
        }
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }, other = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        let context = MatmulContext(pool: Self.pool, backend: .auto, maxRows: n, maxColumns: k)
        func product(_ input: [Float], _ i: Int, sameInput: Bool) -> [Float] {
            var y = [Float](repeating: .nan, count: n * m)
            weights[i].withUnsafeBytes { raw in
                let w = WeightMatrix(format: .q8_0, data: raw.baseAddress!, rows: m, columns: k)
                input.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { context.multiply(x.baseAddress!, rows: n, weight: w, into: $0.baseAddress!, sameInput: sameInput) }
                }
            }
            return y
        }
        let fresh = (0..<3).map { product(x, $0, sameInput: false) }
        _ = product(x, 0, sameInput: false)
        #expect(product(x, 1, sameInput: true) == fresh[1])
        #expect(product(x, 2, sameInput: true) == fresh[2])
        _ = product(other, 0, sameInput: false)
        #expect(product(x, 1, sameInput: true) == fresh[1])   // another input in between: quantized again
    }

    @Test func poolRunsEveryChunkOnceAndReportsThreads() {
        let pool = ComputePool(threads: 3)
        for chunks in [0, 1, 2, 7, 1000] {
            var hits = [Int](repeating: 0, count: chunks)
            var threads = [Int](repeating: -1, count: chunks)
            hits.withUnsafeMutableBufferPointer { h in
                threads.withUnsafeMutableBufferPointer { t in
                    pool.parallelFor(chunks: chunks) { c, thread in h[c] += 1; t[c] = thread }
                }
            }
            #expect(hits.allSatisfy { $0 == 1 })
            #expect(threads.allSatisfy { (0..<3).contains($0) })
        }
    }

    @Test func poolSurvivesIdleSleep() async throws {
        let pool = ComputePool(threads: 2)
        var total = 0
        pool.parallelFor(chunks: 4) { _, _ in }
        try await Task.sleep(for: .milliseconds(300))   // workers go from spinning to sleeping
        withUnsafeMutablePointer(to: &total) { p in
            let lock = Lock()
            pool.parallelFor(chunks: 64) { c, _ in lock.with { p.pointee += c } }
        }
        #expect(total == (0..<64).reduce(0, +))
    }
}

/// A minimal lock for the test above.
final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func with(_ body: () -> Void) { pthread_mutex_lock(&mutex); body(); pthread_mutex_unlock(&mutex) }
}

/// The `auto` backend on interleaved weights (the VNNI kernels where built, else their scalar
/// twin) agrees with the integer kernels on the file's layout, for one row (decode) and many.
@Suite struct InterleavedMatmulTests {
    @Test(arguments: [WeightEncoding.q8_0, .q4_0, .q4_1], [1, 2, 5, 70])
    func interleavedMatchesIntegerPath(_ format: WeightEncoding, rows n: Int) {
        let k = 96, m = 208   // 26 groups of 8: chunks of uneven length
        var rng = SplitMixForTests(UInt64(n * 17 + 3))
        let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        var bytes = [UInt8](repeating: 0, count: format.rowBytes(columns: k) * m)
        wf.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { d in
            switch format {
            case .q8_0: Q8_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            case .q4_0: Q4_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            default: Q4_1.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            }
        } }
        var packed = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBytes { raw in
            packed.withUnsafeMutableBytes {
                InterleavedLayout.repack(format, raw.baseAddress!, rowBytes: format.rowBytes(columns: k), groups: 0..<(m / 8),
                                         columns: k, into: $0.baseAddress!)
            }
        }
        bytes.withUnsafeBytes { raw in packed.withUnsafeBytes { tiles in
            let plain = WeightMatrix(format: format, data: raw.baseAddress!, rows: m, columns: k)
            let interleaved = WeightMatrix(format: format, data: raw.baseAddress!, rows: m, columns: k, interleaved: tiles.baseAddress!)
            #expect(MatmulPlanner.path(.auto, format: format, rows: n, interleaved: true) == .interleaved)
            #expect(MatmulPlanner.path(.simd, format: format, rows: n, interleaved: true) != .interleaved)
            var expected = [Float](repeating: .nan, count: n * m), got = expected
            // The integer kernels on the file's layout, one activation row at a time.
            let integer = MatmulContext(pool: MatmulContextTests.pool, backend: .simd, maxRows: 1, maxColumns: k)
            for i in 0..<n {
                expected.withUnsafeMutableBufferPointer { y in
                    x.withUnsafeBufferPointer { integer.multiply($0.baseAddress! + i * k, rows: 1, weight: plain, into: y.baseAddress! + i * m) }
                }
            }
            let auto = MatmulContext(pool: MatmulContextTests.pool, backend: .auto, maxRows: n, maxColumns: k)
            got.withUnsafeMutableBufferPointer { auto.multiply(x, rows: n, weight: interleaved, into: $0.baseAddress!) }
            for i in 0..<(n * m) {
                #expect(abs(got[i] - expected[i]) <= 1e-4 * max(1, abs(expected[i])), "\(format) n=\(n) [\(i)]: \(got[i]) vs \(expected[i])")
            }
        } }
    }
}

/// Two or three matrices of one input in one job (Q, K, V; gate and up): the same floats as one
/// call per matrix, with the job's chunks straddling the matrices' boundaries (9 + 3 + 2 groups:
/// neither matrix a multiple of the chunk), for one activation row (decode) and a batch, with one
/// format or two formats of the same activation scaling (Q4_1 and Q8_0) in the job.
@Suite struct FusedMatmulTests {
    static func interleaved(_ format: WeightEncoding, rows m: Int, columns k: Int, seed: UInt64) -> (file: [UInt8], tiles: [UInt8]) {
        var rng = SplitMixForTests(seed)
        let wf = (0..<(m * k)).map { _ in rng.float(-1, 1) }
        var bytes = [UInt8](repeating: 0, count: format.rowBytes(columns: k) * m)
        wf.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { d in
            switch format {
            case .q8_0: Q8_0.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            default: Q4_1.quantize(s.baseAddress!, into: d.baseAddress!, count: m * k)
            }
        } }
        var packed = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBytes { raw in packed.withUnsafeMutableBytes {
            InterleavedLayout.repack(format, raw.baseAddress!, rowBytes: format.rowBytes(columns: k), groups: 0..<(m / 8), columns: k, into: $0.baseAddress!)
        } }
        return (bytes, packed)
    }

    @Test(arguments: [1, 6], [false, true])
    func oneJobEqualsOneCallPerMatrix(rows n: Int, mixedFormats: Bool) {
        let k = 64
        let shapes = [(72, WeightEncoding.q4_1), (24, mixedFormats ? .q8_0 : .q4_1), (16, .q4_1)]
        let data = shapes.enumerated().map { Self.interleaved($0.element.1, rows: $0.element.0, columns: k, seed: UInt64(10 + $0.offset)) }
        var rng = SplitMixForTests(99)
        let x = (0..<(n * k)).map { _ in rng.float(-2, 2) }
        let pool = ComputePool(threads: 3)
        let context = MatmulContext(pool: pool, backend: .auto, maxRows: n, maxColumns: k)
        var separate = shapes.map { [Float](repeating: .nan, count: n * $0.0) }
        var f0 = separate[0], f1 = separate[1], f2 = separate[2]
        func matrices(_ body: ([WeightMatrix]) -> Void) {
            data[0].file.withUnsafeBytes { r0 in data[0].tiles.withUnsafeBytes { t0 in
            data[1].file.withUnsafeBytes { r1 in data[1].tiles.withUnsafeBytes { t1 in
            data[2].file.withUnsafeBytes { r2 in data[2].tiles.withUnsafeBytes { t2 in
                body([WeightMatrix(format: shapes[0].1, data: r0.baseAddress!, rows: shapes[0].0, columns: k, interleaved: t0.baseAddress!),
                      WeightMatrix(format: shapes[1].1, data: r1.baseAddress!, rows: shapes[1].0, columns: k, interleaved: t1.baseAddress!),
                      WeightMatrix(format: shapes[2].1, data: r2.baseAddress!, rows: shapes[2].0, columns: k, interleaved: t2.baseAddress!)])
            } } } } } }
        }
        matrices { w in
            for j in 0..<3 { separate[j].withUnsafeMutableBufferPointer { context.multiply(x, rows: n, weight: w[j], into: $0.baseAddress!) } }
            f0.withUnsafeMutableBufferPointer { y0 in f1.withUnsafeMutableBufferPointer { y1 in f2.withUnsafeMutableBufferPointer { y2 in
                context.multiply(x, rows: n, (w[0], y0.baseAddress!), (w[1], y1.baseAddress!), (w[2], y2.baseAddress!))
            } } }
        }
        let fused = [f0, f1, f2]
        for j in 0..<3 { #expect(fused[j] == separate[j], "matrix \(j), n=\(n), mixed=\(mixedFormats)") }
    }
}

#if canImport(Glibc)

/// Each worker of a pool is pinned to one CPU (`ThreadPlacement`); the calling thread is not.
@Suite struct ThreadPlacementTests {
    @Test func workersArePinnedToOneCPUEach() {
        var allowed = [Int32](repeating: 0, count: 4096)
        let count = Int(swiftlet_allowed_cpus(&allowed, Int32(allowed.count)))
        guard count > 1 else {
            print("ThreadPlacementTests: this process may run on \(count) CPU; a pinned worker cannot be told from an unpinned one, so the check is skipped")
            return
        }
        let pool = ComputePool(threads: 2)
        let seen = CPUCounts()
        // Two chunks: the caller, holding one, waits until the worker has run the other.
        pool.parallelFor(chunks: 2) { _, thread in
            if thread == 0 {
                seen.caller.store(swiftlet_thread_cpu_count(), ordering: .relaxed)
                while seen.worker.load(ordering: .acquiring) == -1 { sched_yield() }
            } else {
                seen.worker.store(swiftlet_thread_cpu_count(), ordering: .releasing)
            }
        }
        let worker = seen.worker.load(ordering: .relaxed), caller = seen.caller.load(ordering: .relaxed)
        #expect(worker == 1, "the worker may run on \(worker) CPUs")
        #expect(caller == Int32(count), "the calling thread is restricted to \(caller) of \(count) CPUs")
    }

    final class CPUCounts: Sendable {
        let caller = Atomic<Int32>(-1)
        let worker = Atomic<Int32>(-1)
    }
}
#endif

/// F16 and BF16 weights kept in their encoding: the fast dots equal their scalar twin, and every
/// path (one row on `HalfFloatDot`, batches on the F32 panels or BLAS) equals F32 arithmetic on
/// the widened weights.
@Suite struct HalfFloatMatmulTests {
    static func encode(_ values: [Float], _ e: WeightEncoding) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() {
                let bits = e == .f16 ? halfBitsFromFloat(v) : UInt16(truncatingIfNeeded: v.bitPattern >> 16)
                raw.storeBytes(of: bits, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        return out
    }

    @Test(arguments: [WeightEncoding.f16, .bf16], [1, 2, 5, 40])
    func pathsAgreeWithWidenedF32(_ e: WeightEncoding, rows n: Int) {
        let k = 112, m = 50   // k: three 32-wide steps and a 16-wide tail
        var rng = SplitMixForTests(UInt64(n) * 5 + (e == .f16 ? 1 : 2))
        let w = (0..<(m * k)).map { _ in rng.float(-1, 1) }
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        let bytes = Self.encode(w, e)
        bytes.withUnsafeBytes { raw in
            let matrix = WeightMatrix(format: e, data: raw.baseAddress!, rows: m, columns: k)
            var widened = [Float](repeating: 0, count: m * k)
            widened.withUnsafeMutableBufferPointer { matrix.dequantizeRows(0, count: m, into: $0.baseAddress!) }
            var exact = [Float](repeating: 0, count: n * m)
            Matmul.f32Reference(x, rows: n, inputs: k, weights: widened, outputs: m, into: &exact)
            x.withUnsafeBufferPointer { xs in
                for r in 0..<m {
                    let fast = e == .f16 ? HalfFloatDot.f16(matrix.row(r), xs.baseAddress!, count: k) : HalfFloatDot.bf16(matrix.row(r), xs.baseAddress!, count: k)
                    let twin = HalfFloatDot.reference(e, matrix.row(r), xs.baseAddress!, count: k)
                    #expect(abs(fast - twin) <= 1e-4 * max(1, abs(twin)), "\(e) row \(r): \(fast) vs twin \(twin)")
                }
            }
            for backend in [MatmulBackend.auto, .simd, .blas] {
                let context = MatmulContext(pool: MatmulContextTests.pool, backend: backend, maxRows: n, maxColumns: k)
                var got = [Float](repeating: .nan, count: n * m)
                got.withUnsafeMutableBufferPointer { y in x.withUnsafeBufferPointer { context.multiply($0.baseAddress!, rows: n, weight: matrix, into: y.baseAddress!) } }
                for i in 0..<(n * m) {
                    #expect(abs(got[i] - exact[i]) <= 1e-4 * max(1, abs(exact[i])), "\(e) \(backend) n=\(n) [\(i)]: \(got[i]) vs \(exact[i])")
                }
            }
        }
    }
}
