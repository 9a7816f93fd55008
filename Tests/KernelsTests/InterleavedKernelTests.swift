import Kernels
import LLMBase
import Quant
import Testing

/// The interleaved layout and its kernels: the repack keeps every weight (dequantizing a row from
/// the interleaved copy gives the file's row exactly), the scalar twin equals the block-by-block
/// scalar dot product on the file's layout, and the fast kernels (VNNI where built) equal the
/// scalar twin within the same named budget as the other dot kernels (`DotKernelTests.budget`):
/// the integer sums are exact in both, only F32 summation order differs.
@Suite struct InterleavedKernelTests {
    typealias Format = DotKernelTests.GGMLTypeName

    static func encoding(_ f: Format) -> WeightEncoding { f == .q8_0 ? .q8_0 : (f == .q4_0 ? .q4_0 : .q4_1) }

    @Test func tileSizesAreEightBlocks() {
        for e in [WeightEncoding.q8_0, .q4_0, .q4_1] { #expect(InterleavedLayout.tileBytes(e) == 8 * e.blockBytes) }
        #expect(InterleavedLayout.tileBytes(.f32) == nil)
        #expect(!InterleavedLayout.supports(.q4_0, rows: 12, columns: 64))
        #expect(InterleavedLayout.supports(.q4_0, rows: 16, columns: 64))
    }

    @Test(arguments: Format.allCases)
    func repackKeepsEveryWeight(_ format: Format) {
        let rows = 24, blocks = 5
        let c = DotKernelTests.makeCase(format, rows: rows, blocks: blocks, seed: 7)
        let e = Self.encoding(format)
        var packed = [UInt8](repeating: 0, count: InterleavedLayout.byteCount(e, rows: rows, columns: blocks * 32))
        #expect(packed.count == c.weights.count)
        c.weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { dst in
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: c.rowBytes, groups: 0..<(rows / 8), columns: blocks * 32, into: dst.baseAddress!)
            }
            for r in 0..<rows {
                var expected = [Float](repeating: 0, count: blocks * 32), got = expected
                dequantize(e, src.baseAddress! + r * c.rowBytes, into: &expected, count: blocks * 32)
                packed.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: blocks * 32, into: &got) }
                #expect(got == expected, "\(format) row \(r)")
            }
        }
    }

    /// Σ over blocks of |dw·dx|·Σ(|q| + 128)·|x| + |mw·sx|: bounds every intermediate of either
    /// kernel (the Q8_0 kernel sums weights offset by 128), hence their F32 rounding.
    static func termBound(_ e: WeightEncoding, _ w: UnsafeRawPointer, _ x: ActivationRow, _ blocks: Int) -> Float {
        var total: Float = 0
        for b in 0..<blocks {
            let block = w + b * e.blockBytes
            var s: Float = 0
            for i in 0..<32 { s += 255 * abs(Float(x.values[b * 32 + i])) }
            total += abs(halfToFloat(block.loadUnaligned(as: UInt16.self)) * x.scales[b]) * s
            if e == .q4_1 { total += abs(halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * x.sums[b]) }
        }
        return max(total, 1e-6)
    }

    /// `rows` activation rows against 24 weight rows (3 groups: a pair of groups in 512-bit vectors
    /// and one alone) of `blocks` blocks.
    @Test(arguments: Format.allCases, [1, 2, 4, 7, 9, 13, 16])
    func kernelsMatchScalarTwins(_ format: Format, rows n: Int) {
        let m = 24, blocks = 18, k = blocks * 32
        let e = Self.encoding(format)
        let weights = DotKernelTests.makeCase(format, rows: m, blocks: blocks, seed: UInt64(n))
        // n activation rows, each quantized as the matmul does.
        var values: [Int8] = [], scales: [Float] = [], sums: [Float] = []
        for i in 0..<n {
            let row = DotKernelTests.makeCase(format, rows: 1, blocks: blocks, seed: UInt64(100 + i))
            values += row.values; scales += row.scales; sums += row.sums
        }
        var packed = [UInt8](repeating: 0, count: weights.weights.count)
        weights.weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { dst in
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: weights.rowBytes, groups: 0..<3, columns: k, into: dst.baseAddress!)
            }
        }
        var twin = [Float](repeating: .nan, count: n * m), fasts: [(set: String, y: [Float])] = []
        packed.withUnsafeBytes { w in
            fasts = InterleavedKernelBuild.eachSet(count: n * m) { set, fast in
                InterleavedKernels.multiply(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums,
                                            rows: n, into: fast, ldy: m, kernels: set)
            }
            InterleavedKernels.multiplyScalar(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums,
                                              rows: n, into: &twin, ldy: m)
        }
        let budget = DotKernelTests.budget[format]!
        weights.weights.withUnsafeBytes { src in
            values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { u in
                for i in 0..<n {
                    let x = ActivationRow(values: v.baseAddress! + i * k, scales: s.baseAddress! + i * blocks, sums: u.baseAddress! + i * blocks)
                    for r in 0..<m {
                        let w = src.baseAddress! + r * weights.rowBytes
                        let plain = DotKernelTests().scalar(format, w, x, blocks)
                        let magnitude = Self.termBound(e, w, x, blocks)
                        #expect(abs(twin[i * m + r] - plain) <= budget * magnitude, "\(format) twin [\(i), \(r)]: \(twin[i * m + r]) vs \(plain)")
                        for (set, fast) in fasts {
                            #expect(abs(fast[i * m + r] - twin[i * m + r]) <= budget * magnitude, "\(format) \(set) [\(i), \(r)]: \(fast[i * m + r]) vs \(twin[i * m + r])")
                        }
                    }
                }
            } } }
        }
    }
}

