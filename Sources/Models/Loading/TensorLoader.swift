#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GGUF
import Kernels
import LLMBase
import Quant

/// Hands an architecture its tensors by name, checking presence, type and shape, and keeps track of
/// which tensors were claimed: `finish()` refuses a file with a tensor no one asked for.
///
/// Where a tensor's bytes end up:
/// - quantized matrices with dot kernels stay in the file's memory map (no copy);
/// - on `interleave` (the `auto` backend on a build with interleaved kernels: VNNI, AVX2 or NEON), a matrix whose format has an interleaved
///   layout and whose rows are a multiple of 8 is copied, re-laid-out, into `storage`
///   (`InterleavedLayout`, the same bytes as in the file), and its file pages are released
///   (`madvise`), so resident memory stays at one copy of the weights;
/// - F32, F16 and BF16 matrices stay in the mapping too (the 2-byte ones widened as they are
///   multiplied);
/// - vectors that are not F32, and Q2_K / Q3_K matrices (no kernels), are converted to F32 into
///   `storage`; with `dequantizeAll` (the `reference` backend) every tensor is.
///
/// Both arenas are sized up front from every tensor of the file (each must be claimed exactly
/// once, so nothing is over-counted), then filled as tensors are claimed.
public final class TensorLoader {
    public let gguf: GGUFFile
    public let architecture: String
    private let dequantizeAll: Bool
    private let interleave: Bool
    private let storage: WeightStorage
    private var floatOffset = 0
    private var interleavedOffset = 0
    private var claimed: Set<String> = []
    /// Every matrix claimed, in order, by tensor name (a model's `matrices`, for `inspect`).
    public private(set) var matrices: [(name: String, matrix: WeightMatrix)] = []

    /// A loader for `backend`: `reference` dequantizes every tensor; `auto` on a build with interleaved kernels
    /// interleaves the matrices that have tiles.
    public convenience init(gguf: GGUFFile, architecture: String, backend: MatmulBackend) {
        self.init(gguf: gguf, architecture: architecture, dequantizeAll: backend == .reference,
                  interleave: backend == .auto && InterleavedKernels.vectorized)
    }

    public init(gguf: GGUFFile, architecture: String, dequantizeAll: Bool, interleave: Bool) {
        self.gguf = gguf
        self.architecture = architecture
        self.dequantizeAll = dequantizeAll
        self.interleave = interleave
        var floats = 0, interleaved = 0
        for t in gguf.tensors {
            guard let e = t.weightEncoding else { continue }
            floats += (t.elementCount + 15) & ~15
            if t.dimensions.count == 2 { interleaved += (Self.interleavedBytes(e, t) + 63) & ~63 }
        }
        storage = WeightStorage(gguf: gguf, floats: dequantizeAll ? floats : Self.convertedFloats(gguf),
                                interleavedBytes: interleave && !dequantizeAll ? interleaved : 0)
    }

    /// Floats needed for the tensors that are converted whatever the backend: every tensor that
    /// is not a matrix with dot kernels (vectors are counted too: a norm stored as F16 is converted).
    private static func convertedFloats(_ gguf: GGUFFile) -> Int {
        gguf.tensors.reduce(0) { total, t in
            guard let e = t.weightEncoding else { return total }
            // Vectors are always F32 (a norm stored as F16 is converted); matrices when not kept.
            let kept = t.dimensions.count >= 2 ? e.keptInEncoding && !(e.isHalfFloat && t.dimensions[0] % 16 != 0) : e == .f32
            return kept ? total : total + ((t.elementCount + 15) & ~15)
        }
    }

    private static func interleavedBytes(_ e: WeightEncoding, _ t: GGUFTensorInfo) -> Int {
        InterleavedLayout.supports(e, rows: t.dimensions[1], columns: t.dimensions[0])
            ? InterleavedLayout.byteCount(e, rows: t.dimensions[1], columns: t.dimensions[0]) : 0
    }

    /// The storage every claimed pointer points into; the model keeps it alive.
    public var weights: WeightStorage { storage }

    public func has(_ name: String) -> Bool { gguf.tensor(named: name) != nil }

