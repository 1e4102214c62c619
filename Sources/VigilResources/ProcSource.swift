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
    /// A pid file that is not a small regular file owned by root or the plugin's owners (a
    /// symbolic link, a FIFO, a device, another user's file): not read, so that it can neither
    /// stall a sweep nor name a process for the plugin.
    case unsafePIDFile(path: String, detail: String)
    /// A pid named by `pid:` or a pid file now belongs to a process that started later than the
    /// one first identified there: not the plugin's.
    case pidReused(pid: Int32)

    /// The `reason` label of `vigil_sample_errors_total`.
    public var reason: String {
        switch self {
        case .vanished: "vanished"
        case .permissionDenied: "permission_denied"
        case .malformed: "parse_error"
        case .io: "io_error"
        case .unsafePIDFile: "unsafe_pid_file"
        case .pidReused: "pid_reused"
        }
    }
}

/// Where process information comes from: the real /proc, or a folder laid out like it (tests).
public protocol ProcSource: Sendable {
    /// The whole content of a file, such as `1234/stat`, relative to the root.
    func read(_ path: String) throws(ProcError) -> [UInt8]
    /// At most `limit` bytes from the start of a file: for files whose owner chooses their size,
    /// such as `cmdline`.
    func read(_ path: String, atMost limit: Int) throws(ProcError) -> [UInt8]
    /// The names in a directory, such as `1234/fd`.
    func list(_ path: String) throws(ProcError) -> [String]
    /// The target of a symbolic link, such as `1234/exe`.
    func readLink(_ path: String) throws(ProcError) -> String
    /// The processes in the root folder, with the inode number of each one's folder where the
    /// source knows it (0 where not): see `ProcessEntry`.
    func processes() throws(ProcError) -> [ProcessEntry]
    /// The soft limit on open files of process `pid` (`Max open files` in its `limits`), read
    /// anew at every call; nil for "unlimited".
    func openFileLimit(pid: Int32) throws(ProcError) -> UInt64?
}

/// A process folder in /proc: its pid, and the inode number that readdir(3) gave for it.
///
/// proc gives each `/proc/<pid>` dentry an inode whose number comes from a counter
/// (get_next_ino) and reports it from the cached dentry at every listing (proc_fill_cache), so
/// it stays the same while that process lives. When the process is reaped its dentry is
/// invalidated (proc_flush_pid), so a process that reuses the pid gets a new inode and a new
/// number; the same number names the same process unless the 32-bit counter wrapped all the
/// way round to it between two sweeps. A changed number means nothing more than "read `stat`
/// again" (the dentry may also simply have been evicted).
public struct ProcessEntry: Sendable, Equatable {
    public var pid: Int32
    /// 0 where the source does not know it: such a process is always identified by `stat`.
    public var inode: UInt64

    public init(pid: Int32, inode: UInt64) {
        self.pid = pid
        self.inode = inode
    }
}

extension ProcSource {
    /// From the `limits` file.
    public func openFileLimit(pid: Int32) throws(ProcError) -> UInt64? {
        try ProcFiles.maxOpenFiles(try read("\(pid)/limits"), path: "\(pid)/limits")
    }

    /// Sources that hold whole files: the prefix of the whole content.
    public func read(_ path: String, atMost limit: Int) throws(ProcError) -> [UInt8] {
        Array(try read(path).prefix(limit))
    }

    /// Sources that list names only: no inode numbers.
    public func processes() throws(ProcError) -> [ProcessEntry] {
        try list("").compactMap { Int32($0).map { ProcessEntry(pid: $0, inode: 0) } }
    }
}

/// A proc file system mounted at `root`: `/proc` by default, or a fixture folder.
public struct ProcFileSystem: ProcSource {
    public let root: String
    /// Whether `root` is a proc file system, whose `<pid>/fd` folders report their number of
    /// entries as their size (Linux 6.2 and later; 0 before). A fixture folder's directory
    /// sizes say nothing about its entries, so sizes are only trusted on proc itself.
    let directorySizeCountsEntries: Bool

    public init(root: String = "/proc") {
        let root = root.hasSuffix("/") && root != "/" ? String(root.dropLast()) : root
        self.init(root: root, directorySizeCountsEntries: Self.isProc(root))
    }

    /// Whether the pids under `root` are this process's pids (its proc is the one of Vigil's pid
    /// namespace: `self` names Vigil), so that prlimit(2) may be asked about them.
    let pidsAreOurs: Bool

