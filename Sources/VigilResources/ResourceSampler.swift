import Synchronization
import VigilMetrics
import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Samples every watched plugin's processes from /proc, checks them against their limits and
/// publishes the figures through a registry collector as the `VigilMetric.plugin*` families.
///
/// Sampling runs on a task of its own every `interval`, never on the caller's thread; a scrape
/// reads the latest sample and never touches /proc itself. CPU counters never go backwards: a
/// process that exits leaves its CPU time with its plugin, as process-exporter does. Problems
/// while sampling are counted in `vigil_sample_errors_total{plugin,reason}` and never stop it.
///
/// Besides the figures, it publishes each watched plugin's `vigil_plugin_info` and
/// `vigil_plugin_start_time_seconds`, counts the processes that join and leave each plugin
/// (`ProcessChurn`, `recordExit`), and runs each plugin's `LimitPolicy` when a limit stays
/// exceeded (ResourceSampler+LimitActions.swift). Its plugins can change while it runs
/// (ResourceSampler+Plugins.swift).
public final class ResourceSampler: Sendable {
    public let interval: Duration
    let source: any ProcSource
    let constants: SystemConstants
    let onLimitEvent: (@Sendable (LimitEvent) -> Void)?
    let onBreaker: (@Sendable (_ plugin: String, _ open: Bool) -> Void)?
    let state: Locked<State>
    let infoSeries: PluginInfoSeries
    /// Seconds on the monotonic clock; a test may step it by hand.
    let monotonic: @Sendable () -> Double
    /// Sends a signal to the process `pid` that started at `startTime` (a pidfd taken, the
    /// process identified again through it, then pidfd_send_signal(2)): 0 when sent, else the
    /// errno (`ESRCH` when that process is gone, whoever has its pid now). Tests record instead.
    let sendSignal: @Sendable (_ pid: Int32, _ startTime: UInt64, _ signal: Int32) -> Int32
    /// Whether the pids the source lists are the pids of the sampler's own pid namespace, so that
    /// a signal reaches the process that was read; a /proc of another namespace gets none.
    let pidsAreSignallable: Bool
    /// The sampler's own health: how long sweeps take and when the last one finished.
    let health: SamplerHealth
    /// The cgroup v2 hierarchy, for plugins matched by cgroup; nil where cgroup v2 is not mounted.
    let cgroups: CgroupFileSystem?
    private let task = Locked<Task<Void, Never>?>(nil)
    private let sweeps = Atomic<Int>(0)
    /// Told once, at the first file another user's process keeps from the sampler.
    private let permissionDenied = Locked<(handler: (@Sendable (String) -> Void)?, told: Bool)>((nil, false))

    struct Tracked: Equatable {
        var startTime: UInt64
        var counters: ProcessCounters
    }

    struct PluginState {
        var usage = PluginUsage()
        /// Live processes (or registered threads) by id, with the ticks last seen.
        var tracked: [Int32: Tracked] = [:]
        /// The counters of processes that have exited (CPU ticks, I/O, context switches, faults).
        var exited = ProcessCounters()
        var lastCPUSeconds: Double?
        var lastSampleTime: Double?
        var exceeded: [ResourceKind: Bool] = [:]
        var violations: [ResourceKind: UInt64] = [:]
        var errors: [String: UInt64] = [:]
        /// Thread ids registered by the host for an in-process plugin.
        var threads: Set<Int32> = []
        var churn = ProcessChurn()
        /// What the plugin's `pid:` and `pid_file:` matchers found first.
        var pins: [ProcessMatcher.Rule: PIDPin] = [:]
        /// `vigil_plugin_limit_actions_refused_total` by resource and reason.
        var refusals: [RefusalKey: UInt64] = [:]
        /// The current episode over each exceeded limit.
        var episodes: [ResourceKind: LimitEpisode] = [:]
        /// `vigil_plugin_limit_actions_total` by resource and `action` label.
        var actions: [ActionKey: UInt64] = [:]
        /// Limits whose episode opened the plugin's circuit breakers and still holds them open.
        var breakerHeldBy: Set<ResourceKind> = []
    }

    struct State {
        /// What is watched, in the order given.
        var configs: [PluginResources] = []
        var plugins: [String: PluginState] = [:]
        /// Each process's command-line verdicts, carried from one sweep to the next.
        var commandLines = CommandLineVerdicts()
        /// Moves on at every `update` and `remove`: a sweep that copied the plugins under another
        /// generation checks each one is still configured as it read it before acting on it.
        var generation: UInt64 = 0
    }

