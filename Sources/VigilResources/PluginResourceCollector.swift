import VigilContract
import VigilMetrics

/// Publishes the sampler's latest figures as the `VigilMetric.plugin*` families and
/// `VigilMetric.sampleErrors`; `vigil_plugin_info` and `vigil_plugin_start_time_seconds` are
/// registered families instead (`PluginInfoSeries`).
struct PluginResourceCollector: Collector {
    let sampler: ResourceSampler

    static let families: [MetricDescriptor] = [
        VigilMetric.pluginResidentMemory.metric, VigilMetric.pluginVirtualMemory.metric, VigilMetric.pluginCPUSeconds.metric,
        VigilMetric.pluginOpenFDs.metric, VigilMetric.pluginMaxFDs.metric, VigilMetric.pluginThreads.metric,
        VigilMetric.pluginProcesses.metric, VigilMetric.pluginLimit.metric, VigilMetric.pluginLimitExceeded.metric,
        VigilMetric.pluginLimitViolations.metric, VigilMetric.sampleErrors.metric,
        VigilMetric.pluginProcessStarts.metric, VigilMetric.pluginProcessExits.metric, VigilMetric.pluginLimitActions.metric,
        VigilMetric.pluginProportionalMemory.metric, VigilMetric.pluginSwap.metric, VigilMetric.pluginIOBytes.metric,
        VigilMetric.pluginContextSwitches.metric, VigilMetric.pluginMajorPageFaults.metric, VigilMetric.pluginWorstFDRatio.metric,
        VigilMetric.pluginCgroupMemory.metric, VigilMetric.pluginCgroupMemoryLimit.metric, VigilMetric.pluginCgroupCPULimit.metric,
        VigilMetric.pluginCgroupThrottled.metric, VigilMetric.pluginCgroupOOMKills.metric,
        VigilMetric.pluginForeignProcesses.metric, VigilMetric.pluginLimitActionsRefused.metric,
    ]

    var descriptors: [MetricDescriptor] { Self.families }