    /// A [rows × columns] matrix (GGUF shape [columns, rows]).
    public func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        let m = try load(name, rows: rows, columns: columns)
        matrices.append((name, m))
        return m
    }

    private func load(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        let (t, e) = try claim(name, shape: [columns, rows])
        let src = gguf.data(for: t).baseAddress!
        // (F16 / BF16 batches run on 16-wide F32 panels: other widths are converted.)
        if dequantizeAll || !e.keptInEncoding || (e.isHalfFloat && columns % 16 != 0) {
            return WeightMatrix(format: .f32, data: UnsafeRawPointer(convert(t, e)), rows: rows, columns: columns)
        }
        if e == .f32 || e.isHalfFloat {
            // Plain floats stay in the mapping; F16 / BF16 are widened as they are multiplied.
            return WeightMatrix(format: e, data: src, rows: rows, columns: columns)
        }
        guard columns % 32 == 0 else {
            // The 8-bit activations come in blocks of 32.
            throw ModelError.unexpectedTensor(name, reason: "has \(columns) columns, not a multiple of 32, in \(e)", offset: t.infoOffset)
        }
        if interleave && InterleavedLayout.supports(e, rows: rows, columns: columns) {
            let copy = storage.interleavedArena.pointer + interleavedOffset
            interleavedOffset += (InterleavedLayout.byteCount(e, rows: rows, columns: columns) + 63) & ~63
            // A few MiB of rows at a time, releasing their file pages as soon as they are copied:
            // a large matrix (Gemma's 178 MB embedding) is never resident twice.
            let groups = rows / InterleavedLayout.rows, groupBytes = InterleavedLayout.rows * e.rowBytes(columns: columns)
            let step = max(1, (4 << 20) / groupBytes)
            for first in stride(from: 0, to: groups, by: step) {
                let end = min(groups, first + step)
                InterleavedLayout.repack(e, src, rowBytes: e.rowBytes(columns: columns), groups: first..<end, columns: columns, into: copy)
                Self.releasePages(UnsafeRawBufferPointer(start: src + first * groupBytes, count: (end - first) * groupBytes))
            }
            Self.releasePages(gguf.data(for: t))
            return WeightMatrix(format: e, data: src, rows: rows, columns: columns, interleaved: UnsafeRawPointer(copy))
        }
        return WeightMatrix(format: e, data: src, rows: rows, columns: columns)
    }

    /// A vector of `count` floats (norm weights, biases, frequency factors), in F32.
    public func vector(_ name: String, count: Int) throws -> UnsafePointer<Float> {
        let (t, e) = try claim(name, shape: [count])
        if e == .f32 && !dequantizeAll { return gguf.data(for: t).baseAddress!.assumingMemoryBound(to: Float.self) }
        return UnsafePointer(convert(t, e))
    }

    public func optionalVector(_ name: String, count: Int) throws -> UnsafePointer<Float>? {
        has(name) ? try vector(name, count: count) : nil
    }

    /// Throws when the file holds a tensor that was not claimed, or that belongs to a layer
    /// beyond the declared count (`layerCount`).
    public func finish(layerCount: Int) throws -> WeightStorage {
        if let extra = gguf.tensors.first(where: { Self.layerIndex(of: $0.name).map { $0 >= layerCount } ?? false }) {
            throw ModelError.unexpectedTensor(extra.name, reason: "belongs to a layer beyond \(architecture).block_count = \(layerCount)",
                                              offset: extra.infoOffset)
        }
        if let unclaimed = gguf.tensors.first(where: { !claimed.contains($0.name) }) {
            throw ModelError.unclaimedTensor(unclaimed.name, architecture: architecture, offset: unclaimed.infoOffset)
        }
        return storage
    }

    private func claim(_ name: String, shape: [Int]) throws -> (GGUFTensorInfo, WeightEncoding) {
        guard let t = gguf.tensor(named: name) else { throw ModelError.missingTensor(name) }
        guard t.dimensions == shape else {
            throw ModelError.shapeMismatch(tensor: name, expected: shape, found: t.dimensions, offset: t.infoOffset)
        }
        guard let e = t.weightEncoding else {
            throw ModelError.unsupportedTensorType(tensor: t.name, type: t.type, offset: t.infoOffset)
        }
        guard claimed.insert(name).inserted else {
            throw ModelError.unexpectedTensor(name, reason: "was claimed twice", offset: t.infoOffset)
        }
        return (t, e)
    }

    /// Dequantizes the tensor into the next 64-byte aligned slot of the float arena.
    private func convert(_ t: GGUFTensorInfo, _ e: WeightEncoding) -> UnsafeMutablePointer<Float> {
        let out = storage.floatArena.pointer + floatOffset
        floatOffset += (t.elementCount + 15) & ~15
        precondition(floatOffset <= storage.floatArena.count, "float arena sized too small")
        dequantize(e, gguf.data(for: t).baseAddress!, into: out, count: t.elementCount)
        return out
    }

    /// Drops the whole pages of `bytes` (a read-only file mapping) from this process's resident
    /// memory; reading them again faults them back in from the page cache.
    private static func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + bytes.count) / page * page
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        madvise(p, end - start, Int32(MADV_DONTNEED))
    }

    /// "blk.12.attn_q.weight" → 12.
    static func layerIndex(of name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        return Int(rest[..<dot])
    }
}

/// Owner of a model's weight memory: the file mapping and the arenas of converted and
/// interleaved tensors. Every `WeightMatrix` and vector pointer of a model points into it.
public final class WeightStorage: @unchecked Sendable {
    public let gguf: GGUFFile
    let floatArena: AlignedFloatBuffer
    let interleavedArena: AlignedBytes

    init(gguf: GGUFFile, floats: Int, interleavedBytes: Int) {
        self.gguf = gguf
        floatArena = AlignedFloatBuffer(count: floats)
        interleavedArena = AlignedBytes(count: interleavedBytes)
    }
}
