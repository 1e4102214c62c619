#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call on a file: which file, and the `errno` it set.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var errno: Int32
    /// Said instead of the system's wording where Vigil refused the file itself.
    public var detail: String?

    public init(path: String, errno: Int32, detail: String? = nil) {
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// The system's wording of the error, such as "No such file or directory".
    public var reason: String { detail ?? String(cString: strerror(errno)) }

    public var description: String { "\(path): \(reason)" }
}

/// Reads a whole file. Works for /proc files, which report a size of 0: it reads until the end
/// of the file, not up to a size taken beforehand. A file longer than `limit` bytes is an error,
/// `EFBIG`, once that much has been read (so /dev/zero given as a file ends too). With
/// `regularOnly`, anything but a regular file (a FIFO, whose open or read would block until a
/// writer came, a device, a socket) is refused before a byte is read.
public func readWholeFile(_ path: String, limit: Int = .max, regularOnly: Bool = false) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | (regularOnly ? O_NONBLOCK | O_NOCTTY : 0))
    guard fd >= 0 else { throw FileError(path: path, errno: errno) }
    defer { close(fd) }
    if regularOnly {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw FileError(path: path, errno: EINVAL, detail: "not a regular file (a FIFO, device or socket is never read); give the file itself")
        }
    }
    var result = [UInt8](repeating: 0, count: 4096)
    var used = 0
    while true {
        if used == result.count { result.append(contentsOf: repeatElement(0, count: result.count)) }
        let n = result.withUnsafeMutableBytes { buffer in
            read(fd, buffer.baseAddress! + used, buffer.count - used)
        }
        if n < 0 {
            if errno == EINTR { continue }
            throw FileError(path: path, errno: errno)
        }
        if n == 0 { break }
        used += n
        if used > limit { throw FileError(path: path, errno: EFBIG) }
    }
    result.removeSubrange(used...)
    return result
}
