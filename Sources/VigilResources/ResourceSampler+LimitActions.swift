import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One plugin's current stretch over one limit.
struct LimitEpisode {
    /// Monotonic seconds of the first sample that found the plugin over the limit.
    var since: Double
    /// Whether the policy's action ran (or was reported, on a dry run) in this episode.
    var acted = false
}

/// A series of `vigil_plugin_limit_actions_total`, less its plugin.
struct ActionKey: Hashable {
    var resource: ResourceKind
    var label: String
}

extension ResourceSampler {
    /// What a sample found that the callbacks must hear of, delivered in order once the
    /// sampler's lock is released.
    enum Notice {
        case event(LimitEvent)
        /// An action a policy decided on: run it, then report it.
        case action(DueAction)
        /// The plugin is back under every limit that held its breakers open.
        case closeBreakers(plugin: String)
    }

    /// An action decided under the lock and run outside it.
    struct DueAction {
        /// The report, `kind` `.action`, before any failure is known.
        var event: LimitEvent
        /// The processes to signal, with the start time the sample read: pid → start time.
        var targets: [Int32: UInt64]
        /// Whether this action opens the breakers (no other limit holds them open already).
        var opensBreakers: Bool
    }

    /// Starts and ends the plugin's episodes with this sample's findings (`ps.exceeded`), counts
    /// the actions that are due, and says which to run and whether the breakers close.
    func advanceEpisodes(_ plugin: PluginResources, _ ps: inout PluginState, now: Double, processes: [Int32: Tracked]) -> [Notice] {
        var notices: [Notice] = []
        let heldBefore = !ps.breakerHeldBy.isEmpty
        var open = heldBefore
        for resource in ResourceKind.allCases {
            guard let limit = plugin.limits[resource], let over = ps.exceeded[resource] else { continue }
            guard over else {
                ps.episodes[resource] = nil
                ps.breakerHeldBy.remove(resource)
                continue
            }
            var episode = ps.episodes[resource] ?? LimitEpisode(since: now)
            if let policy = plugin.onLimit, let label = policy.countedAs, !episode.acted,
               now - episode.since >= policy.sustainedFor.seconds {
                episode.acted = true
                ps.actions[ActionKey(resource: resource, label: label), default: 0] += 1
                var targets: [Int32: UInt64] = [:]
                if case .signal = policy.action {
                    let selfPID = getpid()
                    for (pid, tracked) in processes where pid > 0 && pid != selfPID { targets[pid] = tracked.startTime }
                }
                var opens = false
                if policy.action == .breaker, !policy.dryRun {
                    ps.breakerHeldBy.insert(resource)
                    opens = !open
                    open = true
                }
                let taken = LimitEvent.ActionTaken(
                    action: policy.action, dryRun: policy.dryRun, exceededFor: .seconds(now - episode.since),
                    pids: targets.keys.sorted(), failures: [])
                let event = LimitEvent(
                    plugin: plugin.name, resource: resource, kind: .action(taken), value: ps.usage[resource] ?? 0, limit: limit)
                notices.append(.action(DueAction(event: event, targets: targets, opensBreakers: opens)))
            }
            ps.episodes[resource] = episode
        }
        if heldBefore, ps.breakerHeldBy.isEmpty { notices.append(.closeBreakers(plugin: plugin.name)) }
        return notices
    }

    /// Drops the plugin's hold on its breakers where its new configuration no longer justifies
    /// it (the limit is gone, or the policy no longer opens breakers); returns whether the
    /// breakers must close.
    static func releaseBreakers(_ ps: inout PluginState, keeping plugin: PluginResources) -> Bool {
        guard !ps.breakerHeldBy.isEmpty else { return false }
        let opensBreakers = plugin.onLimit.map { $0.action == .breaker && !$0.dryRun } ?? false
        ps.breakerHeldBy = opensBreakers ? ps.breakerHeldBy.filter { plugin.limits[$0] != nil } : []
        return ps.breakerHeldBy.isEmpty
    }

    /// Hands a notice to the host's callbacks, running the action it carries first.
    func deliver(_ notice: Notice) {
        switch notice {
        case .event(let event): onLimitEvent?(event)
        case .action(let due):
            let event = run(due)
            onLimitEvent?(event)
        case .closeBreakers(let plugin): onBreaker?(plugin, false)
        }
    }

    /// Runs an action (nothing on a dry run) and returns its report, with the processes the
    /// signal could not reach; those are also counted as sample errors.
    private func run(_ due: DueAction) -> LimitEvent {
        guard case .action(var taken) = due.event.kind, !taken.dryRun else { return due.event }
        switch taken.action {
        case .signal(let signal):
            for pid in taken.pids {
                let code = due.targets[pid].map { isStill(pid, startedAt: $0) } == true ? sendSignal(pid, signal) : ESRCH
                if code != 0 { taken.failures.append(LimitEvent.SignalFailure(pid: pid, errno: code)) }
            }
            guard !taken.failures.isEmpty else { break }
            state.withLock { state in
                for failure in taken.failures {
                    state.plugins[due.event.plugin]?.errors[ProcFileSystem.error("", failure.errno).reason, default: 0] += 1
                }
            }
        case .breaker:
            if due.opensBreakers { onBreaker?(due.event.plugin, true) }
        case .watch:
            break
        }
        var event = due.event
        event.kind = .action(taken)
        return event
    }

    /// Whether `pid` is still the process the sample saw: the kernel may have handed the pid to
    /// another process since, and that one must not get the signal. (A window remains between
    /// this read and kill(2); pidfd_send_signal(2) would close it.)
    private func isStill(_ pid: Int32, startedAt startTime: UInt64) -> Bool {
        let path = "\(pid)/stat"
        guard let bytes = try? source.read(path), let stat = try? ProcStat.parse(bytes, path: path) else { return false }
        return stat.startTime == startTime
    }
}
