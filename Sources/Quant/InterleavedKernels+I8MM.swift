#if SWIFTLET_NEON_I8MM
import _Builtin_intrinsics.arm.neon

// The arm64 kernels' inner products on paired tiles (`InterleavedLayout.pairedRows`: a register
// holds two rows × 8 weights), for CPUs with the int8 matrix multiply (Neoverse V1/V2/N2:
// Graviton 3 and 4). The rest of the NEON kernels (unpacking, scales, FMAs) is shared with the
// `sdot` build in `InterleavedKernels+NEON.swift` and `KQuantTiles+NEON.swift`.
//
// Batches (four activation rows): `smmla` multiplies two activation rows × 8 bytes by two weight
// rows × 8 bytes into a 2 × 2 block of Int32 sums, 32 multiply-adds per instruction against
// `sdot`'s 16. Per 32-weight block and 8 × 4 outputs: 32 `smmla`, 8 `zip` to pair the activation
// rows (shared by the tile's 8 rows) and 8 to put the 2 × 2 blocks back in row order, against 64
// `sdot` on the interleaved layout. The paired layout is what makes it pay: on 4-byte
// interleaved tiles each `smmla` operand would need its own `zip`, and the count would be even.
//
// Decode (one activation row): `sdot` on the same registers with the 8 activation bytes of a
// group broadcast to both halves (`ld1r`), each lane half a row's group; one `addp` per 4 rows
// at the end of a block adds the halves. 16 `sdot` per block as on the interleaved layout.

/// One Int64 lane pattern as 16 signed bytes.
@inline(__always)
private func bytes(_ v: SIMD2<Int64>) -> SIMD16<Int8> { unsafeBitCast(v, to: SIMD16<Int8>.self) }

