import LLMBase

/// A validated GGUF file, memory-mapped read-only. Metadata are parsed and checked at init; tensor
/// data stay in the map and are handed out as views. Immutable after init, so safe to share.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let alignment: Int
    /// In file order.
    public let metadata: [GGUFKeyValue]
    /// In file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int
    public let fileSize: Int

    private let map: MappedFile
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public init(path: String) throws(GGUFError) {
        let map: MappedFile
        do {
            map = try MappedFile(path: path)
        } catch {
            throw GGUFError(.cannotOpen(path: path, reason: error.description), offset: 0)
        }
        let contents = try GGUFContents.parse(map.bytes, fileSize: map.bytes.count)
        self.path = path
        version = contents.version
        alignment = contents.alignment
        metadata = contents.metadata
        tensors = contents.tensors
        dataOffset = contents.dataOffset
        fileSize = map.bytes.count
        keyIndex = contents.keyIndex
        tensorIndex = contents.tensorIndex
        self.map = map
    }

    public func value(_ key: String) -> GGUFKeyValue? {
        keyIndex[key].map { metadata[$0] }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes, a view into the map (no copy), valid while this file is alive.
    /// `tensor` must come from this file; its extent was checked against the file at init.
    public func data(for tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        precondition(tensor.offset >= 0 && tensor.byteCount >= 0 && start + tensor.byteCount <= fileSize,
                     "tensor '\(tensor.name)' is not inside \(path)")
        return UnsafeRawBufferPointer(rebasing: map.bytes[start..<start + tensor.byteCount])
    }
}