/// The five-bit formats, which have no quantizer here: random blocks (seeded bytes with a small
/// half scale and minimum) repacked, dequantized back, and multiplied by the fast kernels, their
/// scalar twin and the format's own scalar dot on the file layout.
@Suite struct FiveBitInterleavedTests {
    static func randomBlocks(_ e: WeightEncoding, count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMixForTests(seed)
        var bytes = (0..<(count * e.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<count {
            let d = halfBitsFromFloat(rng.float(0.001, 0.05)), m = halfBitsFromFloat(rng.float(-0.5, 0.5))
            bytes.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: d, toByteOffset: b * e.blockBytes, as: UInt16.self)
                if e == .q5_1 { raw.storeBytes(of: m, toByteOffset: b * e.blockBytes + 2, as: UInt16.self) }
            }
        }
        return bytes
    }

    @Test(arguments: [WeightEncoding.q5_0, .q5_1], [1, 3, 8, 13])
    func repackAndKernels(_ e: WeightEncoding, rows n: Int) throws {
        let m = 24, blocks = 18, k = blocks * 32, rowBytes = e.rowBytes(columns: k)
        #expect(InterleavedLayout.tileBytes(e) == 8 * e.blockBytes)
        let weights = Self.randomBlocks(e, count: m * blocks, seed: UInt64(n) * 7 + 1)
        var packed = [UInt8](repeating: 0, count: InterleavedLayout.byteCount(e, rows: m, columns: k))
        #expect(packed.count == weights.count)
        weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { InterleavedLayout.repack(e, src.baseAddress!, rowBytes: rowBytes, groups: 0..<3, columns: k, into: $0.baseAddress!) }
        }
        var rng = SplitMixForTests(UInt64(n) + 99)
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        var values = [Int8](repeating: 0, count: n * k), scales = [Float](repeating: 0, count: n * blocks), sums = scales
        quantizeActivations(x, blocks: n * blocks, values: &values, scales: &scales, sums: &sums)
        var twin = [Float](repeating: .nan, count: n * m), fasts: [(set: String, y: [Float])] = []
        packed.withUnsafeBytes { w in
            fasts = InterleavedKernelBuild.eachSet(count: n * m) { set, fast in
                InterleavedKernels.multiply(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums,
                                            rows: n, into: fast, ldy: m, kernels: set)
            }
            InterleavedKernels.multiplyScalar(e, w.baseAddress!, groups: 0..<3, columns: k, values: values, scales: scales, sums: sums, rows: n, into: &twin, ldy: m)
        }
        let format = try #require(e.dotFormat)
        weights.withUnsafeBytes { src in
            for r in 0..<m {
                var expected = [Float](repeating: 0, count: k), got = expected
                dequantize(e, src.baseAddress! + r * rowBytes, into: &expected, count: k)
                packed.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: k, into: &got) }
                #expect(got == expected, "\(e) row \(r) dequantized from tiles")
            }
            values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { u in
                for i in 0..<n {
                    let act = ActivationRow(values: v.baseAddress! + i * k, scales: s.baseAddress! + i * blocks, sums: u.baseAddress! + i * blocks)
                    for r in 0..<m {
                        let plain = Dot.dotScalar(format, src.baseAddress! + r * rowBytes, act, blocks: blocks)
                        // Bounds every intermediate: |dw·dx|·32·Σ|x| + |mw·sx| per block.
                        var magnitude: Float = 1e-6
                        for b in 0..<blocks {
                            let block = src.baseAddress! + (r * blocks + b) * e.blockBytes
                            var sx: Float = 0
                            for j in 0..<32 { sx += abs(Float(act.values[b * 32 + j])) }
                            magnitude += abs(halfToFloat(block.loadUnaligned(as: UInt16.self)) * act.scales[b]) * 32 * sx
                            if e == .q5_1 { magnitude += abs(halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * act.sums[b]) }
                        }
                        let bound = 1e-5 * magnitude
                        #expect(abs(twin[i * m + r] - plain) <= bound, "\(e) twin [\(i), \(r)]: \(twin[i * m + r]) vs \(plain)")
                        for (set, fast) in fasts {
                            #expect(abs(fast[i * m + r] - twin[i * m + r]) <= bound, "\(e) \(set) [\(i), \(r)]: \(fast[i * m + r]) vs \(twin[i * m + r])")
                        }
                    }
                }
            } } }
        }
    }
}

