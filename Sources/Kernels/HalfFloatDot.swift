#if SWIFTLET_AVX512_VNNI
import _Builtin_intrinsics.intel
#elseif arch(arm64)
import _Builtin_intrinsics.arm.neon
#endif
import LLMBase
import Quant

/// Dot products of F16 and BF16 weight rows with F32 activation rows: the weights stay in their
/// 2-byte encoding (half the bytes of F32 to stream in decode) and are widened 16 at a time —
/// `vcvtph2ps` for F16, a zero-extend and a 16-bit shift for BF16 on a VNNI build, `fcvtl` and
/// `ushll` on arm64, the portable conversions elsewhere. Each has a scalar twin with the same signature.
public enum HalfFloatDot {
    @inlinable
    public static func f16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        let h = w.assumingMemoryBound(to: Half.self)
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            a0.addProduct(Half.load16(h + i), UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
            a1.addProduct(Half.load16(h + i + 16), UnsafeRawPointer(x + i + 16).loadUnaligned(as: SIMD16<Float>.self))
            i += 32
        }
        var tail: Float = 0
        while i < n { tail += halfToFloat(h[i].bits) * x[i]; i += 1 }
        return (a0 + a1).sum() + tail
    }

    /// 16 BF16 values at p, widened.
    @inlinable @inline(__always)
    static func loadBF16(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        #if SWIFTLET_AVX512_VNNI
        let wide = _mm512_cvtepu16_epi32(p.loadUnaligned(as: SIMD4<Int64>.self))
        return unsafeBitCast(unsafeBitCast(wide, to: SIMD16<UInt32>.self) &<< 16, to: SIMD16<Float>.self)
        #elseif arch(arm64)
        // `ushll`/`ushll2` by 16: each BF16 is the top half of its F32.
        let a = p.loadUnaligned(as: SIMD8<UInt16>.self), b = p.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt16>.self)
        let wide = SIMD16<UInt32>(lowHalf: SIMD8(lowHalf: vmovl_u16(a.lowHalf), highHalf: vmovl_high_u16(a)),
                                  highHalf: SIMD8(lowHalf: vmovl_u16(b.lowHalf), highHalf: vmovl_high_u16(b)))
        return unsafeBitCast(wide &<< 16, to: SIMD16<Float>.self)
        #else
        var v = SIMD16<Float>()
        for j in 0..<16 { v[j] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * j, as: UInt16.self)) << 16) }
        return v
        #endif
    }

    @inlinable
    public static func bf16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= n {
            a0.addProduct(loadBF16(w + 2 * i), UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
            a1.addProduct(loadBF16(w + 2 * i + 32), UnsafeRawPointer(x + i + 16).loadUnaligned(as: SIMD16<Float>.self))
            i += 32
        }
        var tail: Float = 0
        while i < n { tail += Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) * x[i]; i += 1 }
        return (a0 + a1).sum() + tail
    }

    /// Scalar twin of `f16` and `bf16`: element by element, software conversion.
    public static func reference(_ e: WeightEncoding, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, count n: Int) -> Float {
        var total: Float = 0
        for i in 0..<n {
            let bits = w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            total += (e == .f16 ? floatFromHalfBits(bits) : Float(bitPattern: UInt32(bits) << 16)) * x[i]
        }
        return total
    }
}
