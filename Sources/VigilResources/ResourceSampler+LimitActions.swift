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
    /// Whether the policy's action ran (or was reported, or refused) in this episode.
    var acted = false
    /// When it ran, and the processes its signal went to (pid → start time), for the escalation.
    var actedAt: Double?
    var signalled: [Int32: UInt64] = [:]
    /// Whether the escalation ran (or had nobody left to signal).
    var escalated = false
}

/// A series of `vigil_plugin_limit_actions_refused_total`, less its plugin.
struct RefusalKey: Hashable {
    var resource: ResourceKind
    var reason: LimitEvent.ActionRefusal
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
        /// The plugin as configured when the action was decided: a reload that changes it
        /// before the action runs cancels the action.
        var plugin: PluginResources
    }

    /// Starts and ends the plugin's episodes with this sample's findings (`ps.exceeded`), counts
    /// the actions that are due, and says which to run and whether the breakers close.
    func advanceEpisodes(_ plugin: PluginResources, _ ps: inout PluginState, now: Double, reading: Reading) -> [Notice] {
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
            defer { ps.episodes[resource] = episode }
            guard let policy = plugin.onLimit, let label = policy.countedAs else { continue }
            let value = ps.usage[resource] ?? 0
            if episode.acted {
                // The processes that ignored the first signal get the escalation's.
                guard let escalation = policy.escalation, !policy.dryRun, !episode.escalated, let actedAt = episode.actedAt,
                      now - actedAt >= escalation.after.seconds else { continue }
                episode.escalated = true
                let targets = episode.signalled.filter { reading.signallable[$0.key] == $0.value }
                guard !targets.isEmpty else { continue }
                ps.actions[ActionKey(resource: resource, label: "escalate"), default: 0] += 1
                let taken = LimitEvent.ActionTaken(
                    action: .signal(escalation.signal), dryRun: false, exceededFor: .seconds(now - episode.since),
                    pids: targets.keys.sorted(), failures: [], escalation: true)
                let event = LimitEvent(plugin: plugin.name, resource: resource, kind: .action(taken), value: value, limit: limit)
                notices.append(.action(DueAction(event: event, targets: targets, opensBreakers: false, plugin: plugin)))
                continue
            }
            guard now - episode.since >= policy.sustainedFor.seconds else { continue }
            episode.acted = true
            episode.actedAt = now
            var targets: [Int32: UInt64] = [:]
            if case .signal = policy.action {
                targets = reading.signallable
                let refusal: LimitEvent.ActionRefusal? =
                    !pidsAreSignallable && !policy.dryRun ? .foreignPIDNamespace
                    : targets.count > policy.maxTargets ? .tooManyTargets : nil
                if let refusal {
                    ps.refusals[RefusalKey(resource: resource, reason: refusal), default: 0] += 1
                    notices.append(.event(LimitEvent(plugin: plugin.name, resource: resource, kind: .refused(refusal), value: value, limit: limit)))
                    continue
                }
                episode.signalled = targets
            }
            ps.actions[ActionKey(resource: resource, label: label), default: 0] += 1
            var opens = false
            if policy.action == .breaker, !policy.dryRun {
                ps.breakerHeldBy.insert(resource)
                opens = !open
                open = true
            }
            let taken = LimitEvent.ActionTaken(
                action: policy.action, dryRun: policy.dryRun, exceededFor: .seconds(now - episode.since),
                pids: targets.keys.sorted(), failures: [])
            let event = LimitEvent(plugin: plugin.name, resource: resource, kind: .action(taken), value: value, limit: limit)
            notices.append(.action(DueAction(event: event, targets: targets, opensBreakers: opens, plugin: plugin)))
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
    /// signal could not reach; those are also counted as sample errors. A signal goes out only
    /// while the plugin is still configured as it was when the action was decided: a reload that
    /// removed or changed its policy, owners or matchers meanwhile cancels it.
    private func run(_ due: DueAction) -> LimitEvent {
        guard case .action(var taken) = due.event.kind, !taken.dryRun else { return due.event }
        switch taken.action {
        case .signal(let signal):
            let current = state.withLock { state in state.configs.first { $0.name == due.plugin.name } }
            guard current == due.plugin else {
                taken.failures = taken.pids.map { LimitEvent.SignalFailure(pid: $0, errno: ECANCELED) }
                break
            }
            for pid in taken.pids {
                let code = due.targets[pid].map { sendSignal(pid, $0, signal) } ?? ESRCH
                if code != 0 { taken.failures.append(LimitEvent.SignalFailure(pid: pid, errno: code)) }
            }
            guard !taken.failures.isEmpty else { break }
            state.withLock { state in
                for failure in taken.failures where failure.errno != ECANCELED {
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

    /// Sends `signal` to the process `pid` only if it is still the one the sample saw: a pidfd is
    /// taken first, then the process behind it is identified again (its start time, read after
    /// the pidfd was open, so that it describes the process the pidfd holds), and the signal goes
    /// through the pidfd; a pid reused at any moment gets nothing. On kernels without pidfds
    /// (before 5.3), kill(2) after the same check, with the window between the two that they leave.
    static func signal(_ pid: Int32, startedAt startTime: UInt64, _ signal: Int32, source: any ProcSource) -> Int32 {
        guard pid > 1, pid != getpid(), pid != getppid() else { return EPERM }
        func isStill() -> Bool {
            let path = "\(pid)/stat"
            guard let bytes = try? source.read(path), let stat = try? ProcStat.parse(bytes, path: path) else { return false }
            return stat.startTime == startTime && !stat.isKernelThread
        }
        switch ProcessSignals.openPIDFD(pid) {
        case .success(let pidfd):
            defer { close(pidfd) }
            guard isStill() else { return ESRCH }
            return ProcessSignals.send(signal, through: pidfd)
        case .failure(let error) where error.code == ENOSYS:
            guard isStill() else { return ESRCH }
            return kill(pid, signal) == 0 ? 0 : errno
        case .failure(let error):
            return error.code
        }
    }

    /// Whether the /proc a source reads is the one of the sampler's pid namespace: its `self`
    /// names the sampler's pid. Signals are refused where it is not.
    static func procIsOurPIDNamespace(_ source: any ProcSource) -> Bool {
        (try? source.readLink("self")) == String(getpid())
    }
}
