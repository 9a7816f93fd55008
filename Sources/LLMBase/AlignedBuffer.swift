#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, zero-filled buffer of `Float`, page-aligned (so 64-byte aligned: one cache line,
/// one zmm register). Backed by an anonymous mapping: pages are zeroed lazily by the kernel and
/// count toward resident memory only once written, so a buffer sized for the worst case costs
/// nothing until used. One owner; unmapped in `deinit`.
public struct AlignedFloatBuffer: ~Copyable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let byteCount: Int

    public init(count: Int) {
        self.count = count
        byteCount = max(count, 1) * MemoryLayout<Float>.stride
        guard let raw = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            fatalError("out of memory: cannot map \(byteCount) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    deinit { munmap(UnsafeMutableRawPointer(pointer), byteCount) }
}

/// Raw bytes with the same lazily-zeroed, page-aligned backing (quantized activations, tiles).
public struct AlignedBytes: ~Copyable {
    public let count: Int
    public let pointer: UnsafeMutableRawPointer

    public init(count: Int) {
        self.count = count
        guard let raw = mmap(nil, max(count, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else {
            fatalError("out of memory: cannot map \(count) bytes")
        }
        pointer = raw
    }

    deinit { munmap(pointer, max(count, 1)) }
}
