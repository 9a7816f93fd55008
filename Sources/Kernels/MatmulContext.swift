#if OpenBLAS
import CBLAS
#endif
import LLMBase
import Quant

/// Multiplies activation rows by weight matrices on the compute pool, with scratch allocated once:
/// the 8-bit activations of the integer path and one F32 weight tile per thread for the BLAS path.
///
///   x: [n, columns] F32   ·   wᵀ: [columns, rows]   →   y: [n, rows] F32
///
/// Work is split by weight rows in chunks of `rowsPerChunk` (a multiple of 16 floats of output, so
/// two threads never write one cache line); each chunk runs every activation row against its
/// weight rows while they sit in L1.
public final class MatmulContext: @unchecked Sendable {
    public let pool: ComputePool
    public let backend: MatmulBackend
    public let maxRows: Int
    public let maxColumns: Int
    private let activations: QuantizedActivations
    private let tiles: AlignedFloatBuffer
    /// Multiply every batch as one-row calls do: the kernel path a single row takes, and each row
    /// through the one-row dot product. A speculative check of K+1 tokens then computes exactly
    /// the logits of K+1 decode steps. Without it, builds without interleaved kernels multiply 3 or
    /// more rows in the F32 panel gemm, whose rounding differs from the 8-bit decode kernels and can
    /// flip a near-tie (greedy speculation would then leave the target's own output).
    public var singleRowNumerics = false
    /// Input, rows and columns whose 8-bit activations are in `activations` (nil: none valid).
    private var lastQuantized: (UnsafePointer<Float>, Int, Int, Int)?
    static let rowsPerChunk = 16
    static let tileRows = 64

    public init(pool: ComputePool, backend: MatmulBackend, maxRows: Int, maxColumns: Int) {
        self.pool = pool
        self.backend = backend
        self.maxRows = maxRows
        self.maxColumns = maxColumns
        activations = QuantizedActivations(capacity: maxRows * maxColumns)
        tiles = AlignedFloatBuffer(count: pool.threadCount * Self.tileRows * maxColumns)
        #if OpenBLAS
        // The pool owns the cores: OpenBLAS runs single-threaded inside each pool thread, so its
        // own spinning threads never compete with ours.
        openblas_set_num_threads(1)
        #endif
    }

    /// Whether this build links OpenBLAS (the `OpenBLAS` package trait, on by default).
    public static var blasAvailable: Bool {
        #if OpenBLAS
        return true
        #else
        return false
        #endif
    }

    /// y = x · wᵀ for `n` rows of x. `sameInput`: x is the input of the previous call, unchanged
    /// since (Q, K and V of one norm; gate and up), so its 8-bit activations are reused when that
    /// call quantized the same rows and columns.
    public func multiply(_ x: UnsafePointer<Float>, rows n: Int, weight w: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                         sameInput: Bool = false) {
        precondition(n <= maxRows && w.columns <= maxColumns, "matmul scratch too small")
        var quantized = false
        // K-quant weights take activations scaled per 256 (llama.cpp's Q8_K), the others per 32.
        let group = w.format.blockSize == 256 ? 256 : 32
        if sameInput, let last = lastQuantized { quantized = last.0 == x && last.1 == n && last.2 == w.columns && last.3 == group }
        lastQuantized = nil
        switch MatmulPlanner.path(backend, format: w.format, rows: singleRowNumerics ? 1 : n, interleaved: w.interleaved != nil) {
        case .interleaved:
            if !quantized { quantizeActivations(x, rows: n, columns: w.columns, group: group) }
            lastQuantized = (x, n, w.columns, group)
            interleavedGemm(rows: n, w, y)
        case .blas:
            #if OpenBLAS
            gemmBLAS(x, rows: n, w, y)
            #endif
        case .f32:
            gemmF32(x, rows: n, w, y)
        case .halfFloat:
            gemmHalfFloat(x, rows: n, w, y)
        case .panel:
            panelGemm(x, rows: n, w, y)
        case .integer:
            if !quantized { quantizeActivations(x, rows: n, columns: w.columns, group: group) }
            lastQuantized = (x, n, w.columns, group)
            // Every quantized matrix a model holds has dot kernels: formats without them are
            // converted to F32 at load (`WeightEncoding.dotFormat`).
            guard let format = w.format.dotFormat else { preconditionFailure("\(w.format) has no integer kernels") }
            integerGemm(format, rows: n, w, y)
        }
    }

