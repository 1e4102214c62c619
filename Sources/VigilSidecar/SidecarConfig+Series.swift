import Logging
import Vigil

extension SidecarConfig {
    /// `exclude_families`, `include_families`, `max_series_per_family` and `series_budget`: what a
    /// scrape of this node may carry, as node_exporter's collector flags choose its collectors.
    public struct SeriesLimits: Sendable, Equatable {
        /// Families left out of every scrape, by the names `vigil metrics` prints.
        public var excludeFamilies: [String] = []
        /// When set, the only families written.
        public var includeFamilies: [String]?
        /// The most series one family may carry; the rest are dropped and counted.
        public var maxSeriesPerFamily: Int?
        /// Exported as `vigil_series_budget`, for the `VigilSeriesBudgetExceeded` alert.
        public var seriesBudget: Int?

        public init() {}

        /// The registry's budget; the first drop from each family is logged once.
        public func makeBudget(logger: Logger) -> SeriesBudget {
            SeriesBudget(excluded: Set(excludeFamilies), included: includeFamilies.map(Set.init),
                         maxSeriesPerFamily: maxSeriesPerFamily, budget: seriesBudget) { family, series in
                logger.warning(
                    "\(family) passed max_series_per_family: \(series) series left out of this scrape, and from now on counted in \(SeriesBudget.droppedSeries.metric.queryName){family=\"\(family)\"} (logged once per family)")
            }
        }
    }

    static let seriesKeys = ["exclude_families", "include_families", "max_series_per_family", "series_budget"]

    /// Every family name a list may give: the contract's, as queried and by base name.
    static let knownFamilies: [String: String] = {
        var names: [String: String] = [:]
        for entry in VigilMetric.contract {
            names[entry.metric.queryName] = entry.metric.queryName
            names[entry.metric.name] = entry.metric.queryName
        }
        return names
    }()

    /// Reads the series keys of the top-level mapping.
    mutating func parseSeriesLimits(_ top: [String: Node], _ r: ConfigReader) throws(ConfigError) {
        seriesLimits.excludeFamilies = try Self.families(top["exclude_families"], "exclude_families", r) ?? []
        seriesLimits.includeFamilies = try Self.families(top["include_families"], "include_families", r)
        if let included = seriesLimits.includeFamilies, included.isEmpty {
            throw r.fail(top["include_families"], "include_families", "an empty list would leave every family out; remove the key to write them all")
        }
        if let cap = try r.int(top["max_series_per_family"], "max_series_per_family", example: "2000") {
            guard cap >= 1 else { throw r.fail(top["max_series_per_family"], "max_series_per_family", "must be at least 1 (try 2000)") }
            seriesLimits.maxSeriesPerFamily = cap
        }
        if let budget = try r.int(top["series_budget"], "series_budget", example: "5000") {
            guard budget >= 1 else { throw r.fail(top["series_budget"], "series_budget", "must be at least 1 (try 5000)") }
            seriesLimits.seriesBudget = budget
        }
    }

    /// A list of family names, each one the contract declares; an unknown one is refused with
    /// the nearest known name.
    static func families(_ node: Node?, _ path: String, _ r: ConfigReader) throws(ConfigError) -> [String]? {
        guard let node else { return nil }
        let items = try r.sequence(node, path)
        var names: [String] = []
        for (i, item) in items.enumerated() {
            let itemPath = "\(path)[\(i)]"
            guard let name = try r.string(item, itemPath) else { continue }
            guard knownFamilies[name] != nil else {
                let nearest = knownFamilies.values.min { (r.distance($0, name), $0) < (r.distance($1, name), $1) }
                let hint = nearest.map { "did you mean \"\($0)\"? " } ?? ""
                throw r.fail(item, itemPath, "\"\(name)\" is not a family Vigil exports (\(hint)`vigil metrics` lists them all)")
            }
            names.append(name)
        }
        return names
    }
}
