import Kernels
import LLMBase

/// What the KV cache stores per key or value element, as llama.cpp's `--cache-type-k/-v`:
/// half precision (the default: decode attention streams every cached position of every
/// sequence each step, so it is bound by memory bandwidth, and half the bytes is nearly half the
/// time) or single precision (bit-exact keys and values, for checks against F32 references).
public enum KVCacheType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f16, f32

    public var bytesPerElement: Int { self == .f16 ? 2 : 4 }
    public var description: String { rawValue }
}

/// Paged key/value storage (vLLM's KV blocks): `blockCount` blocks of `blockSize` positions, per
/// layer. Which block holds which positions of which sequence is the caller's business: a batch
/// carries a block table per sequence (see `ForwardBatch`); one sequence alone uses blocks
/// 0, 1, 2, … in order (`CausalLM.makeCache`).
///
///   keys[layer][block][kvHead][d][slot]        a block's keys transposed: the slots of one
///                                              dimension are adjacent, so attention scores 16
///                                              positions per vector with no horizontal sums
///   values[layer][block][slot][kvHead·headDim + d]
///
///   position p of a sequence with block table T lives in block T[p / blockSize], slot p % blockSize
///
/// Elements are half precision by default, or single (`KVCacheType`). Pages are mapped lazily
/// (`AlignedBytes`): a pool sized for the worst case costs resident memory only as blocks are
/// written.
public final class PagedKVCache: @unchecked Sendable {
    public let blockCount: Int
    public let blockSize: Int
    public let layerCount: Int
    public let kvDim: Int
    /// Element type of keys and values (half precision unless asked otherwise).
    public let type: KVCacheType
    private let keyStore: AlignedBytes
    private let valueStore: AlignedBytes

    /// Positions one sequence can hold when it owns every block.
    public var capacity: Int { blockCount * blockSize }

    /// Block size of a one-sequence cache (`CausalLM.makeCache`): the attention kernels' fast path
    /// wants multiples of 16.
    public static let contiguousBlockSize = 16

    public init(layerCount: Int, kvDim: Int, blockCount: Int, blockSize: Int, type: KVCacheType = .f16) {
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.type = type
        self.layerCount = layerCount
        self.kvDim = kvDim
        let bytes = layerCount * blockCount * blockSize * kvDim * type.bytesPerElement
        keyStore = AlignedBytes(count: bytes)
        valueStore = AlignedBytes(count: bytes)
    }

    /// Bytes of K and V per block across all layers (for sizing a pool from a memory budget).
    public static func bytesPerBlock(config: TransformerConfig, blockSize: Int, type: KVCacheType = .f16) -> Int {
        2 * config.layerCount * blockSize * config.kvDim * type.bytesPerElement
    }

    /// Element offset of slot 0 of `block` in `layer` (keys and values index blocks alike).
    @inline(__always) private func offset(layer: Int, block: Int) -> Int { (layer * blockCount + block) * blockSize * kvDim }

    /// The transposed keys of `block` in `layer`, read as `E` (which must be the cache's `type`):
    /// element (kvHead·headDim + d, slot) at `(kvHead·headDim + d)·blockSize + slot`.
    @inline(__always) public func keyBlock<E: KVCacheElement>(layer: Int, block: Int, as: E.Type) -> UnsafeMutablePointer<E> {
        keyStore.pointer.assumingMemoryBound(to: E.self) + offset(layer: layer, block: block)
    }

    /// Values of `slot` in `block` of `layer`, read as `E` (the cache's `type`); the block's later
    /// slots follow at kvDim strides.
    @inline(__always) public func values<E: KVCacheElement>(layer: Int, block: Int, slot: Int, as: E.Type) -> UnsafeMutablePointer<E> {
        valueStore.pointer.assumingMemoryBound(to: E.self) + offset(layer: layer, block: block) + slot * kvDim
    }

    /// Copies every layer's keys and values of `source` into `destination`: a sequence that
    /// continues a shared, partly filled block writes into its own copy (copy-on-write).
    public func copyBlock(_ source: Int, to destination: Int) {
        let bytes = blockSize * kvDim * type.bytesPerElement
        for layer in 0..<layerCount {
            let from = offset(layer: layer, block: source) * type.bytesPerElement
            let to = offset(layer: layer, block: destination) * type.bytesPerElement
            (keyStore.pointer + to).copyMemory(from: keyStore.pointer + from, byteCount: bytes)
            (valueStore.pointer + to).copyMemory(from: valueStore.pointer + from, byteCount: bytes)
        }
    }

    /// Writes one position's keys and values (kvDim floats each) into its slot, rounded to the
    /// cache's element type.
    @inline(__always)
    public func store(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, layer: Int, block: Int, slot: Int) {
        switch type {
        case .f16: store(k, v, layer: layer, block: block, slot: slot, as: Half.self)
        case .f32: store(k, v, layer: layer, block: block, slot: slot, as: Float.self)
        }
    }

    @inline(__always)
    private func store<E: KVCacheElement>(_ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, layer: Int, block: Int, slot: Int, as: E.Type) {
        let keys = keyBlock(layer: layer, block: block, as: E.self) + slot
        let values = values(layer: layer, block: block, slot: slot, as: E.self)
        for e in 0..<kvDim {
            keys[e * blockSize] = E.rounding(k[e])
            values[e] = E.rounding(v[e])
        }
    }
}