    /// y = x · wᵀ for two or three matrices that read the same input (Q, K and V of one norm; gate
    /// and up). When all of them take the interleaved path with the same activation scaling, the
    /// input is quantized once and their row groups are handed out as one job: the threads meet
    /// once instead of once per matrix, and one matrix's last chunks overlap the next one's first
    /// (decode runs hundreds of these per token; each meeting leaves a thread idle for part of a
    /// chunk). Otherwise the matrices are multiplied one after another.
    public func multiply(_ x: UnsafePointer<Float>, rows n: Int, _ a: (WeightMatrix, UnsafeMutablePointer<Float>),
                         _ b: (WeightMatrix, UnsafeMutablePointer<Float>), _ c: (WeightMatrix, UnsafeMutablePointer<Float>)? = nil) {
        func fusable(_ w: WeightMatrix) -> Bool {
            w.columns == a.0.columns && w.format.blockSize == a.0.format.blockSize
                && MatmulPlanner.path(backend, format: w.format, rows: n, interleaved: w.interleaved != nil) == .interleaved
        }
        guard fusable(a.0), fusable(b.0), c.map({ fusable($0.0) }) ?? true else {
            multiply(x, rows: n, weight: a.0, into: a.1)
            multiply(x, rows: n, weight: b.0, into: b.1, sameInput: true)
            if let c { multiply(x, rows: n, weight: c.0, into: c.1, sameInput: true) }
            return
        }
        precondition(n <= maxRows && a.0.columns <= maxColumns, "matmul scratch too small")
        let group = a.0.format.blockSize == 256 ? 256 : 32
        quantizeActivations(x, rows: n, columns: a.0.columns, group: group)
        lastQuantized = (x, n, a.0.columns, group)
        let groupsA = a.0.rows / InterleavedLayout.rows, groupsB = b.0.rows / InterleavedLayout.rows
        let groupsC = (c?.0.rows ?? 0) / InterleavedLayout.rows
        let total = groupsA + groupsB + groupsC
        let chunkGroups = chunkRows(total * InterleavedLayout.rows, perThread: n > 1 ? 16 : 4) / InterleavedLayout.rows
        let k = a.0.columns
        let values = activations.values, scales = activations.scales, sums = activations.sums, halfSums = activations.halfSums
        pool.parallelFor(chunks: (total + chunkGroups - 1) / chunkGroups) { chunk, _ in
            let g0 = chunk * chunkGroups, g1 = min(total, g0 + chunkGroups)
            // The part of this chunk's groups that falls in the matrix whose groups start at `first`.
            func run(_ part: (WeightMatrix, UnsafeMutablePointer<Float>), first: Int, count: Int) {
                let lo = max(g0, first), hi = min(g1, first + count)
                guard lo < hi, let tiles = part.0.interleaved else { return }
                InterleavedKernels.multiply(part.0.format, tiles, groups: (lo - first)..<(hi - first), columns: k, values: values,
                                            scales: scales, sums: sums, halfSums: halfSums, rows: n, into: part.1, ldy: part.0.rows)
            }
            run(a, first: 0, count: groupsA)
            run(b, first: groupsA, count: groupsB)
            if let c { run(c, first: groupsA + groupsB, count: groupsC) }
        }
    }

