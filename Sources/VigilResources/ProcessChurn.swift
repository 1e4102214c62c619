/// One plugin's process churn: processes that joined it or left it between samples, told apart
/// by pid and start time (`/proc/<pid>/stat` field 22), so that a pid the kernel hands to a new
/// process is one exit and one start.
///
/// Counting rules, in the order they apply:
/// - A sample without a baseline (the plugin's first, or the first after its matchers changed)
///   counts nothing: its processes were there before we looked, or only now match.
/// - A process a later sample finds is a start; one it no longer finds is an exit with reason
///   `unknown`, unless the host already reported that exit through `recordExit`.
/// - `recordExit` for a process the last sample saw counts the host's reason, and the sample
///   that finds it gone counts nothing more. For a process no sample saw (it lived between two
///   samples) it counts the exit, which no sample will. For a pid a sample already counted as
///   `unknown` within the last two samples it counts nothing: a counter cannot take the count
///   back to give it another reason.
/// - Registered threads of in-process plugins are not processes and never count.
struct ProcessChurn {
    /// Whether the last sample gave a baseline to compare the next one with.
    var hasBaseline = false
    var starts: UInt64 = 0
    /// Exits by reason (`VigilMetric.Values.exitReason`).
    var exits: [String: UInt64] = [:]
    /// Processes the host reported ended while the last sample still saw them (a zombie not yet
    /// reaped, or a sample that came before the host's call): pid → start time.
    private var reported: [Int32: UInt64] = [:]
    /// Pids that samples counted as `unknown` exits, with the number of the sample that did.
    private var countedBySample: [Int32: Int] = [:]
    private var samples = 0

    /// How many samples a pid counted as `unknown` is remembered for a late `recordExit`.
    static let rememberedSamples = 2

    /// Compares the processes of the last sample with this one's (keys above zero are pids;
    /// registered threads have negative keys and are skipped).
    mutating func sample(from old: [Int32: ResourceSampler.Tracked], to new: [Int32: ResourceSampler.Tracked]) {
        samples += 1
        countedBySample = countedBySample.filter { samples - $0.value < Self.rememberedSamples }
        defer { hasBaseline = true }
        for (pid, before) in old where pid > 0 && new[pid]?.startTime != before.startTime {
            if reported.removeValue(forKey: pid) == before.startTime { continue }
            guard hasBaseline else { continue }
            exits[ExitStatus.unknownReason, default: 0] += 1
            countedBySample[pid] = samples
        }
        guard hasBaseline else { return }
        for (pid, now) in new where pid > 0 && old[pid]?.startTime != now.startTime {
            starts += 1
        }
    }

    /// Counts an exit the host reported; see the type's rules.
    mutating func record(pid: Int32, reason: String, tracked: [Int32: ResourceSampler.Tracked]) -> ExitRecording {
        if countedBySample.removeValue(forKey: pid) != nil { return .alreadyCounted }
        if let seen = tracked[pid], pid > 0 {
            guard reported[pid] != seen.startTime else { return .alreadyCounted }
            reported[pid] = seen.startTime
        }
        exits[reason, default: 0] += 1
        return .counted(reason: reason)
    }
}

/// What `ResourceSampler.recordExit` did with the exit a host reported.
public enum ExitRecording: Sendable, Equatable {
    /// Counted in `vigil_plugin_process_exits_total` under this reason.
    case counted(reason: String)
    /// Counted before: a sample already counted the process as `unknown`, or the host reported
    /// it twice. Nothing more is counted.
    case alreadyCounted
    /// No watched plugin has that name.
    case pluginNotWatched
    /// The wait status says the process stopped or continued: it has not ended.
    case notAnExit
}

extension ResourceSampler {
    /// Counts the end of a process of `plugin` that the host launched and reaped, with the raw
    /// status waitpid(2) gave it, under its reason in `vigil_plugin_process_exits_total`. Call
    /// it right after waitpid(2): the sample that then finds the process gone counts nothing
    /// more. See `ProcessChurn` for the ordering rules.
    @discardableResult
    public func recordExit(plugin: String, pid: Int32, waitStatus: Int32) -> ExitRecording {
        guard let status = ExitStatus(waitStatus: waitStatus) else { return .notAnExit }
        return recordExit(plugin: plugin, pid: pid, status: status)
    }

    /// `recordExit(plugin:pid:waitStatus:)` with the status decoded, as Foundation's `Process`
    /// gives it (`.exited(terminationStatus)` or `.signalled(terminationStatus)`).
    @discardableResult
    public func recordExit(plugin: String, pid: Int32, status: ExitStatus) -> ExitRecording {
        state.withLock { state in
            guard var ps = state.plugins[plugin] else { return .pluginNotWatched }
            let recorded = ps.churn.record(pid: pid, reason: status.reason, tracked: ps.tracked)
            state.plugins[plugin] = ps
            return recorded
        }
    }
}
