#if SWIFTLET_AVX512_VNNI
import _Builtin_intrinsics.intel
#elseif arch(arm64)
import _Builtin_intrinsics.arm.neon
#endif
import LLMBase

/// An element type of the KV cache as the attention kernels read it: sixteen at a time widened
/// to Float, or one at a time in the scalar twins. Stored once per token, rounded to nearest even.
public protocol KVCacheElement {
    static func rounding(_ x: Float) -> Self
    static func widen(_ x: Self) -> Float
    static func load16(_ p: UnsafePointer<Self>) -> SIMD16<Float>
}

extension Float: KVCacheElement {
    @inlinable @inline(__always) public static func rounding(_ x: Float) -> Float { x }
    @inlinable @inline(__always) public static func widen(_ x: Float) -> Float { x }
    @inlinable @inline(__always)
    public static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
}

/// IEEE half-precision bits. Widening is one instruction where the platform has a native half type
/// (`vcvtph2ps` on x86_64 built for the host, `fcvtl` on arm64); the portable bit path elsewhere.
public struct Half: KVCacheElement, Equatable, Sendable {
    public var bits: UInt16
    @inlinable public init(bits: UInt16) { self.bits = bits }

    @inlinable @inline(__always)
    public static func rounding(_ x: Float) -> Half {
        #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
        return Half(bits: halfBitsFromFloat(x))
        #else
        return Half(bits: Float16(x).bitPattern)
        #endif
    }
    @inlinable @inline(__always)
    public static func widen(_ x: Half) -> Float { halfToFloat(x.bits) }
    @inlinable @inline(__always)
    public static func load16(_ p: UnsafePointer<Half>) -> SIMD16<Float> {
        #if SWIFTLET_AVX512_VNNI
        // The standard library's SIMD16<Float16> → SIMD16<Float> conversion is an out-of-line call
        // (and spills every live zmm register around it); the intrinsic is one `vcvtph2ps`.
        return _mm512_cvtph_ps(UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Int64>.self))
        #elseif arch(arm64)
        // Four `fcvtl` (every arm64 CPU has the half conversion), rather than the standard
        // library's generic conversion.
        let r = UnsafeRawPointer(p)
        return SIMD16(lowHalf: SIMD8(lowHalf: vcvt_f32_f16(r.loadUnaligned(as: SIMD4<Float16>.self)),
                                     highHalf: vcvt_f32_f16(r.loadUnaligned(fromByteOffset: 8, as: SIMD4<Float16>.self))),
                      highHalf: SIMD8(lowHalf: vcvt_f32_f16(r.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float16>.self)),
                                      highHalf: vcvt_f32_f16(r.loadUnaligned(fromByteOffset: 24, as: SIMD4<Float16>.self))))
        #elseif (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
        var v = SIMD16<Float>()
        for i in 0..<16 { v[i] = floatFromHalfBits(p[i].bits) }
        return v
        #else
        return SIMD16<Float>(UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float16>.self))
        #endif
    }
}
