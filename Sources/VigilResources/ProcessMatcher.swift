import VigilSupport

/// Says which processes belong to a plugin.
public struct ProcessMatcher: Sendable, Equatable {
    public enum Rule: Sendable, Equatable {
        /// The process Vigil runs in.
        case currentProcess
        case pid(Int32)
        /// A file holding a pid, read again at every sample (daemons restart).
        case pidFile(String)
        /// Processes whose `comm` (the 15-character kernel name) is one of these.
        case comm([String])
        /// Processes whose executable's path, or its last component, is one of these.
        case exe([String])
        /// Processes whose command line (arguments joined by spaces) matches this expression,
        /// anywhere unless anchored. The syntax is RE2's (Go's `regexp`, as process-exporter
        /// takes) without back-references and look-around, matched in time linear in the
        /// command line's length (`LinearPattern`), so that no process name can stall a sweep.
        case commandLine(String)
        /// Processes in this cgroup or below it, in any hierarchy.
        case cgroup(String)
    }

    public var rule: Rule
    /// Also take every descendant of the matched processes.
    public var includeDescendants: Bool
    let pattern: LinearPattern?

    /// A matcher; throws when a command-line expression does not compile.
    public init(_ rule: Rule, includeDescendants: Bool = false) throws(MatcherError) {
        self.rule = rule
        self.includeDescendants = includeDescendants
        if case .commandLine(let expression) = rule {
            do {
                pattern = try LinearPattern(expression)
            } catch {
                throw MatcherError(description: "cmdline pattern \"\(expression)\" is not a regular expression: \(error.message)")
            }
        } else {
            pattern = nil
        }
    }

    /// Two matchers are equal when they select by the same rule (the compiled pattern follows it).
    public static func == (a: ProcessMatcher, b: ProcessMatcher) -> Bool {
        a.rule == b.rule && a.includeDescendants == b.includeDescendants
    }

    /// Whether the rule needs every process's details, rather than naming pids outright.
    var scansAllProcesses: Bool {
        switch rule {
        case .currentProcess, .pid, .pidFile: includeDescendants
        case .comm, .exe, .commandLine, .cgroup: true
        }
    }
}

/// A matcher that cannot work as written.
public struct MatcherError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

/// One sweep's view of the processes on the machine: the pid list and, read on demand, what
/// the matchers ask about each. A process that exits meanwhile simply stops matching.
struct ProcessTable {
    let source: any ProcSource
    let selfPID: Int32
    private(set) var pids: [Int32] = []
    private(set) var pidsLoaded = false
    /// The inode number of each process's /proc folder (0 where the source does not say).
    private var inodes: [Int32: UInt64] = [:]
    private var stats: [Int32: ProcStat?] = [:]
    /// Carried from sweep to sweep by the sampler.
    var commandLines: CommandLineVerdicts
    /// The command lines read in this sweep, so that a process new to several patterns is read
    /// once; dropped with the table, as the verdicts are all that is kept.
    private var commandLineTexts: [Int32: String?] = [:]

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

    /// The command line of `pid`, arguments joined by spaces; nil when it cannot be read or is
    /// empty (a zombie's: nothing to match, and nothing worth remembering).
    private mutating func commandLine(_ pid: Int32) -> String? {
        if let known = commandLineTexts[pid] { return known }
        var text: String?
        if let bytes = try? source.read("\(pid)/cmdline"), !bytes.isEmpty { text = ProcFiles.commandLine(bytes) }
        commandLineTexts[pid] = text
        return text
    }

    /// The pids `matcher` selects, with descendants when it asks for them.
    mutating func match(_ matcher: ProcessMatcher) throws(ProcError) -> Set<Int32> {
        var matched = Set<Int32>()
        switch matcher.rule {
        case .currentProcess:
            matched.insert(selfPID)
        case .pid(let pid):
            if stat(pid) != nil { matched.insert(pid) }
        case .pidFile(let path):
            let text = try Self.readPIDFile(path)
            if let pid = Int32(text), stat(pid) != nil { matched.insert(pid) }
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
            for pid in pids where pid != selfPID {
                // Kernel threads have no command line; the start time tells a reused pid apart.
                guard let process = identity(pid), !process.isKernelThread else { continue }
                if let known = commandLines.verdict(pid: pid, startTime: process.startTime, pattern: pattern) {
                    if known { matched.insert(pid) }
                    continue
                }
                guard let text = commandLine(pid) else { continue }
                let matches = pattern.matches(text)
                commandLines.record(pid: pid, startTime: process.startTime, pattern: pattern, matches: matches)
                if matches { matched.insert(pid) }
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

    static func readPIDFile(_ path: String) throws(ProcError) -> String {
        do {
            return String(String(decoding: try readWholeFile(path), as: UTF8.self).trimmed(" \t\n"))
        } catch {
            throw ProcFileSystem.error(error.path, error.errno)
        }
    }
}