/// K-quant tiles (`KQuantTiles`): random super-blocks (seeded bytes, small half scales) repacked,
/// dequantized back exactly, and multiplied with activations scaled per 256 by the fast kernels,
/// their scalar twin and the format's own scalar dot on the file layout.
@Suite struct KQuantInterleavedTests {
    static func randomBlocks(_ e: WeightEncoding, count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMixForTests(seed)
        var bytes = (0..<(count * e.blockBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<count {
            let d = halfBitsFromFloat(rng.float(0.0005, 0.01)), dmin = halfBitsFromFloat(rng.float(0.0005, 0.01))
            bytes.withUnsafeMutableBytes { raw in
                if e == .q4_K {
                    raw.storeBytes(of: d, toByteOffset: b * e.blockBytes, as: UInt16.self)
                    raw.storeBytes(of: dmin, toByteOffset: b * e.blockBytes + 2, as: UInt16.self)
                } else {
                    raw.storeBytes(of: d, toByteOffset: b * e.blockBytes + 208, as: UInt16.self)
                }
            }
        }
        return bytes
    }

    @Test(arguments: [WeightEncoding.q4_K, .q6_K], [1, 3, 4, 9])
    func repackAndKernels(_ e: WeightEncoding, rows n: Int) throws {
        let m = 16, blocks = 3, k = blocks * 256, rowBytes = e.rowBytes(columns: k), n32 = k / 32
        #expect(InterleavedLayout.supports(e, rows: m, columns: k))
        let weights = Self.randomBlocks(e, count: m * blocks, seed: UInt64(n) * 13 + 5)
        var packed = [UInt8](repeating: 0, count: InterleavedLayout.byteCount(e, rows: m, columns: k))
        weights.withUnsafeBytes { src in
            packed.withUnsafeMutableBytes { InterleavedLayout.repack(e, src.baseAddress!, rowBytes: rowBytes, groups: 0..<2, columns: k, into: $0.baseAddress!) }
        }
        var rng = SplitMixForTests(UInt64(n) + 41)
        let x = (0..<(n * k)).map { _ in rng.float(-3, 3) }
        var values = [Int8](repeating: 0, count: n * k), scales = [Float](repeating: 0, count: n * n32), sums = scales
        var halfSums = [Float](repeating: 0, count: 2 * n * n32)
        for i in 0..<n {
            x.withUnsafeBufferPointer { xs in
                quantizeActivationsK(xs.baseAddress! + i * k, superBlocks: blocks, values: &values[i * k], scales: &scales[i * n32],
                                     sums: &sums[i * n32], halfSums: &halfSums[2 * i * n32])
            }
        }
        var twin = [Float](repeating: .nan, count: n * m), fasts: [(set: String, y: [Float])] = []
        packed.withUnsafeBytes { w in
            fasts = InterleavedKernelBuild.eachSet(count: n * m) { set, fast in
                InterleavedKernels.multiply(e, w.baseAddress!, groups: 0..<2, columns: k, values: values, scales: scales, sums: sums,
                                            halfSums: halfSums, rows: n, into: fast, ldy: m, kernels: set)
            }
            KQuantTiles.multiplyScalar(e, w.baseAddress!, groups: 0..<2, columns: k, values: values, scales: scales, sums: sums,
                                       halfSums: halfSums, rows: n, into: &twin, ldy: m)
        }
        let format = try #require(e.dotFormat)
        weights.withUnsafeBytes { src in
            for r in 0..<m {
                var expected = [Float](repeating: 0, count: k), got = expected
                dequantize(e, src.baseAddress! + r * rowBytes, into: &expected, count: k)
                packed.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: k, into: &got) }
                #expect(got == expected, "\(e) row \(r) dequantized from tiles")
            }
            values.withUnsafeBufferPointer { v in scales.withUnsafeBufferPointer { s in sums.withUnsafeBufferPointer { u in
                for i in 0..<n {
                    let act = ActivationRow(values: v.baseAddress! + i * k, scales: s.baseAddress! + i * n32, sums: u.baseAddress! + i * n32)
                    for r in 0..<m {
                        let plain = Dot.dotScalar(format, src.baseAddress! + r * rowBytes, act, blocks: blocks)
                        // Bounds every intermediate: Σ |dequantized weight|·|dx|·(|x| + 64).
                        var row = [Float](repeating: 0, count: k)
                        dequantize(e, src.baseAddress! + r * rowBytes, into: &row, count: k)
                        var magnitude: Float = 1e-6
                        for j in 0..<k { magnitude += (abs(row[j]) + 0.1) * abs(act.scales[j / 32]) * (abs(Float(act.values[j])) + 64) }
                        let bound = 1e-5 * magnitude
                        #expect(abs(twin[i * m + r] - plain) <= bound, "\(e) twin [\(i), \(r)]: \(twin[i * m + r]) vs \(plain)")
                        for (set, fast) in fasts {
                            #expect(abs(fast[i * m + r] - twin[i * m + r]) <= bound, "\(e) \(set) [\(i), \(r)]: \(fast[i * m + r]) vs \(twin[i * m + r])")
                        }
                    }
                }
            } } }
        }
    }
}

