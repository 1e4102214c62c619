extension ResourceSampler {
    /// The plugins watched now, in the order given.
    public var plugins: [PluginResources] { state.withLock { $0.configs } }

    /// What `update(plugins:)` changed, by plugin name.
    public struct Update: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        /// Plugins whose matchers, limits or version changed; their counters carry on.
        public var changed: [String] = []
        public var unchanged: [String] = []
    }

    /// Watches `plugins` from now on, as a reload of the configuration does: plugins not
    /// watched before start from zero at the next sample, plugins no longer listed leave the
    /// exposition at the next scrape, and plugins that stay keep their counters (CPU time,
    /// violations, errors, process starts and exits) and their start time whether or not their
    /// matchers, limits or version changed. A limit that is gone no longer counts as exceeded.
    /// When a plugin's matchers change, the next sample takes a new baseline for process churn:
    /// processes that only now match, or no longer do, are neither starts nor exits.
    @discardableResult
    public func update(plugins: [PluginResources]) throws(ResourceSamplerError) -> Update {
        try Self.check(plugins)
        return state.withLock { state in
            var update = Update()
            var kept: [String: PluginState] = [:]
            let before = Dictionary(state.configs.map { ($0.name, $0) }) { a, _ in a }
            for plugin in plugins {
                guard var ps = state.plugins[plugin.name], let old = before[plugin.name] else {
                    update.added.append(plugin.name)
                    kept[plugin.name] = PluginState()
                    infoSeries.publish(plugin)
                    continue
                }
                if old == plugin { update.unchanged.append(plugin.name) } else { update.changed.append(plugin.name) }
                if old.matchers != plugin.matchers { ps.churn.hasBaseline = false }
                for resource in ResourceKind.allCases where plugin.limits[resource] == nil { ps.exceeded[resource] = nil }
                infoSeries.update(from: old, to: plugin)
                kept[plugin.name] = ps
            }
            update.removed = state.configs.map(\.name).filter { kept[$0] == nil }
            update.removed.forEach(infoSeries.withdraw)
            state.configs = plugins
            state.plugins = kept
            return update
        }
    }

    /// Stops watching `plugin`: its series leave the exposition at the next scrape. Returns
    /// whether it was watched.
    @discardableResult
    public func remove(plugin: String) -> Bool {
        state.withLock { state in
            guard state.plugins.removeValue(forKey: plugin) != nil else { return false }
            state.configs.removeAll { $0.name == plugin }
            infoSeries.withdraw(plugin)
            return true
        }
    }

    /// Refuses a set of plugins the sampler cannot watch: a name twice.
    static func check(_ plugins: [PluginResources]) throws(ResourceSamplerError) {
        var seen = Set<String>()
        for plugin in plugins where !seen.insert(plugin.name).inserted {
            throw .duplicatePlugin(plugin.name)
        }
    }
}
