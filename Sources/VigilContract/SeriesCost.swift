import VigilMetrics

/// What Vigil's families cost in series, per thing a user adds: a watched plugin, an observed
/// phase, a circuit breaker. Read from the contract (labels, their fixed values, histogram
/// buckets), so it changes with it. `vigil metrics --format series` prints it.
public struct SeriesCost: Sendable {
    /// What the cost is per: `plugin`, `phase` or `breaker`.
    public let unit: String
    public let family: String
    /// Series per unit, a histogram's buckets, `_sum` and `_count` included.
    public let series: Int
    /// What multiplies it further (`each limit`, `each error type`), if anything.
    public let per: String?
    /// When the family is there at all, if not always.
    public let condition: String?
}

extension VigilMetric {
    /// One row per family whose series grow with plugins, phases or breakers.
    public static let seriesCosts: [SeriesCost] = contract.compactMap { entry in
        let m = entry.metric
        guard m.labelNames.contains("plugin") else { return nil }
        let unit = m.labelNames.contains("breaker") ? "breaker" : m.labelNames.contains("phase") ? "phase" : "plugin"
        var series = m.type == .histogram ? m.buckets.count + 3 : 1
        var per: [String] = []
        for label in m.labelNames where !["plugin", "phase", "breaker", "version"].contains(label) {
            switch label {
            case "resource": per.append("each limit set")
            case "error_type": per.append("each error type seen")
            case "action": break  // one action per limit of a plugin with on_limit
            case "reason" where m.name == pluginProcessExits.metric.name: break  // `unknown` at first, then each reason seen
            default: series *= entry.labelValues[label]?.count ?? 1
            }
        }
        var condition = entry.note.flatMap { note in note.contains("smaps") || note.contains("cgroup") ? note : nil }
        if m.name == pluginLimitActions.metric.name { condition = "plugins with `on_limit`" }
        return SeriesCost(unit: unit, family: m.queryName, series: series, per: per.isEmpty ? nil : per.joined(separator: ", "), condition: condition)
    }

    /// The series one unit always costs: the families with no condition and no multiplier.
    public static func baseSeries(per unit: String) -> Int {
        seriesCosts.filter { $0.unit == unit && $0.per == nil && $0.condition == nil }.reduce(0) { $0 + $1.series }
    }

    /// The costs as Markdown: a summary line per unit, then every family.
    public static func seriesMarkdown() -> String {
        var lines = [
            "Series per plugin, phase and breaker (`vigil metrics --format series`). A watched plugin "
                + "always costs \(baseSeries(per: "plugin")) series, plus those below it meets; an observed phase "
                + "\(baseSeries(per: "phase")) plus one per error type; a breaker \(baseSeries(per: "breaker")). "
                + "`exclude_families` takes a family's series off every one of them.",
            "",
            "| per | family | series | times | only for |", "|---|---|---|---|---|",
        ]
        for cost in seriesCosts.sorted(by: { ($0.unit, $0.condition ?? "", $0.family) < ($1.unit, $1.condition ?? "", $1.family) }) {
            lines.append("| \(cost.unit) | `\(cost.family)` | \(cost.series) | \(cost.per ?? "—") | \(cost.condition ?? "—") |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
