/// What the sampler watches for one plugin: how to find its processes, its limits, and what to
/// do when it stays over them.
public struct PluginResources: Sendable, Equatable {
    public var name: String
    /// A process belongs to the plugin when any matcher selects it. A plugin without matchers is
    /// an in-process one: only the threads registered with `addThreads(_:to:)` are its own.
    public var matchers: [ProcessMatcher]
    public var limits: ResourceLimits
    /// The plugin's version, the `version` label of `vigil_plugin_info`. Nil is exported as the
    /// empty value, which Prometheus treats as a label that is not there.
    public var version: String?
    /// What happens when a limit stays exceeded; nil only watches (the gauges and
    /// `vigil_plugin_limit_violations_total` move, nothing is done to the plugin).
    public var onLimit: LimitPolicy?
    /// Whether to read each process's `smaps_rollup` for `vigil_plugin_proportional_memory_bytes`
    /// and `vigil_plugin_swap_bytes`. Off by default: the kernel walks the process's whole
    /// memory map to answer, which costs far more than the other files a sweep reads.
    public var smaps: Bool
    /// Who owns the plugin's processes (a matcher's own `owners` win for what it selects).
    /// Matched processes of other users are neither counted nor signalled, only counted in
    /// `vigil_plugin_foreign_processes`. Nil: any owner, which a policy that signals refuses.
    public var owners: ProcessOwners?

    public init(
        name: String, matchers: [ProcessMatcher], owners: ProcessOwners? = nil, limits: ResourceLimits = ResourceLimits(),
        version: String? = nil, onLimit: LimitPolicy? = nil, smaps: Bool = false
    ) {
        self.name = name
        self.matchers = matchers
        self.owners = owners
        self.limits = limits
        self.version = version
        self.onLimit = onLimit
        self.smaps = smaps
    }

    /// The owners required of what `matcher` selects: its own, else the plugin's; nil for any.
    public func owners(of matcher: ProcessMatcher) -> ProcessOwners? { matcher.owners ?? owners }
}

/// One plugin's figures from the latest sample.
public struct PluginUsage: Sendable, Equatable {
    public var processes = 0
    public var threads = 0
    public var residentBytes: UInt64 = 0
    public var virtualBytes: UInt64 = 0
    public var openFDs = 0
    /// The smallest soft fd limit among the processes (the one that runs out first); nil if none.
    public var maxFDs: UInt64?
    /// The highest open fds / soft fd limit of any one process: how close the nearest process is
    /// to running out. Nil when no process has both figures (or all are unlimited).
    public var worstFDRatio: Double?
    /// Proportional set size (shared pages divided among their users) and swapped-out memory,
    /// from `smaps_rollup`; nil unless the plugin asks for `smaps`.
    public var proportionalBytes: UInt64?
    public var swapBytes: UInt64?
    /// Bytes read from and written to storage (`read_bytes`, `write_bytes` of `io`), context
    /// switches of each process's main thread (`status`, as process-exporter reports them) and
    /// major page faults (`stat`); like the CPU seconds, exited processes' counts stay counted.
    public var readBytes: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var voluntaryContextSwitches: UInt64 = 0
    public var involuntaryContextSwitches: UInt64 = 0
    public var majorPageFaults: UInt64 = 0
    /// The cgroup v2 figures of a plugin matched by cgroup; nil otherwise or on cgroup v1.
    public var cgroup: CgroupUsage?
    /// CPU seconds since the sampler first saw the plugin, processes that exited included.
    public var userSeconds = 0.0
    public var systemSeconds = 0.0
    /// CPU seconds per second between the last two samples; nil after the first.
    public var cpuRatio: Double?
    /// Processes its matchers selected that belong to a user outside its owners: left out of
    /// every figure above and never signalled.
    public var foreignProcesses = 0
    /// Whether the plugin has only registered threads (an in-process plugin): memory and fds
    /// belong to the whole host process and are not reported for it.
    public var threadsOnly = false

    public init() {}

    /// The current value of a limited resource.
    public subscript(resource: ResourceKind) -> Double? {
        switch resource {
        case .memoryBytes: threadsOnly ? nil : Double(residentBytes)
        case .cpuRatio: cpuRatio
        case .openFDs: threadsOnly ? nil : Double(openFDs)
        case .threads: Double(threads)
        }
    }
}
