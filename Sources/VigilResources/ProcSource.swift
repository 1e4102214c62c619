#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilSupport

/// Why a file under /proc could not be read.
public enum ProcError: Error, Equatable, Sendable {
    /// The process (or the file) is gone: it exited between two reads.
    case vanished(path: String)
    /// Another user's process; `fd/` and `exe` are off limits without privileges.
    case permissionDenied(path: String)
    /// The file was read but did not hold what its format promises.
    case malformed(path: String, detail: String)
    case io(path: String, errno: Int32)

    /// The `reason` label of `vigil_sample_errors_total`.
    public var reason: String {
        switch self {
        case .vanished: "vanished"
        case .permissionDenied: "permission_denied"
        case .malformed: "parse_error"
        case .io: "io_error"
        }
    }
}

/// Where process information comes from: the real /proc, or a folder laid out like it (tests).
public protocol ProcSource: Sendable {
    /// The whole content of a file, such as `1234/stat`, relative to the root.
    func read(_ path: String) throws(ProcError) -> [UInt8]
    /// The names in a directory, such as `1234/fd`.
    func list(_ path: String) throws(ProcError) -> [String]
    /// The target of a symbolic link, such as `1234/exe`.
    func readLink(_ path: String) throws(ProcError) -> String
}

/// A proc file system mounted at `root`: `/proc` by default, or a fixture folder.
public struct ProcFileSystem: ProcSource {
    public let root: String

    public init(root: String = "/proc") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    static func error(_ path: String, _ code: Int32) -> ProcError {
        switch code {
        case ENOENT, ESRCH, ENOTDIR: .vanished(path: path)
        case EACCES, EPERM: .permissionDenied(path: path)
        default: .io(path: path, errno: code)
        }
    }

    public func read(_ path: String) throws(ProcError) -> [UInt8] {
        do {
            return try readWholeFile(root + "/" + path)
        } catch {
            throw Self.error(error.path, error.errno)
        }
    }

    public func list(_ path: String) throws(ProcError) -> [String] {
        let full = root + "/" + path
        guard let dir = opendir(full) else { throw Self.error(full, errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Counts a directory's entries without building their names (open fds).
    public func count(_ path: String) throws(ProcError) -> Int {
        let full = root + "/" + path
        guard let dir = opendir(full) else { throw Self.error(full, errno) }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let dot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !dot { n += 1 }
        }
        return n
    }

    public func readLink(_ path: String) throws(ProcError) -> String {
        let full = root + "/" + path
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink(full, &buffer, 4096)
        guard n >= 0 else { throw Self.error(full, errno) }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension ProcSource {
    /// Counts a directory's entries; the real file system does it without building names.
    func countEntries(_ path: String) throws(ProcError) -> Int {
        if let fs = self as? ProcFileSystem { return try fs.count(path) }
        return try list(path).count
    }
}

/// The machine constants the parsers need, from `sysconf`, never assumed.
public struct SystemConstants: Sendable {
    public var pageSize: Int
    public var clockTicksPerSecond: Int
    /// Boot time in seconds since the epoch (`btime` in /proc/stat), for start times.
    public var bootTime: Double

    public init(pageSize: Int, clockTicksPerSecond: Int, bootTime: Double) {
        self.pageSize = pageSize
        self.clockTicksPerSecond = clockTicksPerSecond
        self.bootTime = bootTime
    }

    /// This machine's values.
    public static func current(source: some ProcSource = ProcFileSystem()) -> SystemConstants {
        var boot = 0.0
        if let stat = try? source.read("stat") {
            for line in String(decoding: stat, as: UTF8.self).split(separator: "\n") where line.hasPrefix("btime ") {
                boot = Double(line.dropFirst(6).trimmed()) ?? 0
            }
        }
        return SystemConstants(
            pageSize: Int(sysconf(Int32(_SC_PAGESIZE))), clockTicksPerSecond: Int(sysconf(Int32(_SC_CLK_TCK))),
            bootTime: boot)
    }
}
