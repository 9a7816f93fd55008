import Quant

/// Which kernels multiply activations by weights (see `MatmulPlanner.path`).
///
/// - `auto`: on a build with interleaved kernels (AVX-512 VNNI or AVX2 on x86_64, the NEON dot
///   product on arm64), Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and Q6_K weights interleaved 8 rows at
///   a time at load and every matmul, one row or many, on those kernels (`InterleavedKernels`),
///   K-quants with activations scaled per 256 as llama.cpp's Q8_K. Without them, K-quant weights
///   take the integer kernels at every batch size; otherwise the same as `simd`.
/// - `simd`: the portable Swift-SIMD kernels: for one or two activation rows (decode),
///   activations quantized to 8 bits and integer dot products against the weight blocks; for
///   more rows, 4-row weight panels dequantized to F32 and multiplied in F32 register tiles. No
///   BLAS involved.
/// - `blas`: weight tiles dequantized to F32, then OpenBLAS `sgemm` (or `sgemv` for one row).
/// - `reference`: every weight dequantized to F32 at load and multiplied in F32 (the foundation
///   path that matches the F32 reference to 1e-3; uses several times the memory).
public enum MatmulBackend: String, Sendable, CaseIterable {
    case auto, blas, simd, reference
}

/// The kernel one matmul runs on.
public enum MatmulPath: Sendable, Equatable {
    /// 8-bit activations · interleaved weights on the build's tile kernels (any number of rows).
    case interleaved
    /// 8-bit activations · quantized weight blocks (decode).
    case integer
    /// Dequantized 4-row weight panels × F32 register tiles (`PanelKernels`).
    case panel
    /// Dequantized weight tiles through OpenBLAS sgemm / sgemv.
    case blas
    /// F32 weights, SIMD dot products.
    case f32
    /// F16 or BF16 weights widened 16 at a time against F32 activations (`HalfFloatDot`).
    case halfFloat
}

public enum MatmulPlanner {
    /// Activation rows from which the panel gemm beats the integer kernels. Measured with
    /// `swiftlet bench -p N -n 0 --backend simd` for N = 2, 3, 4, 8 on the project's 2-core Zen 4
    /// machine (BENCHMARKS.md): the integer kernels read 4–8 bits per weight instead of 32, which
    /// wins while there are too few rows to reuse a dequantized panel.
    public static var panelRows: Int { 3 }

    /// `auto` and `simd`: integer kernels below `panelRows`, the panel gemm from there on (it
    /// measured level with dequantize + sgemm at 512 rows and 1.2–1.3× faster at 8–64 rows, where
    /// sgemm's packing of every weight tile dominates). `blas` (and `reference`, whose weights are
    /// F32) use OpenBLAS when the build has it. F32 weights use sgemm for batches unless `simd`.
    public static func path(_ backend: MatmulBackend, format: WeightEncoding, rows: Int, interleaved: Bool = false,
                            blasAvailable: Bool = MatmulContext.blasAvailable) -> MatmulPath {
        if interleaved && backend == .auto && format != .f32 { return .interleaved }
        // K-quants on `auto` take 8-bit activations at every batch size, as llama.cpp multiplies
        // them (Q8_K): logits then follow llama.cpp's where its rounding decides a close call.
        if backend == .auto && format.blockSize == 256 { return .integer }
        if format == .f32 { return rows > 1 && backend != .simd && blasAvailable ? .blas : .f32 }
        if blasAvailable && (backend == .blas || backend == .reference) { return .blas }
        if format.isHalfFloat { return rows >= panelRows ? .panel : .halfFloat }
        return rows >= panelRows ? .panel : .integer
    }
}