/// Every kernel set this build compiled is held to the scalar twin (an AVX-512 host compiles the
/// AVX2 set too). On a build without any (portable, or x86_64 without AVX2), `multiply` is the
/// scalar twin itself, so the fast-against-twin checks compare the twin with itself there: said
/// once per run, so that a green run on such a build is not read as a check of fast kernels.
enum InterleavedKernelBuild {
    static let note: Void = {
        if InterleavedKernels.compiledSets.isEmpty {
            print("note: this build has no AVX2, VNNI or NEON dot-product kernels; InterleavedKernels.multiply is the scalar twin, "
                  + "so the interleaved fast-against-twin checks compare the twin with itself here")
        } else {
            print("note: interleaved kernels checked against their scalar twins: "
                  + InterleavedKernels.compiledSets.map(String.init(describing:)).joined(separator: "; "))
        }
    }()

    /// `multiply(set, output)` run for each compiled set (or once with nil, the twin, when there
    /// is none) into a NaN-filled output of the twin's size; the outputs, named.
    static func eachSet(count: Int, _ multiply: (InterleavedKernelSet?, UnsafeMutablePointer<Float>) -> Void) -> [(set: String, y: [Float])] {
        _ = note
        let sets: [InterleavedKernelSet?] = InterleavedKernels.compiledSets.isEmpty ? [nil] : InterleavedKernels.compiledSets
        return sets.map { set in
            var y = [Float](repeating: .nan, count: count)
            y.withUnsafeMutableBufferPointer { multiply(set, $0.baseAddress!) }
            return (set.map(String.init(describing:)) ?? "scalar twin", y)
        }
    }
}

