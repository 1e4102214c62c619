/// What each process's command line was found to match, remembered for the process's lifetime
/// (its pid and start time, which together never name two processes), so that a sweep reads and
/// matches a command line once per process, not once per sweep, as process-exporter does. A
/// process that rewrites its own arguments later keeps the verdicts of its first ones.
struct CommandLineVerdicts {
    private struct Entry {
        var startTime: UInt64
        /// The inode number of the process's /proc folder when last seen (`ProcessEntry`).
        var inode: UInt64
        var isKernelThread: Bool
        /// By pattern object: a pattern lives as long as the matcher that compiled it.
        var verdicts: [(pattern: LinearPattern, matches: Bool)]
    }

    private var entries: [Int32: Entry] = [:]

    var count: Int { entries.count }

    /// What process `pid`, started at `startTime`, was found to match `pattern`; nil when it was
    /// not matched against it yet (a process that reuses a pid is a new process).
    mutating func verdict(pid: Int32, startTime: UInt64, pattern: LinearPattern) -> Bool? {
        guard let entry = entries[pid] else { return nil }
        guard entry.startTime == startTime else {
            entries[pid] = nil
            return nil
        }
        return entry.verdicts.first { $0.pattern === pattern }?.matches
    }

    /// The start time of process `pid` and whether it is a kernel thread, without reading its
    /// `stat`, when its /proc folder still has the inode number it had when last identified
    /// (`ProcessEntry` says why that names the same process); nil when unknown.
    func identity(pid: Int32, inode: UInt64) -> (startTime: UInt64, isKernelThread: Bool)? {
        guard inode != 0, let entry = entries[pid], entry.inode == inode else { return nil }
        return (entry.startTime, entry.isKernelThread)
    }

    /// Notes what `stat` said of process `pid`, listed with `inode`: a new start time is a new
    /// process, whose verdicts start afresh.
    mutating func identified(pid: Int32, inode: UInt64, startTime: UInt64, isKernelThread: Bool) {
        if let entry = entries[pid], entry.startTime == startTime {
            entries[pid]?.inode = inode
        } else {
            entries[pid] = Entry(startTime: startTime, inode: inode, isKernelThread: isKernelThread, verdicts: [])
        }
    }

    mutating func record(pid: Int32, startTime: UInt64, pattern: LinearPattern, matches: Bool) {
        entries[pid, default: Entry(startTime: startTime, inode: 0, isKernelThread: false, verdicts: [])].verdicts.append((pattern, matches))
    }

    /// Forgets the processes that are not in `live` (they exited).
    mutating func keepOnly(_ live: [Int32]) {
        guard !entries.isEmpty else { return }
        let alive = Set(live)
        entries = entries.filter { alive.contains($0.key) }
    }

    mutating func removeAll() { entries.removeAll() }
}
