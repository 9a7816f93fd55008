import LLMBase

// The scale searches of GGUF's reference quantizers (ggml-quants.c: `nearest_int`,
// `make_qkx2_quants`, `make_qx_quants`, `make_q3_quants`), written for Swiftlet's K-quant encoders.
// The aim is the same bytes as llama.cpp's `quantize_row_*_ref` on the same F32 input, so every
// float expression keeps the reference's order of operations: `(w·l)·x` is not `w·(l·x)` in
// floats, and one different rounding can tip a search to another scale and change a whole block.
// Swift does not contract a·b + c into a fused multiply-add (llama.cpp's libggml-base is built
// for baseline x86-64 without FMA), so the two round the same products the same way.
//
// Not implemented: the reference's importance-weighted variants (`quantize_*_impl` with an
// imatrix), which `llama-quantize` uses only when given an importance matrix.

/// ggml's `nearest_int`: round to nearest, ties to even, by adding 1.5·2²³ so the rounded value
/// lands in the low mantissa bits. Exact for |x| < 2²²; kept as the bit trick (not `rounded()`) so
/// out-of-range inputs give the same garbage as the reference instead of trapping.
@inline(__always)
func nearestInt(_ x: Float) -> Int32 {
    let biased = x + 12_582_912
    return Int32(bitPattern: biased.bitPattern & 0x007F_FFFF) - 0x0040_0000
}

/// Values this small count as an all-zero group (ggml's `GROUP_MAX_EPS`).
let groupMaxEpsilon: Float = 1e-15

/// Asymmetric scale and minimum for one group: x ≈ scale·L − min with L in 0...nmax, chosen to
/// minimize the weighted error Σ w·|scale·L − min − x|^p (p = 1 with `useMAD`, else 2).
///
/// Start from the range (min…max, min clipped to ≤ 0, as the format stores −min ≥ 0), then try
/// nstep + 1 candidate inverse scales (nmax + rmin + rdelta·k)/(max − min); for each, round x to L
/// and solve the weighted least-squares scale and minimum for those L in closed form, keeping the
/// candidate with the smallest error. `L` receives the best levels, `scratch` is n bytes of work.
/// Returns the scale and the minimum as the format stores it (−min, ≥ 0). ggml's `make_qkx2_quants`.
func searchScaleMin(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, weights w: UnsafePointer<Float>,
                    _ L: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>,
                    rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool) -> (scale: Float, min: Float) {
    var lo = x[0], hi = x[0]
    var sumW = w[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
        if x[i] < lo { lo = x[i] }
        if x[i] > hi { hi = x[i] }
        sumW += w[i]
        sumX += w[i] * x[i]
    }
    if lo > 0 { lo = 0 }
    if hi == lo {
        for i in 0..<n { L[i] = 0 }
        return (0, -lo)
    }
    let fmax = Float(nmax)
    var iscale = fmax / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        L[i] = UInt8(max(0, min(nmax, nearestInt(iscale * (x[i] - lo)))))
        var diff = scale * Float(L[i]) + lo - x[i]
        diff = useMAD ? abs(diff) : diff * diff
        bestError += w[i] * diff
    }
    if nstep < 1 { return (scale, -lo) }
    for step in 0...nstep {
        iscale = (rmin + rdelta * Float(step) + fmax) / (hi - lo)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
            scratch[i] = UInt8(l)
            let wl = w[i] * Float(l)
            sumL += wl
            sumL2 += wl * Float(l)
            sumXL += wl * x[i]
        }
        // The normal equations of min Σ w·(s·l + m − x)² over s and m.
        let D = sumW * sumL2 - sumL * sumL
        guard D > 0 else { continue }
        var thisScale = (sumW * sumXL - sumX * sumL) / D
        var thisMin = (sumL2 * sumX - sumL * sumXL) / D
        if thisMin > 0 {
            // A positive minimum cannot be stored: refit the scale alone with the minimum at 0.
            thisMin = 0
            thisScale = sumXL / sumL2
        }
        var error: Float = 0
        for i in 0..<n {
            var diff = thisScale * Float(scratch[i]) + thisMin - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            error += w[i] * diff
        }
        if error < bestError {
            L.update(from: scratch, count: n)
            bestError = error
            scale = thisScale
            lo = thisMin
        }
    }
    return (scale, -lo)
}

