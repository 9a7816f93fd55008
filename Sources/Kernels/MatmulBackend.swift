/// Which path multiplies activations by weights.
///
/// - `simd`: activations quantized to 8 bits once per matmul, integer dot products against the
///   weight blocks (all row counts).
/// - `blas`: weight tiles dequantized to F32, then OpenBLAS `sgemm` (or `sgemv` for one row).
/// - `auto`: `simd` below a per-format row count, `blas` from it on (`MatmulPlanner.crossover`).
/// - `reference`: every weight dequantized to F32 at load and multiplied in F32 (the foundation
///   path that matches the F32 reference to 1e-3; uses several times the memory).
public enum MatmulBackend: String, Sendable, CaseIterable {
    case auto, blas, simd, reference
}

public enum MatmulPlanner {
    /// Activation rows from which dequantize + sgemm beats the integer kernels, per format.
    /// Measured with `swiftlet bench -p N -n 0 --backend simd|blas` for N = 2, 3, 4, 8 on the
    /// project's 2-core Zen 4 machine: the two paths tie at 2 rows for Q4_1, Q4_0 and Q8_0 and
    /// BLAS leads from 3 on (see BENCHMARKS.md).
    public static func crossover(_ format: WeightFormat) -> Int {
        switch format {
        case .f32: return 2
        case .q8_0, .q4_0, .q4_1: return crossoverQuantized
        }
    }

    public static var crossoverQuantized: Int { 3 }

    public static func useBLAS(_ backend: MatmulBackend, format: WeightFormat, rows: Int) -> Bool {
        switch backend {
        case .blas, .reference: return true
        case .simd: return false
        case .auto: return rows >= crossover(format)
        }
    }
}
