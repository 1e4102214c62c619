import VigilMetrics
import VigilSupport

/// One row of the metric contract: a family, the values its labels take where they are fixed,
/// and what else a user should know.
public struct ContractEntry: Sendable {
    public let metric: MetricDescriptor
    /// Fixed value sets, by label name.
    public let labelValues: [String: [String]]
    /// A remark for the reference, such as where exemplars are.
    public let note: String?

    init<S>(_ family: FamilyDescriptor<S>, values: [String: [String]] = [:], note: String? = nil) {
        self.metric = family.metric
        self.labelValues = values
        self.note = note
    }
}

extension VigilMetric {
    /// The contract, in the order of the reference: what dashboards and alerts may rely on.
    public static let contract: [ContractEntry] = {
        let V = Values.self
        let resource = ["resource": V.resource]
        return [
            ContractEntry(phaseExecutions),
            ContractEntry(phaseErrors, note: "`error_type` is a `ClassifiedError`'s `errorType`, else the Swift type name"),
            ContractEntry(phaseDuration, note: "bucket exemplars name the span: `trace_id`, `span_id` (OpenMetrics)"),
            ContractEntry(phaseInFlight),
            ContractEntry(breakerState, values: ["state": V.breakerState], note: "all three series always present"),
            ContractEntry(breakerTrips),
            ContractEntry(breakerRejectedCalls),
            ContractEntry(pluginResidentMemory),
            ContractEntry(pluginVirtualMemory),
            ContractEntry(pluginCPUSeconds, values: ["mode": V.cpuMode]),
            ContractEntry(pluginOpenFDs),
            ContractEntry(pluginMaxFDs),
            ContractEntry(pluginThreads),
            ContractEntry(pluginProcesses),
            ContractEntry(pluginLimit, values: resource, note: "in base units: bytes, cores, fds, threads"),
            ContractEntry(pluginLimitExceeded, values: resource),
            ContractEntry(pluginLimitViolations, values: resource),
            ContractEntry(sampleErrors, values: ["reason": V.sampleErrorReason]),
            ContractEntry(pluginInfo),
            ContractEntry(pluginStartTime),
            ContractEntry(pluginProcessStarts),
            ContractEntry(pluginProcessExits, values: ["reason": V.exitReason]),
            ContractEntry(pluginLimitActions, values: ["resource": V.resource, "action": V.limitAction]),
            ContractEntry(pluginLimitActionsRefused, values: ["resource": V.resource, "reason": V.limitActionRefusal],
                          note: "plugins whose policy signals"),
            ContractEntry(pluginForeignProcesses, note: "matched processes outside the plugin's `user:`"),
            ContractEntry(pluginProportionalMemory, note: "only for plugins with `smaps: true`"),
            ContractEntry(pluginSwap, note: "only for plugins with `smaps: true`"),
            ContractEntry(pluginIOBytes, values: ["direction": V.ioDirection]),
            ContractEntry(pluginContextSwitches, values: ["type": V.contextSwitchType]),
            ContractEntry(pluginMajorPageFaults),
            ContractEntry(pluginWorstFDRatio),
            ContractEntry(pluginCgroupMemory, note: "plugins matched by `cgroup`, on cgroup v2"),
            ContractEntry(pluginCgroupMemoryLimit, note: "plugins matched by `cgroup`, on cgroup v2"),
            ContractEntry(pluginCgroupCPULimit, note: "plugins matched by `cgroup`, on cgroup v2"),
            ContractEntry(pluginCgroupThrottled, note: "plugins matched by `cgroup`, on cgroup v2"),
            ContractEntry(pluginCgroupOOMKills, note: "plugins matched by `cgroup`, on cgroup v2"),
            ContractEntry(samplerSweepDuration),
            ContractEntry(samplerLastSweep, note: "`VigilSamplingStalled` fires when it falls behind"),
            ContractEntry(samplerInterval),
            ContractEntry(configLastReloadSuccessful),
            ContractEntry(configLastReloadSuccessTimestamp),
            ContractEntry(spansExported),
            ContractEntry(spansDropped, values: ["reason": V.spanDropReason]),
            ContractEntry(spanQueueLength),
            ContractEntry(spanEndErrors),
            ContractEntry(pushes, values: ["target": V.pushTarget, "result": V.pushResult]),
            ContractEntry(pushThrottled, values: ["target": V.pushTarget], note: "`otlp` is traces; the wait honours `Retry-After`, capped at 60 s"),
            ContractEntry(httpRequests),
            ContractEntry(scrapeDuration),
            ContractEntry(httpRejectedConnections, values: ["limit": V.connectionLimit]),
            ContractEntry(httpTimedOutConnections, values: ["stage": V.connectionStage]),
            ContractEntry(httpAuthFailures, values: ["reason": V.authFailureReason]),
            ContractEntry(webConfigLastReloadSuccessful, note: "present only with a web config file"),
            ContractEntry(webConfigCostlyHashes, note: "present only with a web config file"),
            ContractEntry(Registry.metricErrors, values: ["reason": MetricErrors.Reason.allCases.map(\.label)],
                          note: "samples dropped instead of crashing the host"),
            ContractEntry(Registry.seriesOverflow, note: "label sets sent to a family's `__overflow__` series"),
            ContractEntry(SeriesBudget.exportedSeries, note: "the sidecar's; `exclude_families`, `include_families` and `max_series_per_family` shape it"),
            ContractEntry(SeriesBudget.droppedSeries, note: "only families that passed `max_series_per_family`"),
            ContractEntry(SeriesBudget.seriesBudget, note: "only with `series_budget` set"),
            ContractEntry(buildInfo),
            ContractEntry(Process.cpuSeconds),
            ContractEntry(Process.residentMemory),
            ContractEntry(Process.virtualMemory),
            ContractEntry(Process.openFDs),
            ContractEntry(Process.maxFDs),
            ContractEntry(Process.startTime),
            ContractEntry(Process.threads),
        ]
    }()