/// Symmetric scale for one group: x ≈ scale·(L − nmax) with L − nmax in −nmax...nmax − 1, the
/// value of largest magnitude mapped to −nmax. Tries 19 inverse scales −(nmax + 0.1k)/max, k in
/// −9...9, and keeps the one with the best x²-weighted least-squares fit Σw·x·l / Σw·l² (the
/// larger (Σw·x·l)²/Σw·l², i.e. the smaller weighted error). An all-zero group gets L = 0 and
/// scale 0. ggml's `make_qx_quants` with `rmse_type` 1 and no importance weights, the only way
/// the reference Q6_K uses it.
func searchScaleSymmetric(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
    let (peak, amax) = largestMagnitude(x, n)
    if amax < groupMaxEpsilon {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    let fmax = Float(nmax)
    var iscale = -fmax / peak
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
        L[i] = Int8(truncatingIfNeeded: l + nmax)
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    var scale = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for k in -9...9 where k != 0 {
        iscale = -(fmax + 0.1 * Float(k)) / peak
        sumLX = 0
        sumL2 = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l)
            sumL2 += w * Float(l) * Float(l)
        }
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            for i in 0..<n {
                L[i] = Int8(truncatingIfNeeded: nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i]))))
            }
            scale = sumLX / sumL2
            best = scale * sumLX
        }
    }
    return scale
}

/// Symmetric scale for a 3-bit group: the levels rounded from −nmax/max, then up to five passes
/// of coordinate descent that move one level at a time to where it best fits the current
/// x²-weighted least-squares scale, keeping a move only when it raises (Σw·x·l)²/Σw·l². `L`
/// receives levels offset by nmax (0...2·nmax − 1); an all-zero group gets L = 0 and scale 0.
/// ggml's `make_q3_quants` with `do_rmse`, as the reference Q3_K calls it.
func searchScaleQ3(_ n: Int, nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<Int8>) -> Float {
    let (peak, amax) = largestMagnitude(x, n)
    if amax < groupMaxEpsilon {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    let iscale = -Float(nmax) / peak
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
        L[i] = Int8(truncatingIfNeeded: l)
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    for _ in 0..<5 {
        var changed = 0
        for i in 0..<n {
            let w = x[i] * x[i]
            var slx = sumLX - w * x[i] * Float(L[i])
            guard slx > 0 else { continue }
            var sl2 = sumL2 - w * Float(L[i]) * Float(L[i])
            // The level that best fits this weight given the others' fit: x / (slx / sl2).
            let newL = max(-nmax, min(nmax - 1, nearestInt(x[i] * sl2 / slx)))
            guard newL != Int32(L[i]) else { continue }
            slx += w * x[i] * Float(newL)
            sl2 += w * Float(newL) * Float(newL)
            if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                L[i] = Int8(truncatingIfNeeded: newL)
                sumLX = slx
                sumL2 = sl2
                changed += 1
            }
        }
        if changed == 0 { break }
    }
    for i in 0..<n { L[i] = L[i] &+ Int8(truncatingIfNeeded: nmax) }
    return sumL2 > 0 ? sumLX / sumL2 : 0
}

/// The value of largest magnitude among x[0..<n], and that magnitude; the first one on ties, as
/// ggml scans (a strict `>`), which the byte-identical quantizers rely on.
@inline(__always)
func largestMagnitude(_ x: UnsafePointer<Float>, _ n: Int) -> (value: Float, magnitude: Float) {
    var magnitude: Float = 0, value: Float = 0
    for i in 0..<n where abs(x[i]) > magnitude {
        magnitude = abs(x[i])
        value = x[i]
    }
    return (value, magnitude)
}