    /// Tests force the folder listing that kernels before 6.2 need, and the `limits` file.
    init(root: String, directorySizeCountsEntries: Bool, askKernelForLimits: Bool = true) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        self.directorySizeCountsEntries = directorySizeCountsEntries
        pidsAreOurs = askKernelForLimits && directorySizeCountsEntries
            && (try? readLinkTarget(self.root + "/self")) == String(getpid())
    }

    /// The open-file limit from prlimit(2): one system call that formats nothing, where reading
    /// `limits` (open, read, close) has the kernel print all sixteen limits. Reading another
    /// user's limits takes CAP_SYS_RESOURCE; refused (or where prlimit is missing), the world-
    /// readable `limits` file gives the same figure.
    public func openFileLimit(pid: Int32) throws(ProcError) -> UInt64? {
        if pidsAreOurs, let prlimit = kernelPrlimit {
            var limit = rlimit()
            if prlimit(pid, Int32(RLIMIT_NOFILE.rawValue), nil, &limit) == 0 {
                return limit.rlim_cur == rlim_t.max ? nil : UInt64(limit.rlim_cur)  // RLIM_INFINITY
            }
            if errno == ESRCH { throw .vanished(path: "\(root)/\(pid)") }
        }
        return try ProcFiles.maxOpenFiles(try read("\(pid)/limits"), path: "\(pid)/limits")
    }

    /// Whether a proc file system is mounted at `path`, from `/proc/self/mounts` (Glibc's Swift
    /// module has no statfs(2)). Where that cannot be read, the folder listing is used.
    static func isProc(_ path: String) -> Bool {
        guard let mounts = try? readWholeFile("/proc/self/mounts") else { return false }
        return isProcMount(path, in: mounts)
    }

    /// Whether a line of `mounts` (device, mount point, type, ...) mounts proc at `path`.
    static func isProcMount(_ path: String, in mounts: [UInt8]) -> Bool {
        mounts.split(separator: UInt8(ascii: "\n")).contains { line in
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 3)
            return fields.count >= 3 && fields[1].elementsEqual(path.utf8) && fields[2].elementsEqual("proc".utf8)
        }
    }

    static func error(_ path: String, _ code: Int32) -> ProcError {
        switch code {
        case ENOENT, ESRCH, ENOTDIR: .vanished(path: path)
        case EACCES, EPERM: .permissionDenied(path: path)
        default: .io(path: path, errno: code)
        }
    }

    /// Reads with one system call fewer than the usual loop: a read that returns less than it
    /// had room for has reached the end, so the final read that returns 0 is not made. proc
    /// generates these files whole (seq_file) and hands one read all that fits; a regular file
    /// (a fixture) only reads short at its end.
    public func read(_ path: String) throws(ProcError) -> [UInt8] {
        let full = root + "/" + path
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(full, errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 0
        while true {
            if used == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let room = bytes.count - used
            let n = readSome(fd, into: &bytes, at: used)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error(full, errno)
            }
            used += n
            if n < room { break }
        }
        bytes.removeSubrange(used...)
        return bytes
    }

    /// Reads at most `limit` bytes, never more: the memory a read takes is bounded by the caller,
    /// not by what the process put in its file.
    public func read(_ path: String, atMost limit: Int) throws(ProcError) -> [UInt8] {
        let full = root + "/" + path
        let fd = open(full, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(full, errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: max(0, limit))
        var used = 0
        while used < bytes.count {
            let n = readSome(fd, into: &bytes, at: used)
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.error(full, errno)
            }
            if n == 0 { break }
            used += n
        }
        bytes.removeSubrange(used...)
        return bytes
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

    /// The numeric entries of the root folder with their inode numbers, read from the directory
    /// entries without building a String per entry.
    public func processes() throws(ProcError) -> [ProcessEntry] {
        guard let dir = opendir(root) else { throw Self.error(root, errno) }
        defer { closedir(dir) }
        var entries: [ProcessEntry] = []
        while let entry = readdir(dir) {
            let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { name in
                var value: Int64 = 0
                for byte in name {
                    if byte == 0 { break }
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), value <= Int64(Int32.max) else { return nil }
                    value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                }
                return name[0] != 0 && value <= Int64(Int32.max) ? Int32(value) : nil
            }
            if let pid { entries.append(ProcessEntry(pid: pid, inode: UInt64(entry.pointee.d_ino))) }
        }
        return entries
    }

    /// Counts a directory's entries without building their names (open fds). On proc since
    /// Linux 6.2, `<pid>/fd`'s size is its number of open fds: one stat(2) instead of opening,
    /// listing and closing the folder. A size of 0 (older kernels, or no fd open) is checked
    /// by listing. Unlike the listing, the size does not count the descriptor that lists the
    /// sampler's own fd folder.
    public func count(_ path: String) throws(ProcError) -> Int {
        let full = root + "/" + path
        if directorySizeCountsEntries {
            var info = stat()
            guard stat(full, &info) == 0 else { throw Self.error(full, errno) }
            if info.st_size > 0 { return Int(info.st_size) }
        }
        return try countByListing(full)
    }

    private func countByListing(_ full: String) throws(ProcError) -> Int {
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
        try readLinkTarget(root + "/" + path)
    }
}

private func readLinkTarget(_ full: String) throws(ProcError) -> String {
    var buffer = [CChar](repeating: 0, count: 4097)
    let n = readlink(full, &buffer, 4096)
    guard n >= 0 else { throw ProcFileSystem.error(full, errno) }
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// glibc's prlimit(2), which its Swift module does not import (a GNU extension), looked up once.
private let kernelPrlimit: (@convention(c) (Int32, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prlimit") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32, UnsafePointer<rlimit>?, UnsafeMutablePointer<rlimit>?) -> Int32).self)
}()

/// read(2) into `bytes` from `offset` on, to its end; outside `ProcFileSystem`, whose own
/// `read` would shadow the system call.
private func readSome(_ fd: Int32, into bytes: inout [UInt8], at offset: Int) -> Int {
    bytes.withUnsafeMutableBytes { buffer in
        read(fd, buffer.baseAddress! + offset, buffer.count - offset)
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
