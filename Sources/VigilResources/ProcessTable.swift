import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a sweep uses of `/proc/<pid>/status`: the process's owner and its main thread's
/// context switches, read once per process per sweep.
struct ProcessStatus {
    var userIDs: (real: UInt32, effective: UInt32)?
    var voluntarySwitches: UInt64?
    var involuntarySwitches: UInt64?
}

/// The process a `pid:` or `pid_file:` matcher found first, pinned by its start time: a later
/// process under the same pid is not the plugin's (for a pid file: until the file is written anew).
struct PIDPin: Equatable {
    var pid: Int32
    var startTime: UInt64
    var file: PIDFile.Identity?
}

/// One sweep's view of the processes on the machine: the pid list and, read on demand, what
/// the matchers ask about each. A process that exits meanwhile simply stops matching. Nothing
/// read here outlives the sweep but the verdicts (`CommandLineVerdicts`).
struct ProcessTable {
    /// The most of a command line that is read and matched, as ps(1) and process-exporter also
    /// stop somewhere: any local user can give a process megabytes of arguments, and a sweep
    /// must cost the same whatever they are. A pattern sees the first 32 KiB.
    static let commandLineLimit = 32 * 1024

    let source: any ProcSource
    let selfPID: Int32
    private(set) var pids: [Int32] = []
    private(set) var pidsLoaded = false
    /// The inode number of each process's /proc folder (0 where the source does not say).
    private var inodes: [Int32: UInt64] = [:]
    private var stats: [Int32: ProcStat?] = [:]
    private var statuses: [Int32: Result<ProcessStatus, ProcError>] = [:]
    /// Carried from sweep to sweep by the sampler.
    var commandLines: CommandLineVerdicts

    init(source: any ProcSource, selfPID: Int32, commandLines: CommandLineVerdicts = CommandLineVerdicts()) {
        self.source = source
        self.selfPID = selfPID
        self.commandLines = commandLines
    }

    mutating func loadPIDs() throws(ProcError) {
        let entries = try source.processes()
        pids = entries.map(\.pid)
        inodes = Dictionary(entries.map { ($0.pid, $0.inode) }, uniquingKeysWith: { first, _ in first })
        pidsLoaded = true
    }

    /// The start time of `pid` and whether it is a kernel thread: remembered from an earlier
    /// sweep while its /proc folder keeps its inode number, else read from `stat`. Nil when it
    /// exited.
    private mutating func identity(_ pid: Int32) -> (startTime: UInt64, isKernelThread: Bool)? {
        let inode = inodes[pid] ?? 0
        if let known = commandLines.identity(pid: pid, inode: inode) { return known }
        guard let stat = stat(pid) else { return nil }
        commandLines.identified(pid: pid, inode: inode, startTime: stat.startTime, isKernelThread: stat.isKernelThread)
        return (stat.startTime, stat.isKernelThread)
    }

    mutating func stat(_ pid: Int32) -> ProcStat? {
        if let cached = stats[pid] { return cached }
        let path = "\(pid)/stat"
        let stat = (try? source.read(path)).flatMap { bytes in try? ProcStat.parse(bytes, path: path) }
        stats[pid] = stat
        return stat
    }

