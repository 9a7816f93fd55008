/// A fixed-size, 64-byte aligned buffer of `Float` (one cache line, one zmm register), zero-filled.
/// One owner; freed in `deinit`. Scratch memory for the forward pass is allocated once as these.
public struct AlignedFloatBuffer: ~Copyable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