    /// 8-bit activations of rows 0..<n, one scale per `group` values (32, or 256 for K-quant
    /// weights, whose dot kernels still read one scale per 32: the 8 of a group are equal).
    private func quantizeActivations(_ x: UnsafePointer<Float>, rows n: Int, columns k: Int, group: Int) {
        let nb = k / 32
        let values = activations.values, scales = activations.scales, sums = activations.sums, halfSums = activations.halfSums
        let rowsPerTask = max(1, 64 / max(1, nb))
        let tasks = (n + rowsPerTask - 1) / rowsPerTask
        let quantize = { (task: Int, _: Int) in
            for i in (task * rowsPerTask)..<min(n, (task + 1) * rowsPerTask) {
                if group == 256 {
                    Quant.quantizeActivationsK(x + i * k, superBlocks: k / 256, values: values + i * k, scales: scales + i * nb,
                                               sums: sums + i * nb, halfSums: halfSums + 2 * i * nb)
                } else {
                    Quant.quantizeActivations(x + i * k, blocks: nb, values: values + i * k, scales: scales + i * nb, sums: sums + i * nb)
                }
            }
        }
        if n >= 8 { pool.parallelFor(chunks: tasks, quantize) } else { for t in 0..<tasks { quantize(t, 0) } }
    }

    private func integerGemm<F: DotFormat>(_ format: F.Type, rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        let k = w.columns, nb = k / 32, m = w.rows, weightBlocks = k / F.blockSize
        let values = activations.values, scales = activations.scales, sums = activations.sums
        let chunk = chunkRows(m), singleRow = singleRowNumerics
        pool.parallelFor(chunks: (m + chunk - 1) / chunk) { c, _ in
            let r0 = c * chunk, r1 = min(m, r0 + chunk)
            for i in 0..<n {
                let x = ActivationRow(values: values + i * k, scales: scales + i * nb, sums: sums + i * nb)
                let out = y + i * m
                var r = r0
                // Four rows at a time pays when the rows are reused from cache by several
                // activation rows; streaming one row at a time measured faster for decode.
                while n > 1, !singleRow, r + 4 <= r1 {
                    F.dot4(w.row(r), rowStride: w.rowBytes, x, blocks: weightBlocks, into: out + r)
                    r += 4
                }
                while r < r1 { out[r] = F.dot(w.row(r), x, blocks: weightBlocks); r += 1 }
            }
        }
    }

    /// Interleaved weights: work split by groups of 8 rows, in chunks of at least two groups (16
    /// outputs, a cache line, so threads never share one). Each chunk runs every activation row,
    /// four at a time, against each group while its tiles sit in L1.
    private func interleavedGemm(rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        guard let tiles = w.interleaved else { return }
        let encoding = w.format, k = w.columns, m = w.rows
        let values = activations.values, scales = activations.scales, sums = activations.sums, halfSums = activations.halfSums
        let chunkGroups = chunkRows(m, perThread: n > 1 ? 16 : 4) / InterleavedLayout.rows
        let groupCount = m / InterleavedLayout.rows
        pool.parallelFor(chunks: (groupCount + chunkGroups - 1) / chunkGroups) { c, _ in
            let groups = (c * chunkGroups)..<min(groupCount, (c + 1) * chunkGroups)
            InterleavedKernels.multiply(encoding, tiles, groups: groups, columns: k, values: values, scales: scales,
                                        sums: sums, halfSums: halfSums, rows: n, into: y, ldy: m)
        }
    }

    /// Rows per work chunk: about four chunks per thread, so each thread streams long runs of
    /// consecutive weight rows (the prefetchers' best case) while the atomic hand-out still
    /// balances a noisy machine; a multiple of 16 so threads never share an output cache line.
    func chunkRows(_ m: Int, perThread: Int = 4) -> Int {
        let target = (m + pool.threadCount * perThread - 1) / (pool.threadCount * perThread)
        return max(Self.rowsPerChunk, (target + 15) / 16 * 16)
    }

