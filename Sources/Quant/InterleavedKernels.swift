import LLMBase

/// Integer matrix products over interleaved weights (`InterleavedLayout`) and 8-bit activation
/// rows (`QuantizedActivations`):
///
///   y[i·ldy + 8g + r] = (row 8g + r of w) · (activation row i),   g ∈ groups, i ∈ 0..<n
///
/// Per block, with isum the integer dot product of the kernel's quants with the activation bytes,
/// dw/mw the weight block's scale/minimum, dx the activation block's scale and sx = dx·Σx:
///
///   Q4_0:  dw·(dx·isum − 8·sx)        (quants are the nibbles; the weight is nibble − 8)
///   Q4_1:  dw·dx·isum + mw·sx
///   Q8_0:  dw·(dx·isum − 128·sx)      (quants are stored as weight + 128; the AVX2 kernel sums
///                                      the signed weights instead, so dw·dx·isum)
///   Q5_0:  dw·(dx·isum − 16·sx)       (quants are the five-bit values; the weight is value − 16)
///   Q5_1:  dw·dx·isum + mw·sx
///
/// `multiply` runs the fastest kernel set this build compiled (`compiledSets`: AVX-512 VNNI or
/// AVX2 on x86_64, the NEON dot-product kernels on arm64), else the scalar twin `multiplyScalar`,
/// which has the same signature and is what the tests hold every compiled set to.
public enum InterleavedKernels {
    /// Whether this build has fast kernels for the tiles (see Package.swift: the x86_64 sets are
    /// compiled in when the build host has their instructions; arm64's for the target CPU).
    /// Weights are interleaved at load only then.
    public static var vectorized: Bool { !compiledSets.isEmpty }

    /// The kernel path `multiply` takes: the instruction set of the interleaved kernels, or nil
    /// for the portable Swift-SIMD row kernels.
    public static var instructionSet: String? { compiledSets.first?.description }

    /// The kernel sets this build compiled, fastest first (`multiply` takes the first). An AVX-512
    /// host compiles the AVX2 set too, so its tests check both.
    public static let compiledSets: [InterleavedKernelSet] = {
        var sets: [InterleavedKernelSet] = []
        #if SWIFTLET_AVX512_VNNI
        sets.append(.avx512VNNI)
        #endif
        #if SWIFTLET_AVX2
        sets.append(.avx2)
        #endif
        #if SWIFTLET_NEON_I8MM
        sets.append(.neonInt8MatMul)
        #elseif SWIFTLET_NEON_DOTPROD
        sets.append(.neonDotProduct)
        #endif
        return sets
    }()

