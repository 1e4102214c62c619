import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A resource a plugin can be limited on; the `resource` label of the limit metrics.
public enum ResourceKind: String, Sendable, CaseIterable, Hashable {
    case memoryBytes = "memory_bytes"
    /// CPU time per second of wall time: 1.0 is one full core.
    case cpuRatio = "cpu_ratio"
    case openFDs = "open_fds"
    case threads
}

/// The limits configured for one plugin; nil means unlimited.
public struct ResourceLimits: Sendable, Equatable {
    /// Resident memory, in bytes, summed over the plugin's processes.
    public var memoryBytes: UInt64?
    /// CPU used between two samples, as a share of one core.
    public var cpuRatio: Double?
    /// Open file descriptors, summed over the plugin's processes.
    public var openFDs: Int?
    /// Threads, summed over the plugin's processes.
    public var threads: Int?

    public init(memoryBytes: UInt64? = nil, cpuRatio: Double? = nil, openFDs: Int? = nil, threads: Int? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuRatio = cpuRatio
        self.openFDs = openFDs
        self.threads = threads
    }

    /// The limit on `resource`, in base units.
    public subscript(resource: ResourceKind) -> Double? {
        switch resource {
        case .memoryBytes: memoryBytes.map { Double($0) }
        case .cpuRatio: cpuRatio
        case .openFDs: openFDs.map { Double($0) }
        case .threads: threads.map { Double($0) }
        }
    }
}

/// A plugin crossing one of its limits, either way, or an action its `LimitPolicy` took.
public struct LimitEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The plugin went over the limit: `vigil_plugin_limit_violations_total` counted it.
        case exceeded
        /// The plugin is back under the limit.
        case recovered
        /// The limit stayed exceeded for the policy's `sustainedFor`: the action ran (or, on a
        /// dry run, would have); `vigil_plugin_limit_actions_total` counted it. A host with
        /// tracing turns this into an event on its current span.
        case action(ActionTaken)
        /// The limit stayed exceeded and the policy would have signalled, but Vigil refused:
        /// counted in `vigil_plugin_limit_actions_refused_total`; nothing was sent.
        case refused(ActionRefusal)
    }

    /// Why a signal a policy called for was not sent to any process.
    public enum ActionRefusal: String, Sendable, Equatable, CaseIterable {
        /// More processes matched than the policy's `maxTargets`.
        case tooManyTargets = "too_many_targets"
        /// The /proc the sampler reads is another pid namespace's: its pids name other processes here.
        case foreignPIDNamespace = "pid_namespace"
    }

    /// What a `LimitPolicy` did, or on a dry run would have done, to a plugin.
    public struct ActionTaken: Sendable, Equatable {
        /// `.signal(n)` or `.breaker`.
        public var action: LimitPolicy.Action
        public var dryRun: Bool
        /// How long the limit had been exceeded, from the first sample over it to this one.
        public var exceededFor: Duration
        /// The processes the signal was meant for, `failures` included (on a dry run, those it
        /// would have been sent to); empty for the breaker.
        public var pids: [Int32]
        /// Processes the signal could not be sent to; each is also counted in
        /// `vigil_sample_errors_total` (`ESRCH`: vanished, `EPERM`: permission_denied).
        public var failures: [SignalFailure]

        /// Whether this is the policy's `escalation`: the second signal of the episode.
        public var escalation = false

        /// The `action` label it was counted under: `signal`, `escalate`, `breaker` or `dry_run`.
        public var label: String { dryRun ? "dry_run" : escalation ? "escalate" : action.label ?? "" }
    }

    /// A process kill(2) refused.
    public struct SignalFailure: Sendable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var errno: Int32

        public var description: String { "pid \(pid): \(String(cString: strerror(errno)))" }
    }

    public var plugin: String
    public var resource: ResourceKind
    public var kind: Kind
    /// The measured value and the limit, in base units.
    public var value: Double
    public var limit: Double

    /// One line for a log: what happened, without the figures (they are fields of their own).
    public var summary: String {
        switch kind {
        case .exceeded: return "limit exceeded"
        case .recovered: return "back under limit"
        case .refused(.tooManyTargets): return "refused to signal: more processes matched than the policy's max_targets"
        case .refused(.foreignPIDNamespace):
            return "refused to signal: /proc belongs to another pid namespace, so its pids are not this namespace's"
        case .action(let taken):
            let would = taken.dryRun ? "dry run: would " : ""
            let after = "after \(taken.exceededFor.milliseconds())ms over the limit"
            switch taken.action {
            case .signal(let signal):
                let sent = taken.pids.count - taken.failures.count
                let failed = taken.failures.isEmpty ? "" : "; failed for " + taken.failures.map(\.description).joined(separator: ", ")
                let escalated = taken.escalation ? "escalated: " : ""
                return "\(escalated)\(would)\(taken.dryRun ? "send" : "sent") \(LimitPolicy.describe(signal: signal)) to "
                    + "\(taken.dryRun ? taken.pids.count : sent) process(es) \(after)\(failed)"
            case .breaker, .watch:
                return "\(would)\(taken.dryRun ? "open" : "opened") the plugin's circuit breakers \(after)"
            }
        }
    }
}

/// A size in bytes written the way people write them: `512MiB`, `1.5GiB`, `100MB`, `4096`.
public enum ByteSize {
    private static let units: [String: Double] = [
        "": 1, "b": 1,
        "k": 1e3, "kb": 1e3, "kib": 1024, "ki": 1024,
        "m": 1e6, "mb": 1e6, "mib": 1_048_576, "mi": 1_048_576,
        "g": 1e9, "gb": 1e9, "gib": 1_073_741_824, "gi": 1_073_741_824,
        "t": 1e12, "tb": 1e12, "tib": 1_099_511_627_776, "ti": 1_099_511_627_776,
    ]

    /// Why a size did not parse; the description says what would.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var text: String
        /// A size, but more bytes than a 64-bit count holds.
        public var tooLarge = false
        public var description: String {
            tooLarge ? "\"\(text)\" is too large (a size is less than 16777216TiB; try 512MiB)"
                : "\"\(text)\" is not a size (try 512MiB, 1.5GiB, 100MB or a number of bytes)"
        }
    }

    /// Parses a size. Units are decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB), in any case.
    public static func parse(_ text: String) throws(ParseError) -> UInt64 {
        let trimmed = text.trimmed(" ")
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmed(" ").lowercased()
        guard !digits.isEmpty, let number = Double(digits), let scale = units[unit] else {
            throw ParseError(text: text)
        }
        let bytes = (number * scale).rounded()
        // Checked as a Double: UInt64(bytes) would trap past 2^64.
        guard bytes.isFinite, bytes < 0x1p64 else { throw ParseError(text: text, tooLarge: true) }
        return UInt64(bytes)
    }
}