    /// Quantized weights, many activation rows: panels of 4 weight rows dequantized into per-thread
    /// scratch, then 4×4 F32 register tiles (`PanelKernels`). Rows split over the pool as in
    /// `integerGemm`.
    private func panelGemm(_ x: UnsafePointer<Float>, rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        // Finer chunks than decode's: each row of a batch is much more work than its bytes, so
        // balancing the threads matters more than long sequential runs.
        let k = w.columns, m = w.rows, chunk = chunkRows(m, perThread: 16)
        let scratchBase = tiles.pointer, perThread = Self.tileRows * maxColumns
        pool.parallelFor(chunks: (m + chunk - 1) / chunk) { c, thread in
            let panel = scratchBase + thread * perThread
            var r = c * chunk
            let r1 = min(m, r + chunk)
            while r < r1 {
                let rows = min(4, r1 - r)
                w.dequantizeRows(r, count: rows, into: panel)
                if rows == 4 {
                    var i = 0
                    while i + 4 <= n { PanelKernels.tile4x4(panel, k: k, x + i * k, ldx: k, y + i * m + r, ldy: m); i += 4 }
                    while i < n { PanelKernels.tile4x1(panel, k: k, x + i * k, y + i * m + r); i += 1 }
                } else {
                    PanelKernels.tileScalar(panel, rows: rows, k: k, x, ldx: k, xRows: n, y + r, ldy: m)
                }
                r += rows
            }
        }
    }

    /// F16 / BF16 weights for one or two activation rows (decode): rows split over the pool.
    private func gemmHalfFloat(_ x: UnsafePointer<Float>, rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        let k = w.columns, m = w.rows, chunk = chunkRows(m), bf16 = w.format == .bf16
        pool.parallelFor(chunks: (m + chunk - 1) / chunk) { c, _ in
            for i in 0..<n {
                for r in (c * chunk)..<min(m, (c + 1) * chunk) {
                    y[i * m + r] = bf16 ? HalfFloatDot.bf16(w.row(r), x + i * k, count: k) : HalfFloatDot.f16(w.row(r), x + i * k, count: k)
                }
            }
        }
    }

    /// F32 weights without BLAS (and for one row): SIMD dot products, rows split over the pool.
    private func gemmF32(_ x: UnsafePointer<Float>, rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        let k = w.columns, m = w.rows, chunk = chunkRows(m)
        let base = w.data.assumingMemoryBound(to: Float.self)
        pool.parallelFor(chunks: (m + chunk - 1) / chunk) { c, _ in
            for i in 0..<n {
                for r in (c * chunk)..<min(m, (c + 1) * chunk) { y[i * m + r] = Dot.f32(base + r * k, x + i * k, count: k) }
            }
        }
    }

    #if OpenBLAS
    /// Tiles of `tileRows` weight rows: each thread dequantizes its tile (F32 weights are used in
    /// place) and runs a single-threaded sgemm into its columns of y.
    private func gemmBLAS(_ x: UnsafePointer<Float>, rows n: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
        let k = w.columns, m = w.rows, tileRows = Self.tileRows
        let tileBase = tiles.pointer
        pool.parallelFor(chunks: (m + tileRows - 1) / tileRows) { t, thread in
            let r0 = t * tileRows, count = min(tileRows, m - r0)
            let tile: UnsafePointer<Float>
            if w.format == .f32 {
                tile = w.data.assumingMemoryBound(to: Float.self) + r0 * k
            } else {
                let scratch = tileBase + thread * tileRows * self.maxColumns
                w.dequantizeRows(r0, count: count, into: scratch)
                tile = UnsafePointer(scratch)
            }
            if n == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(count), Int32(k), 1, tile, Int32(k), x, 1, 0, y + r0, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(count), Int32(k),
                            1, x, Int32(k), tile, Int32(k), 0, y + r0, Int32(m))
            }
        }
    }
    #endif
}