    /// `halfSums` (dx·Σx per 16) are read by Q6_K only; K-quant tiles take activations scaled
    /// per 256 (`quantizeActivationsK`). `kernels` names one of `compiledSets` (tests); nil is the
    /// first. A set this build did not compile runs the scalar twin.
    public static func multiply(_ encoding: WeightEncoding, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                halfSums: UnsafePointer<Float>? = nil, rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
                                kernels: InterleavedKernelSet? = nil) {
        switch kernels ?? compiledSets.first {
        #if SWIFTLET_AVX512_VNNI
        case .avx512VNNI?:
            switch encoding {
            case .q4_K: VNNIKQuant.multiplyQ4K(w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q6_K:
                guard let halfSums else { preconditionFailure("Q6_K tiles need the activations' half sums") }
                VNNIKQuant.multiplyQ6K(w, groups: groups, columns: k, values: values, scales: scales, halfSums: halfSums, rows: n, into: y, ldy: ldy)
            case .q4_0: VNNIKernels.multiply(VNNIQ4_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q4_1: VNNIKernels.multiply(VNNIQ4_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q8_0: VNNIKernels.multiply(VNNIQ8_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q5_0: VNNIKernels.multiply(VNNIQ5_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q5_1: VNNIKernels.multiply(VNNIQ5_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            default: break
            }
            return
        #endif
        #if SWIFTLET_AVX2
        case .avx2?:
            AVX2Kernels.multiply(encoding, w, groups: groups, columns: k, values: values, scales: scales, sums: sums,
                                 halfSums: halfSums, rows: n, into: y, ldy: ldy)
            return
        #endif
        #if SWIFTLET_NEON_DOTPROD
        case .neonDotProduct?, .neonInt8MatMul?:
            switch encoding {
            case .q4_K: NEONKQuant.multiplyQ4K(w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q6_K:
                guard let halfSums else { preconditionFailure("Q6_K tiles need the activations' half sums") }
                NEONKQuant.multiplyQ6K(w, groups: groups, columns: k, values: values, scales: scales, halfSums: halfSums, rows: n, into: y, ldy: ldy)
            case .q4_0: NEONKernels.multiply(NEONQ4_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q4_1: NEONKernels.multiply(NEONQ4_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q8_0: NEONKernels.multiply(NEONQ8_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q5_0: NEONKernels.multiply(NEONQ5_0.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            case .q5_1: NEONKernels.multiply(NEONQ5_1.self, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
            default: break
            }
            return
        #endif
        default:
            break
        }
        if KQuantTiles.tileBytes(encoding) != nil, let halfSums {
            KQuantTiles.multiplyScalar(encoding, w, groups: groups, columns: k, values: values, scales: scales, sums: sums,
                                       halfSums: halfSums, rows: n, into: y, ldy: ldy)
            return
        }
        multiplyScalar(encoding, w, groups: groups, columns: k, values: values, scales: scales, sums: sums, rows: n, into: y, ldy: ldy)
    }

    /// The scalar twin: the formulas above, element by element, with the bit-exact software half
    /// conversion.
    public static func multiplyScalar(_ encoding: WeightEncoding, _ w: UnsafeRawPointer, groups: Range<Int>, columns k: Int,
                                      values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, sums: UnsafePointer<Float>,
                                      rows n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard let tileBytes = InterleavedLayout.tileBytes(encoding) else { return }
        let nb = k / 32
        for i in 0..<n {
            for g in groups {
                for r in 0..<InterleavedLayout.rows {
                    var total: Float = 0
                    for b in 0..<nb {
                        let t = w + (g * nb + b) * tileBytes
                        var isum: Int32 = 0
                        for e in 0..<32 {
                            var q = InterleavedLayout.quant(encoding, tile: t, row: r, index: e)
                            if encoding == .q8_0 { q += 128 }
                            isum += q * Int32(values[i * k + b * 32 + e])
                        }
                        let dw = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 2 * r, as: UInt16.self))
                        let dx = scales[i * nb + b], sx = sums[i * nb + b]
                        switch encoding {
                        case .q4_0: total += dw * (dx * Float(isum) - 8 * sx)
                        case .q8_0: total += dw * (dx * Float(isum) - 128 * sx)
                        case .q5_0: total += dw * (dx * Float(isum) - 16 * sx)
                        default:
                            let mw = floatFromHalfBits(t.loadUnaligned(fromByteOffset: 16 + 2 * r, as: UInt16.self))
                            total += dw * dx * Float(isum) + mw * sx
                        }
                    }
                    y[i * ldy + g * InterleavedLayout.rows + r] = total
                }
            }
        }
    }
}

/// The fast kernel sets for interleaved tiles (`InterleavedKernels.compiledSets`).
public enum InterleavedKernelSet: Sendable, CaseIterable, CustomStringConvertible {
    case avx512VNNI, avx2, neonDotProduct, neonInt8MatMul

    public var description: String {
        switch self {
        case .avx512VNNI: return "AVX-512 VNNI (vpdpbusd)"
        case .avx2: return "AVX2 (vpmaddubsw + vpmaddwd)"
        case .neonDotProduct: return "NEON dot product (sdot)"
        case .neonInt8MatMul: return "NEON int8 matrix multiply (smmla) for batches, dot product (sdot) for decode, on paired tiles"
        }
    }
}