/// The low 64 bits of a and of b (`zip1 .2d`), and the high ones (`zip2 .2d`).
@inline(__always)
private func firstHalves(_ a: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD4<Int32> {
    unsafeBitCast(vzip1q_s64(unsafeBitCast(a, to: SIMD2<Int64>.self), unsafeBitCast(b, to: SIMD2<Int64>.self)), to: SIMD4<Int32>.self)
}

@inline(__always)
private func secondHalves(_ a: SIMD4<Int32>, _ b: SIMD4<Int32>) -> SIMD4<Int32> {
    unsafeBitCast(vzip2q_s64(unsafeBitCast(a, to: SIMD2<Int64>.self), unsafeBitCast(b, to: SIMD2<Int64>.self)), to: SIMD4<Int32>.self)
}

extension NEONHalf {
    /// sums += Σ quant · activation byte over this half's 16 weights (activation bytes at x):
    /// register 4P + p against bytes 8P..<8P+8 of x in both halves.
    @inline(__always)
    func accumulate(_ sums: inout NEONSums, _ x: UnsafeRawPointer) {
        let g0 = bytes(SIMD2(repeating: x.loadUnaligned(as: Int64.self)))
        let g1 = bytes(SIMD2(repeating: x.loadUnaligned(fromByteOffset: 8, as: Int64.self)))
        sums.p0 = vdotq_s32(sums.p0, c0.lo, g0); sums.p1 = vdotq_s32(sums.p1, c0.hi, g0)
        sums.p2 = vdotq_s32(sums.p2, c1.lo, g0); sums.p3 = vdotq_s32(sums.p3, c1.hi, g0)
        sums.p0 = vdotq_s32(sums.p0, c2.lo, g1); sums.p1 = vdotq_s32(sums.p1, c2.hi, g1)
        sums.p2 = vdotq_s32(sums.p2, c3.lo, g1); sums.p3 = vdotq_s32(sums.p3, c3.hi, g1)
    }

    /// The same for four activation rows (x0…x3): activation rows paired as the weight rows are,
    /// one `smmla` per pair of weight rows, pair of activation rows and group of 8.
    @inline(__always)
    func accumulate4(_ s: inout NEONSums4, _ x0: UnsafeRawPointer, _ x1: UnsafeRawPointer,
                     _ x2: UnsafeRawPointer, _ x3: UnsafeRawPointer) {
        let v0 = x0.loadUnaligned(as: SIMD2<Int64>.self), v1 = x1.loadUnaligned(as: SIMD2<Int64>.self)
        let v2 = x2.loadUnaligned(as: SIMD2<Int64>.self), v3 = x3.loadUnaligned(as: SIMD2<Int64>.self)
        // a<rows>g<group>: activation rows (0, 1) or (2, 3), 8 bytes each, of group 0 or 1.
        let a01g0 = bytes(vzip1q_s64(v0, v1)), a01g1 = bytes(vzip2q_s64(v0, v1))
        let a23g0 = bytes(vzip1q_s64(v2, v3)), a23g1 = bytes(vzip2q_s64(v2, v3))
        s.m00 = vmmlaq_s32(s.m00, a01g0, c0.lo); s.m01 = vmmlaq_s32(s.m01, a23g0, c0.lo)
        s.m10 = vmmlaq_s32(s.m10, a01g0, c0.hi); s.m11 = vmmlaq_s32(s.m11, a23g0, c0.hi)
        s.m20 = vmmlaq_s32(s.m20, a01g0, c1.lo); s.m21 = vmmlaq_s32(s.m21, a23g0, c1.lo)
        s.m30 = vmmlaq_s32(s.m30, a01g0, c1.hi); s.m31 = vmmlaq_s32(s.m31, a23g0, c1.hi)
        s.m00 = vmmlaq_s32(s.m00, a01g1, c2.lo); s.m01 = vmmlaq_s32(s.m01, a23g1, c2.lo)
        s.m10 = vmmlaq_s32(s.m10, a01g1, c2.hi); s.m11 = vmmlaq_s32(s.m11, a23g1, c2.hi)
        s.m20 = vmmlaq_s32(s.m20, a01g1, c3.lo); s.m21 = vmmlaq_s32(s.m21, a23g1, c3.lo)
        s.m30 = vmmlaq_s32(s.m30, a01g1, c3.hi); s.m31 = vmmlaq_s32(s.m31, a23g1, c3.hi)
    }
}

/// Integer sums of the 8 rows of a tile for one activation row, per row pair p: lanes (2p, first
/// 4 weights of each group), (2p, last 4), (2p + 1, first 4), (2p + 1, last 4).
struct NEONSums {
    var p0 = SIMD4<Int32>(), p1 = SIMD4<Int32>(), p2 = SIMD4<Int32>(), p3 = SIMD4<Int32>()

    @inline(__always) init() {}
    var rows: SIMD8<Int32> {
        @inline(__always) get { SIMD8(lowHalf: vpaddq_s32(p0, p1), highHalf: vpaddq_s32(p2, p3)) }
    }
}

/// Integer sums of the 8 rows of a tile for four activation rows, as `smmla` leaves them: m<p><a> is
/// weight rows (2p, 2p + 1) × activation rows (2a, 2a + 1), lanes in row-major 2 × 2 order
/// (activation row, weight row).
struct NEONSums4 {
    var m00 = SIMD4<Int32>(), m10 = SIMD4<Int32>(), m20 = SIMD4<Int32>(), m30 = SIMD4<Int32>()
    var m01 = SIMD4<Int32>(), m11 = SIMD4<Int32>(), m21 = SIMD4<Int32>(), m31 = SIMD4<Int32>()

    @inline(__always) init() {}

    /// The 8 rows' sums for each activation row: the 64-bit halves of the 2 × 2 blocks in order.
    var rows: (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>) {
        @inline(__always) get {
            (SIMD8(lowHalf: firstHalves(m00, m10), highHalf: firstHalves(m20, m30)),
             SIMD8(lowHalf: secondHalves(m00, m10), highHalf: secondHalves(m20, m30)),
             SIMD8(lowHalf: firstHalves(m01, m11), highHalf: firstHalves(m21, m31)),
             SIMD8(lowHalf: secondHalves(m01, m11), highHalf: secondHalves(m21, m31)))
        }
    }
}
#endif