    /// - Parameters:
    ///   - plugins: the plugins to watch; names must be unique.
    ///   - registry: where the figures are published.
    ///   - interval: time between samples (default 5 s).
    ///   - onLimitEvent: called, on the sampler's task, when a plugin crosses a limit either way
    ///     and when a `LimitPolicy` acts (or would, on a dry run).
    ///   - onBreaker: how a host that runs plugins in process opens (`true`) and closes (`false`)
    ///     a plugin's circuit breakers for `LimitPolicy.Action.breaker`. Called on the sampler's
    ///     task, and on the caller's by `update(plugins:)` and `remove(plugin:)` when they end a
    ///     plugin's hold on its breakers. Required when a plugin's policy uses the breaker.
    public convenience init(
        plugins: [PluginResources], registry: Registry, interval: Duration = .seconds(5),
        source: any ProcSource = ProcFileSystem(), constants: SystemConstants? = nil,
        onLimitEvent: (@Sendable (LimitEvent) -> Void)? = nil,
        onBreaker: (@Sendable (_ plugin: String, _ open: Bool) -> Void)? = nil
    ) throws(ResourceSamplerError) {
        // A fixture folder's pids are not this machine's processes: they are never signalled.
        let live = (source as? ProcFileSystem)?.root == "/proc"
        let send: @Sendable (Int32, UInt64, Int32) -> Int32
        if live {
            send = { pid, startTime, signal in Self.signal(pid, startedAt: startTime, signal, source: source) }
        } else {
            send = Self.notALiveProcess
        }
        try self.init(
            plugins: plugins, registry: registry, interval: interval, source: source, constants: constants,
            onLimitEvent: onLimitEvent, onBreaker: onBreaker, monotonic: SystemClock.monotonicSeconds,
            sendSignal: send,
            pidsAreSignallable: live && Self.procIsOurPIDNamespace(source), cgroupRoot: live ? "/sys/fs/cgroup" : nil)
    }

    @Sendable static func notALiveProcess(_ pid: Int32, _ startTime: UInt64, _ signal: Int32) -> Int32 { ESRCH }

    init(
        plugins: [PluginResources], registry: Registry, interval: Duration, source: any ProcSource,
        constants: SystemConstants?, onLimitEvent: (@Sendable (LimitEvent) -> Void)?,
        onBreaker: (@Sendable (_ plugin: String, _ open: Bool) -> Void)?, monotonic: @escaping @Sendable () -> Double,
        sendSignal: @escaping @Sendable (_ pid: Int32, _ startTime: UInt64, _ signal: Int32) -> Int32,
        pidsAreSignallable: Bool = true, cgroupRoot: String? = nil
    ) throws(ResourceSamplerError) {
        try Self.check(plugins, hasBreakerHook: onBreaker != nil)
        self.interval = interval
        self.source = source
        self.constants = constants ?? .current(source: source)
        self.onLimitEvent = onLimitEvent
        self.onBreaker = onBreaker
        self.monotonic = monotonic
        self.sendSignal = sendSignal
        self.pidsAreSignallable = pidsAreSignallable
        self.cgroups = cgroupRoot.map(CgroupFileSystem.init(root:)).flatMap { $0.isUnified ? $0 : nil }
        self.state = Locked(State(
            configs: plugins, plugins: Dictionary(uniqueKeysWithValues: plugins.map { ($0.name, PluginState()) })))
        do {
            infoSeries = try PluginInfoSeries(registry: registry)
            health = try SamplerHealth(registry: registry, interval: interval)
            try registry.register(PluginResourceCollector(sampler: self))
        } catch {
            throw .registration(error)
        }
        plugins.forEach(infoSeries.publish)
    }


    /// Counts `threads` (ids from `currentThreadID()`) as the CPU of an in-process plugin.
    public func addThreads(_ threads: [Int32], to plugin: String) {
        state.withLock { $0.plugins[plugin]?.threads.formUnion(threads) }
    }

    /// Stops counting `threads` for `plugin`; their CPU so far stays counted.
    public func removeThreads(_ threads: [Int32], from plugin: String) {
        state.withLock { $0.plugins[plugin]?.threads.subtract(threads) }
    }

    /// The kernel's id of the calling thread, for `addThreads(_:to:)`.
    /// Nil only where /proc is not mounted.
    public static func currentThreadID() -> Int32? {
        // `/proc/thread-self` links to `<pid>/task/<tid>`; gettid(2) has no Swift import.
        guard let link = try? ProcFileSystem().readLink("thread-self") else { return nil }
        return link.split(separator: "/").last.flatMap { Int32($0) }
    }

    /// Starts sampling every `interval` on a task of its own. Calling it twice does nothing.
    public func start() {
        task.withLock { task in
            guard task == nil else { return }
            task = Task.detached { [self] in
                while !Task.isCancelled {
                    sampleNow()
                    try? await Task.sleep(for: interval)
                }
            }
        }
    }

