/// IEEE half-precision conversion from raw bits, written out so it works on every platform
/// (Swift's `Float16` is unavailable on macOS x86_64).
@inlinable
public func floatFromHalfBits(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        // Subnormal half: value = mant × 2^-24.
        let magnitude = Float(mant) * (1.0 / 16_777_216.0)
        return sign != 0 ? -magnitude : magnitude
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Float → half bits, round to nearest even, with overflow to infinity.
@inlinable
public func halfBitsFromFloat(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exp = Int((x >> 23) & 0xFF)
    var mant = x & 0x7F_FFFF
    if exp == 0xFF { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
    var e = exp - 127 + 15
    if e >= 31 { return sign | 0x7C00 }
    if e <= 0 {
        if e < -10 { return sign }
        mant |= 0x80_0000
        let shift = UInt32(14 - e)
        var half = mant >> shift
        let rem = mant & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if rem > halfway || (rem == halfway && (half & 1) != 0) { half += 1 }
        return sign | UInt16(half)
    }
    var half = mant >> 13
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0) {
        half += 1
        if half == 0x400 { half = 0; e += 1; if e >= 31 { return sign | 0x7C00 } }
    }
    return sign | UInt16(e << 10) | UInt16(half)
}

/// Half bits → Float in one instruction where the platform has a native half type (F16C's
/// `vcvtph2ps` on x86_64 with the host ISA, `fcvt` on arm64); the portable bit path elsewhere.
@inlinable @inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    #if (os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64)
    return floatFromHalfBits(bits)
    #else
    return Float(Float16(bitPattern: bits))
    #endif
}
