#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from opening and mapping files.
public enum FileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotMap(path: String, reason: String)
    case notARegularFile(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open \(path): \(reason)"
        case .cannotMap(let path, let reason): return "cannot map \(path): \(reason)"
        case .notARegularFile(let path): return "\(path) is not a regular file"
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// A read-only memory map of a whole file. One owner; the mapping is released in `deinit`.
/// Tensor data are views into `bytes`: nothing is copied at load time.
public struct MappedFile: ~Copyable {
    public let path: String
    /// The mapped bytes; valid for the lifetime of this value.
    public let bytes: UnsafeRawBufferPointer

    // Both stored properties are set once, after the last throw: Swift 6.2's SIL verifier crashes
    // on a typed throw after a partial initialization of a ~Copyable type with a deinit.
    public init(path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: errnoText()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, reason: errnoText()) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path) }
        let size = Int(st.st_size)
        let mapped: UnsafeRawBufferPointer
        if size == 0 {
            // mmap of zero bytes fails; an empty file is still a file (the parser reports it as too short).
            mapped = UnsafeRawBufferPointer(start: nil, count: 0)
        } else {
            guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
                throw .cannotMap(path: path, reason: errnoText())
            }
            mapped = UnsafeRawBufferPointer(start: base, count: size)
        }
        self.path = path
        bytes = mapped
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