/// Both tile layouts on every build: the interleaved one (`sdot`, VNNI) and the paired one
/// (`smmla`), whichever this build's kernels use. Each keeps every weight of the file (read back
/// through `quant`, which the scalar twins use), the two put the same bytes in different places,
/// and `pairedRows` is the layout the kernels above were checked on.
@Suite struct TileLayoutTests {
    static func randomBlocks(_ e: WeightEncoding, count: Int, seed: UInt64) -> [UInt8] {
        switch e {
        case .q4_K, .q6_K: return KQuantInterleavedTests.randomBlocks(e, count: count, seed: seed)
        case .q4_1:
            // Random bytes with a finite minimum (the Q5_1 helper sets only Q5_1's).
            var bytes = FiveBitInterleavedTests.randomBlocks(e, count: count, seed: seed)
            for b in 0..<count {
                bytes.withUnsafeMutableBytes { $0.storeBytes(of: halfBitsFromFloat(0.25), toByteOffset: b * e.blockBytes + 2, as: UInt16.self) }
            }
            return bytes
        default: return FiveBitInterleavedTests.randomBlocks(e, count: count, seed: seed)
        }
    }

    @Test(arguments: [WeightEncoding.q4_0, .q4_1, .q8_0, .q5_0, .q5_1, .q4_K, .q6_K])
    func bothLayoutsKeepEveryWeight(_ e: WeightEncoding) {
        let m = 16, k = 512, rowBytes = e.rowBytes(columns: k)
        let weights = Self.randomBlocks(e, count: m * k / e.blockSize, seed: 2026)
        let count = InterleavedLayout.byteCount(e, rows: m, columns: k)
        // Filled with a pattern first: the repack must not depend on zeroed memory.
        var interleaved = [UInt8](repeating: 0xA5, count: count), paired = interleaved
        weights.withUnsafeBytes { src in
            interleaved.withUnsafeMutableBytes {
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: rowBytes, groups: 0..<2, columns: k, into: $0.baseAddress!, paired: false)
            }
            paired.withUnsafeMutableBytes {
                InterleavedLayout.repack(e, src.baseAddress!, rowBytes: rowBytes, groups: 0..<2, columns: k, into: $0.baseAddress!, paired: true)
            }
            for r in 0..<m {
                var expected = [Float](repeating: 0, count: k), fromInterleaved = expected, fromPaired = expected
                dequantize(e, src.baseAddress! + r * rowBytes, into: &expected, count: k)
                interleaved.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: k, into: &fromInterleaved, paired: false) }
                paired.withUnsafeBytes { InterleavedLayout.dequantizeRow(e, $0.baseAddress!, row: r, columns: k, into: &fromPaired, paired: true) }
                #expect(fromInterleaved == expected, "\(e) row \(r), interleaved")
                #expect(fromPaired == expected, "\(e) row \(r), paired")
            }
        }
        #expect(interleaved != paired, "\(e): the paired layout moves the operand bytes")
        if ![WeightEncoding.q5_0, .q5_1, .q6_K].contains(e) {   // these also move bits within bytes
            #expect(interleaved.sorted() == paired.sorted(), "\(e): the same bytes, in another order")
        }
    }

    /// The paired layout's registers: row r's byte k at 64·(k/8) + 16·(r/2) + 8·(r%2) + k%8 — a
    /// 16-byte register is two rows × 8 bytes, `smmla`'s operand — and every offset used once.
    @Test func pairedOffsetsAreRowPairsOfEightBytes() {
        var seen = Set<Int>()
        for r in 0..<8 {
            for k in 0..<32 {
                let o = InterleavedLayout.operandOffset(row: r, byte: k, paired: true)
                #expect(o / 16 == 4 * (k / 8) + r / 2 && (o % 16) / 8 == r % 2 && o % 8 == k % 8)
                seen.insert(o)
            }
        }
        #expect(seen == Set(0..<256))
        var bits = Set<Int>(), tops = Set<Int>()
        for r in 0..<8 {
            for i in 0..<32 {
                let (offset, bit) = InterleavedLayout.fifthBit(row: r, weight: i, paired: true)
                bits.insert(8 * offset + bit)
                let (byte, shift) = KQuantTiles.topBits(row: r, weight: i, paired: true)
                #expect(shift % 2 == 0 && shift < 8)
                tops.insert(4 * byte + shift / 2)
            }
        }
        #expect(bits == Set(0..<256), "Q5 fifth bits: 256 distinct bits in 32 bytes")
        #expect(tops == Set(0..<256), "Q6_K top bits: 256 distinct pairs in 64 bytes")
        print("this build's kernels use the \(InterleavedLayout.pairedRows ? "paired" : "interleaved") tile layout")
    }
}