    /// What `status` says of `pid`, read once this sweep.
    mutating func status(_ pid: Int32) -> Result<ProcessStatus, ProcError> {
        if let cached = statuses[pid] { return cached }
        let result: Result<ProcessStatus, ProcError>
        do {
            let bytes = try source.read("\(pid)/status")
            let switches = ProcFiles.keyedValues(bytes, keys: ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"])
            result = .success(ProcessStatus(userIDs: ProcFiles.userIDs(bytes), voluntarySwitches: switches[0], involuntarySwitches: switches[1]))
        } catch {
            result = .failure(error)
        }
        statuses[pid] = result
        return result
    }

    /// Whether `owners` own `pid` (its real and effective user ids); nil when it exited or its
    /// `status` says no owner.
    mutating func isOwned(_ pid: Int32, by owners: ProcessOwners) -> Bool? {
        guard case .success(let status) = status(pid), let ids = status.userIDs else { return nil }
        return owners.admits(real: ids.real, effective: ids.effective)
    }

    /// Judges every process not yet judged against each of `patterns`: its command line is read
    /// once, up to `commandLineLimit`, matched against all of them in one pass and dropped; only
    /// the verdicts stay, for the process's lifetime. `match` then reads verdicts only.
    mutating func judgeCommandLines(_ patterns: [LinearPattern]) {
        guard !patterns.isEmpty else { return }
        var pending: [LinearPattern] = []
        for pid in pids where pid != selfPID {
            // Kernel threads have no command line; the start time tells a reused pid apart.
            guard let process = identity(pid), !process.isKernelThread else { continue }
            pending.removeAll(keepingCapacity: true)
            for pattern in patterns where commandLines.verdict(pid: pid, startTime: process.startTime, pattern: pattern) == nil {
                pending.append(pattern)
            }
            guard !pending.isEmpty else { continue }
            // Empty (a zombie's): nothing to match, and nothing worth remembering.
            guard let bytes = try? source.read("\(pid)/cmdline", atMost: Self.commandLineLimit), !bytes.isEmpty else { continue }
            let text = ProcFiles.commandLine(bytes)
            for pattern in pending {
                commandLines.record(pid: pid, startTime: process.startTime, pattern: pattern, matches: pattern.matches(text))
            }
        }
    }

    /// The pids `matcher` selects, with descendants when it asks for them. `owners` are the
    /// owners a pid file must belong to (with root); `pins` holds what `pid:` and `pid_file:`
    /// matchers found first.
    mutating func match(
        _ matcher: ProcessMatcher, owners: ProcessOwners?, pins: inout [ProcessMatcher.Rule: PIDPin]
    ) throws(ProcError) -> Set<Int32> {
        var matched = Set<Int32>()
        switch matcher.rule {
        case .currentProcess:
            matched.insert(selfPID)
        case .pid(let pid):
            if let stat = stat(pid) {
                let pin = pins[matcher.rule] ?? PIDPin(pid: pid, startTime: stat.startTime, file: nil)
                guard pin.startTime == stat.startTime else { throw .pidReused(pid: pid) }
                pins[matcher.rule] = pin
                matched.insert(pid)
            }
        case .pidFile(let path):
            let file = try PIDFile.read(path, owners: owners)
            if let stat = stat(file.pid) {
                // The same file naming the same pid, now a later process: the daemon is gone
                // and its pid reused. A file written anew pins the process it names now.
                if let pin = pins[matcher.rule], pin.file == file.identity, pin.pid == file.pid, pin.startTime != stat.startTime {
                    throw .pidReused(pid: file.pid)
                }
                pins[matcher.rule] = PIDPin(pid: file.pid, startTime: stat.startTime, file: file.identity)
                matched.insert(file.pid)
            }
        case .comm(let names):
            for pid in pids where names.contains(stat(pid)?.comm ?? "\u{0}") { matched.insert(pid) }
        case .exe(let names):
            for pid in pids {
                guard let exe = try? source.readLink("\(pid)/exe") else { continue }
                let path = exe.hasSuffix(" (deleted)") ? String(exe.dropLast(10)) : exe
                let base = path.split(separator: "/").last.map(String.init) ?? path
                if names.contains(path) || names.contains(base) { matched.insert(pid) }
            }
        case .commandLine:
            guard let pattern = matcher.pattern else { break }
            judgeCommandLines([pattern])  // a no-op when the sweep judged every pattern first
            for pid in pids where pid != selfPID {
                guard let process = identity(pid), !process.isKernelThread else { continue }
                if commandLines.verdict(pid: pid, startTime: process.startTime, pattern: pattern) == true { matched.insert(pid) }
            }
        case .cgroup(let prefix):
            let wanted = prefix.hasSuffix("/") && prefix != "/" ? String(prefix.dropLast()) : prefix
            for pid in pids {
                guard let bytes = try? source.read("\(pid)/cgroup") else { continue }
                let inside = ProcFiles.cgroupPaths(bytes).contains {
                    $0 == wanted || $0.hasPrefix(wanted == "/" ? "/" : wanted + "/")
                }
                if inside { matched.insert(pid) }
            }
        }
        if matcher.includeDescendants { matched.formUnion(descendants(of: matched)) }
        return matched
    }

    private mutating func descendants(of roots: Set<Int32>) -> Set<Int32> {
        var children: [Int32: [Int32]] = [:]
        for pid in pids {
            if let parent = stat(pid)?.ppid { children[parent, default: []].append(pid) }
        }
        var found = Set<Int32>()
        var queue = Array(roots)
        while let next = queue.popLast() {
            for child in children[next] ?? [] where found.insert(child).inserted { queue.append(child) }
        }
        return found
    }
}

/// Reading a pid file that someone else may have planted: never following a link, never
/// blocking, never more than a pid's worth of bytes, and only from its rightful owner.
enum PIDFile {
    /// The most bytes a pid file may hold: a pid, a newline, some spaces.
    static let maxBytes = 64

    /// A version of the file: written anew, it has another.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var modified: Int64
        var modifiedNanoseconds: Int64
        var size: Int64
    }

    /// The pid in the file at `path`. Refused (`ProcError.unsafePIDFile`) when it is a symbolic
    /// link, not a regular file (a FIFO would block the sweep, a device hand it endless bytes),
    /// larger than `maxBytes`, or owned by anyone but root, the sampler's own user and `owners`.
    static func read(_ path: String, owners: ProcessOwners?) throws(ProcError) -> (pid: Int32, identity: Identity) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP { throw .unsafePIDFile(path: path, detail: "is a symbolic link; name the file itself") }
            throw ProcFileSystem.error(path, code)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ProcFileSystem.error(path, errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .unsafePIDFile(path: path, detail: "is not a regular file (a FIFO, device or socket cannot be a pid file)")
        }
        let owner = UInt32(info.st_uid)
        guard owner == 0 || owner == geteuid() || owners?.uids.contains(owner) == true else {
            throw .unsafePIDFile(path: path, detail: "is owned by uid \(owner), neither root nor the plugin's user: (add that user to user: if it is the plugin's own)")
        }
        guard info.st_size <= maxBytes else {
            throw .unsafePIDFile(path: path, detail: "is \(info.st_size) bytes; a pid file holds one pid (at most \(maxBytes) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: maxBytes + 1)
        var used = 0
        while used < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + used, $0.count - used) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ProcFileSystem.error(path, errno)
            }
            if n == 0 { break }
            used += n
        }
        guard used <= maxBytes else {
            throw .unsafePIDFile(path: path, detail: "holds more than \(maxBytes) bytes; a pid file holds one pid")
        }
        let text = String(decoding: bytes[..<used], as: UTF8.self).trimmed(" \t\n\r")
        guard let pid = Int32(text), pid > 0 else {
            throw .malformed(path: path, detail: "does not hold a pid")
        }
        let identity = Identity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), modified: Int64(info.st_mtim.tv_sec),
            modifiedNanoseconds: Int64(info.st_mtim.tv_nsec), size: Int64(info.st_size))
        return (pid, identity)
    }
}