    /// Stops sampling and waits for a sample under way to finish.
    public func stop() async {
        let running = task.withLock { task in
            defer { task = nil }
            return task
        }
        running?.cancel()
        await running?.value
    }

    /// The latest figures of every plugin.
    public var usage: [String: PluginUsage] {
        state.withLock { $0.plugins.mapValues(\.usage) }
    }

    /// Samples every plugin now, on the calling thread, and returns the figures.
    @discardableResult
    public func sampleNow() -> [String: PluginUsage] {
        let started = SystemClock.monotonicSeconds()
        let now = monotonic()
        var listError: ProcError?
        // The verdicts are taken for the sweep: a sweep that runs meanwhile starts without them.
        let (plugins, generation, registeredThreads, allPins, commandLines) = state.withLock { state in
            defer { state.commandLines = CommandLineVerdicts() }
            return (state.configs, state.generation, state.plugins.mapValues(\.threads), state.plugins.mapValues(\.pins), state.commandLines)
        }
        var table = ProcessTable(source: source, selfPID: getpid(), commandLines: commandLines)
        if plugins.contains(where: { $0.matchers.contains(where: \.scansAllProcesses) }) {
            do { try table.loadPIDs() } catch { listError = error }
        }
        // Every command line is read once and matched against every pattern in one pass.
        table.judgeCommandLines(plugins.flatMap { $0.matchers.compactMap(\.pattern) })
        let parentPID = getppid()
        var notices: [Notice] = []
        for plugin in plugins {
            var errors: [String] = listError.map { [$0.reason] } ?? []
            var pins = allPins[plugin.name] ?? [:]
            var pids = Set<Int32>()
            var foreign = Set<Int32>()
            for matcher in plugin.matchers {
                let owners = plugin.owners(of: matcher)
                do {
                    let found = try table.match(matcher, owners: owners, pins: &pins)
                    guard let owners else {
                        pids.formUnion(found)
                        continue
                    }
                    // Another user's lookalike is neither summed nor signalled, only counted.
                    for pid in found {
                        switch table.isOwned(pid, by: owners) {
                        case true?: pids.insert(pid)
                        case false?: foreign.insert(pid)
                        case nil: break  // exited since it was matched
                        }
                    }
                } catch {
                    errors.append(error.reason)
                }
            }
            foreign.subtract(pids)
            let threads = registeredThreads[plugin.name] ?? []
            var reading = read(pids: pids, threads: threads, smaps: plugin.smaps, table: &table, errors: &errors)
            reading.usage.foreignProcesses = foreign.count
            reading.usage.cgroup = cgroupUsage(plugin, errors: &errors)
            reading.signallable = reading.signallable.filter { $0.key != parentPID }
            state.withLock { state in
                // Removed by `update` or `remove` while this sweep read it: its figures go nowhere.
                guard var ps = state.plugins[plugin.name] else { return }
                // Changed by a reload while this sweep read it: what was read under the old
                // matchers, limits and policy is dropped; the next sweep reads it anew.
                if state.generation != generation, state.configs.first(where: { $0.name == plugin.name }) != plugin { return }
                ps.churn.sample(from: ps.tracked, to: reading.tracked)
                apply(reading, threadsOnly: pids.isEmpty && !threads.isEmpty, now: now, to: &ps)
                ps.pins = pins
                for reason in errors { ps.errors[reason, default: 0] += 1 }
                notices += checkLimits(plugin, &ps).map(Notice.event)
                notices += advanceEpisodes(plugin, &ps, now: now, reading: reading)
                state.plugins[plugin.name] = ps
            }
        }
        if table.pidsLoaded { table.commandLines.keepOnly(table.pids) }
        let verdicts = table.commandLines
        state.withLock { state in
            if state.commandLines.count == 0 { state.commandLines = verdicts }
        }
        sweeps.wrappingAdd(1, ordering: .releasing)
        health.sweepFinished(seconds: SystemClock.monotonicSeconds() - started)
        notices.forEach(deliver)
        return usage
    }

    /// Calls `handler` once, with the path, the first time /proc refuses the sampler a file of a
    /// watched process (another user's `fd/` or `exe`): what a least-privilege deployment wants
    /// to hear once, not at every sweep. The figures it can read are still exported; what it
    /// cannot is counted in `vigil_sample_errors_total{reason="permission_denied"}`.
    public func whenPermissionIsDenied(_ handler: @escaping @Sendable (_ path: String) -> Void) {
        permissionDenied.withLock { $0.handler = handler }
    }

    func noteFailure(_ error: ProcError, into errors: inout [String]) {
        errors.append(error.reason)
        guard case .permissionDenied(let path) = error else { return }
        let handler: (@Sendable (String) -> Void)? = permissionDenied.withLock { state in
            guard !state.told, let handler = state.handler else { return nil }
            state.told = true
            return handler
        }
        handler?(path)
    }