    func collect() -> [CollectedFamily] {
        let (configs, plugins) = sampler.state.withLock { ($0.configs, $0.plugins) }
        var families: [String: [CollectedSample]] = [:]
        func add<S>(_ family: FamilyDescriptor<S>, _ labels: [String], _ value: CollectedValue) {
            families[family.metric.name, default: []].append(CollectedSample(labelValues: labels, value))
        }
        for config in configs {
            guard let ps = plugins[config.name], ps.lastSampleTime != nil else { continue }
            let name = config.name
            let u = ps.usage
            if !u.threadsOnly {
                add(VigilMetric.pluginResidentMemory, [name], .gauge(Double(u.residentBytes)))
                add(VigilMetric.pluginVirtualMemory, [name], .gauge(Double(u.virtualBytes)))
                add(VigilMetric.pluginOpenFDs, [name], .gauge(Double(u.openFDs)))
                if let maxFDs = u.maxFDs { add(VigilMetric.pluginMaxFDs, [name], .gauge(Double(maxFDs))) }
                add(VigilMetric.pluginProcesses, [name], .gauge(Double(u.processes)))
                add(VigilMetric.pluginForeignProcesses, [name], .gauge(Double(u.foreignProcesses)))
                if let ratio = u.worstFDRatio { add(VigilMetric.pluginWorstFDRatio, [name], .gauge(ratio)) }
                if let pss = u.proportionalBytes { add(VigilMetric.pluginProportionalMemory, [name], .gauge(Double(pss))) }
                if let swap = u.swapBytes { add(VigilMetric.pluginSwap, [name], .gauge(Double(swap))) }
                add(VigilMetric.pluginIOBytes, [name, "read"], .counter(Double(u.readBytes)))
                add(VigilMetric.pluginIOBytes, [name, "write"], .counter(Double(u.writeBytes)))
                add(VigilMetric.pluginContextSwitches, [name, "voluntary"], .counter(Double(u.voluntaryContextSwitches)))
                add(VigilMetric.pluginContextSwitches, [name, "involuntary"], .counter(Double(u.involuntaryContextSwitches)))
                add(VigilMetric.pluginMajorPageFaults, [name], .counter(Double(u.majorPageFaults)))
            }
            if let cgroup = u.cgroup {
                if let bytes = cgroup.memoryBytes { add(VigilMetric.pluginCgroupMemory, [name], .gauge(Double(bytes))) }
                if let limit = cgroup.memoryLimitBytes { add(VigilMetric.pluginCgroupMemoryLimit, [name], .gauge(Double(limit))) }
                if let cores = cgroup.cpuLimitCores { add(VigilMetric.pluginCgroupCPULimit, [name], .gauge(cores)) }
                if let seconds = cgroup.throttledSeconds { add(VigilMetric.pluginCgroupThrottled, [name], .counter(seconds)) }
                if let kills = cgroup.oomKills { add(VigilMetric.pluginCgroupOOMKills, [name], .counter(Double(kills))) }
            }
            add(VigilMetric.pluginCPUSeconds, [name, "user"], .counter(u.userSeconds))
            add(VigilMetric.pluginCPUSeconds, [name, "system"], .counter(u.systemSeconds))
            add(VigilMetric.pluginThreads, [name], .gauge(Double(u.threads)))
            for resource in ResourceKind.allCases {
                guard let limit = config.limits[resource] else { continue }
                add(VigilMetric.pluginLimit, [name, resource.rawValue], .gauge(limit))
                add(VigilMetric.pluginLimitExceeded, [name, resource.rawValue], .gauge(ps.exceeded[resource] == true ? 1 : 0))
                add(VigilMetric.pluginLimitViolations, [name, resource.rawValue], .counter(Double(ps.violations[resource] ?? 0)))
            }
            // Every reason is exported from the first sample on, so that rate() sees the first error.
            var reasons = ps.errors
            for known in VigilMetric.Values.sampleErrorReason where reasons[known] == nil { reasons[known] = 0 }
            for (reason, count) in reasons {
                add(VigilMetric.sampleErrors, [name, reason], .counter(Double(count)))
            }
            // Process churn, for plugins that have processes (not in-process ones); starts and
            // unknown exits from the first sample on, other reasons from their first exit.
            if !config.matchers.isEmpty {
                add(VigilMetric.pluginProcessStarts, [name], .counter(Double(ps.churn.starts)))
                var exits = ps.churn.exits
                if exits[ExitStatus.unknownReason] == nil { exits[ExitStatus.unknownReason] = 0 }
                for (reason, count) in exits {
                    add(VigilMetric.pluginProcessExits, [name, reason], .counter(Double(count)))
                }
            }
            // The action a policy would take is exported at 0 for each limit before it first acts.
            var actions = ps.actions
            if let label = config.onLimit?.countedAs {
                for resource in ResourceKind.allCases where config.limits[resource] != nil {
                    actions[ActionKey(resource: resource, label: label), default: 0] += 0
                }
            }
            for (key, count) in actions {
                add(VigilMetric.pluginLimitActions, [name, key.resource.rawValue, key.label], .counter(Double(count)))
            }
            // A policy that signals exports its refusals at 0 from the first sample on.
            var refusals = ps.refusals
            if case .signal = config.onLimit?.action, config.onLimit?.dryRun == false {
                for resource in ResourceKind.allCases where config.limits[resource] != nil {
                    for reason in LimitEvent.ActionRefusal.allCases { refusals[RefusalKey(resource: resource, reason: reason), default: 0] += 0 }
                }
            }
            for (key, count) in refusals {
                add(VigilMetric.pluginLimitActionsRefused, [name, key.resource.rawValue, key.reason.rawValue], .counter(Double(count)))
            }
        }
        return families.map { CollectedFamily(name: $0.key, samples: $0.value) }
    }
}
