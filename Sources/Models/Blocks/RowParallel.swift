import Kernels

extension ComputePool {
    /// Runs `body` for rows 0..<n: on the calling thread for a few rows, over the pool for
    /// batches, where the row-wise steps (norms, the FFN's exponentials, residuals, RoPE) would
    /// otherwise leave the other threads idle between matmuls. Rows are whole cache lines apart.
    @inline(__always)
    func forEachRow(_ n: Int, _ body: (Int) -> Void) {
        if n < 8 || threadCount == 1 {
            for i in 0..<n { body(i) }
            return
        }
        let perChunk = (n + 4 * threadCount - 1) / (4 * threadCount)
        parallelFor(chunks: (n + perChunk - 1) / perChunk) { chunk, _ in
            for i in (chunk * perChunk)..<min(n, (chunk + 1) * perChunk) { body(i) }
        }
    }
}