    /// Whether a sweep has finished since the sampler was made: every plugin watched then has
    /// been sampled once (what a readiness probe waits for).
    public var hasSampled: Bool { sweeps.load(ordering: .acquiring) > 0 }

    /// How many sweeps have finished.
    var sweepCount: Int { sweeps.load(ordering: .acquiring) }

    private func apply(_ reading: Reading, threadsOnly: Bool, now: Double, to ps: inout PluginState) {
        // Whatever was tracked and is gone (or was replaced by a new process with the same id)
        // leaves its CPU time with the plugin.
        for (id, old) in ps.tracked {
            let current = reading.tracked[id]
            if current == nil || current!.startTime != old.startTime { ps.exited.add(old.counters) }
        }
        var live = ProcessCounters()
        var tracked = reading.tracked
        for (id, var now) in reading.tracked {
            if let old = ps.tracked[id], old.startTime == now.startTime {
                // A file that could not be read this time keeps what it said last time.
                if reading.ioUnread.contains(id) {
                    (now.counters.readBytes, now.counters.writeBytes) = (old.counters.readBytes, old.counters.writeBytes)
                }
                if reading.statusUnread.contains(id) {
                    (now.counters.voluntarySwitches, now.counters.involuntarySwitches) =
                        (old.counters.voluntarySwitches, old.counters.involuntarySwitches)
                }
                // Counters never go down for one process; guard against a kernel that says otherwise.
                now.counters.formMaximum(old.counters)
                tracked[id] = now
            }
            live.add(now.counters)
        }
        ps.tracked = tracked
        var total = ps.exited
        total.add(live)
        let ticks = Double(constants.clockTicksPerSecond)
        var usage = reading.usage
        usage.userSeconds = Double(total.userTicks) / ticks
        usage.systemSeconds = Double(total.systemTicks) / ticks
        usage.majorPageFaults = total.majorFaults
        usage.readBytes = total.readBytes
        usage.writeBytes = total.writeBytes
        usage.voluntaryContextSwitches = total.voluntarySwitches
        usage.involuntaryContextSwitches = total.involuntarySwitches
        usage.threadsOnly = threadsOnly
        let cpu = usage.userSeconds + usage.systemSeconds
        if let lastCPU = ps.lastCPUSeconds, let lastTime = ps.lastSampleTime, now > lastTime {
            usage.cpuRatio = max(0, cpu - lastCPU) / (now - lastTime)
        }
        ps.lastCPUSeconds = cpu
        ps.lastSampleTime = now
        ps.usage = usage
    }

    /// The cgroup v2 figures of the plugin's first cgroup matcher; nil without one, or where
    /// cgroup v2 is not mounted.
    private func cgroupUsage(_ plugin: PluginResources, errors: inout [String]) -> CgroupUsage? {
        guard let cgroups else { return nil }
        for matcher in plugin.matchers {
            guard case .cgroup(let path) = matcher.rule else { continue }
            let (usage, problems) = cgroups.usage(of: path)
            errors += problems.map(\.reason)
            return usage
        }
        return nil
    }

    private func checkLimits(_ plugin: PluginResources, _ ps: inout PluginState) -> [LimitEvent] {
        var events: [LimitEvent] = []
        for resource in ResourceKind.allCases {
            guard let limit = plugin.limits[resource], let value = ps.usage[resource] else { continue }
            let over = value > limit
            let was = ps.exceeded[resource] ?? false
            ps.exceeded[resource] = over
            if over && !was {
                ps.violations[resource, default: 0] += 1
                events.append(LimitEvent(plugin: plugin.name, resource: resource, kind: .exceeded, value: value, limit: limit))
            } else if !over && was {
                events.append(LimitEvent(plugin: plugin.name, resource: resource, kind: .recovered, value: value, limit: limit))
            }
        }
        return events
    }
}

/// Why a sampler could not be made, or a new set of plugins was refused.
public enum ResourceSamplerError: Error, CustomStringConvertible, Equatable {
    case duplicatePlugin(String)
    case registration(RegistrationError)
    /// A plugin's `LimitPolicy` cannot work as written; `problem` says why and what would.
    case invalidPolicy(plugin: String, problem: String)

    public var description: String {
        switch self {
        case .duplicatePlugin(let name): "plugin \"\(name)\" is watched twice; give each plugin one entry with all its matchers"
        case .registration(let error): "the sampler's metrics could not be registered: \(error)"
        case .invalidPolicy(let plugin, let problem): "plugin \"\(plugin)\": its limit policy \(problem)"
        }
    }
}