    /// The contract as a Markdown table: the README's metric reference is exactly this.
    public static func markdown() -> String {
        var lines = ["| name | type | labels | help |", "|---|---|---|---|"]
        for entry in contract {
            let m = entry.metric
            let labels = m.labelNames.map { name in
                entry.labelValues[name].map { "\(name) (\($0.joined(separator: ", ")))" } ?? name
            }
            var help = m.help
            if let note = entry.note { help += " " + note.prefix(1).uppercased() + note.dropFirst() + "." }
            let cells = ["`\(m.queryName)`", m.type.rawValue, labels.isEmpty ? "—" : labels.joined(separator: ", "), help]
            lines.append("| " + cells.map { $0.replacingPipes() }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The contract as a JSON array, one object per family: `name` (as queried), `type`,
    /// `unit`, `labels`, `label_values`, `help`, and `samples` (every sample name the text
    /// format writes), for scripts that check dashboards and alert rules.
    public static func json() -> String {
        var out: [UInt8] = []
        func string(_ s: String) { JSONText.appendString(s, to: &out) }
        func raw(_ s: String) { out.append(contentsOf: s.utf8) }
        func list(_ items: [String]) {
            raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { raw(", ") }
                string(item)
            }
            raw("]")
        }
        raw("[\n")
        for (i, entry) in contract.enumerated() {
            let m = entry.metric
            raw(i == 0 ? "  {" : ",\n  {")
            raw("\"name\": "); string(m.queryName)
            raw(", \"type\": "); string(m.type.rawValue)
            raw(", \"unit\": "); if let unit = m.unit { string(unit) } else { raw("null") }
            raw(", \"labels\": "); list(m.labelNames)
            raw(", \"label_values\": {")
            for (j, name) in m.labelNames.filter({ entry.labelValues[$0] != nil }).enumerated() {
                if j > 0 { raw(", ") }
                string(name)
                raw(": ")
                list(entry.labelValues[name]!)
            }
            raw("}, \"help\": "); string(m.help)
            raw(", \"samples\": "); list(m.exposedSampleNames)
            raw("}")
        }
        raw("\n]\n")
        return String(decoding: out, as: UTF8.self)
    }
}

/// Vigil's version, as `vigil_build_info`, the OTLP instrumentation scope and the push clients'
/// `User-Agent` report it.
public enum VigilVersion {
    public static let current = "0.1.0"
}

extension String {
    /// A Markdown table cell: a `|` would end it.
    fileprivate func replacingPipes() -> String {
        split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
    }
}
